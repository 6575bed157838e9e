"""Helpers for tests that run real components over loopback (no mocks).

``seaweedfs`` starts a real S3-compatible server; ``servers`` runs an ASGI app on a
real port in a background thread. Only test code imports this package.
"""
