"""Development and test kit for MyRetail (never installed in a service image).

* ``processes`` — one process supervisor: start a command, log to a file, wait until it
  is ready, stop its whole process group (used by fixtures, ``scripts/demo.py``, benches).
* ``lifecycle`` — the start/stop/``with`` shape every server and process here shares.
* ``servers`` — an ASGI app on a real loopback port in a background thread.
* ``seaweedfs``, ``redis_server``, ``qdrant_gateway`` — real S3, Redis and Qdrant's REST
  API on free loopback ports.
* ``models`` — the tiny base model and a really fine-tuned, published adapter.
* ``inference``, ``rag``, ``ui_backends``, ``browser`` — per-service helpers.
* ``rendered_pods`` — run a rendered chart's containers as local processes (day-0 test).
* ``qdrant_server`` — the Qdrant stand-in with health routes and the API key, as the server.
* ``plugin`` — the pytest fixtures every suite shares (registered by the root conftest).
"""
