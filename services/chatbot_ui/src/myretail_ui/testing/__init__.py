"""Test helpers for the chatbot UI; only tests import this package.

``backends`` runs real HTTP servers on loopback that speak the RAG API's and the
inference service's contracts (docs/contracts.md) from fixed data, so UI tests take
seconds; ``browser`` drives the chat window in Debian's Chromium with Python playwright.
"""
