"""Stand-in backends: real HTTP servers that speak the backends' contracts from fixed data.

``rag_app`` answers like the RAG API (``POST /generate {"prompt", "session_id"}`` ->
``{"response", "session_id", "sources"}``; with ``"stream": true`` server-sent events:
the answer line by line as ``delta`` events, then ``done``), ``inference_app`` like the
inference service (``/generate`` and OpenAI-compatible ``/v1/chat/completions``
streaming). A shared :class:`BackendState` records requests and makes them slow or
failing on demand; its :class:`StreamGate` holds a stream after its first piece until the
test lets each next piece go, and it notes a client that hung up mid-stream. Run them with
``myretail_testkit.servers.LiveServer``.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, StreamingResponse

from myretail_common.errors import ServiceUnavailableError
from myretail_common.http import create_service_app
from myretail_rag.api.schemas import DELTA_EVENT, DONE_EVENT

T = TypeVar("T")

PRODUCTS: list[dict[str, Any]] = [
    {"product_id": "MR-1", "name": "RidgeWalk X Walking Shoe", "price": 89.99, "rating": 4.6},
    {"product_id": "MR-2", "name": "EverLite Walking Shoe", "price": 75.99, "rating": 4.1},
    {"product_id": "MR-3", "name": "Comfort Stride Walker", "price": 120.0, "rating": 4.8},
]

LOYALTY_ANSWER = "MyElite has four tiers: Member, Silver, Gold and Platinum."


def product_table(products: list[dict[str, Any]]) -> str:
    rows = [f"| {p['name']} | ${p['price']:.2f} | {p['rating']} |" for p in products]
    return "\n".join(["| Product | Price | Rating |", "| --- | --- | --- |", *rows])


class StreamGate:
    """Holds a stand-in's stream after its first piece: each next piece waits for
    :meth:`release` (called from the test's thread)."""

    def __init__(self) -> None:
        self._released = threading.Semaphore(0)

    def release(self, pieces: int = 1) -> None:
        for _ in range(pieces):
            self._released.release()

    async def wait(self) -> None:
        while not self._released.acquire(blocking=False):
            await asyncio.sleep(0.01)


@dataclass
class BackendState:
    """What the stand-in backends received, and how they should misbehave."""

    requests: list[dict[str, Any]] = field(default_factory=list)
    unavailable: bool = False
    delay_seconds: float = 0.0
    status_code: int | None = None
    answer: str | None = None  # the RAG answer's text instead of the product table
    warnings: list[str] = field(default_factory=list)  # the RAG answer's warnings
    gate: StreamGate | None = None  # hold streams after their first piece
    hung_up: threading.Event = field(default_factory=threading.Event)  # a client left mid-stream

    async def pieces(self, items: Iterable[T]) -> AsyncIterator[T]:
        """``items`` paced for streaming (the gate, if any, holds each after the first);
        a client that goes away before the last is noted in :attr:`hung_up`."""
        finished = False
        try:
            for number, item in enumerate(items):
                if number:
                    await (self.gate.wait() if self.gate else asyncio.sleep(0.01))
                yield item
            finished = True
        finally:
            if not finished:
                self.hung_up.set()


def rag_app(state: BackendState) -> FastAPI:
    """The RAG API's contract: ``POST /generate {"prompt", "session_id"}``."""
    app = create_service_app("stand-in RAG API", "test")

    @app.post("/generate")
    async def generate(request: Request) -> Any:
        body = await request.json()
        state.requests.append(body)
        if state.delay_seconds:
            await asyncio.sleep(state.delay_seconds)
        if state.unavailable:
            raise ServiceUnavailableError("vector store", "connection refused")
        if state.status_code:
            return JSONResponse(
                status_code=state.status_code,
                content={"error": {"type": "bad_request", "message": "prompt is too long"}},
            )
        products = PRODUCTS
        if "descending" in body["prompt"]:
            products = sorted(PRODUCTS, key=lambda p: p["price"], reverse=True)
        answer = {
            "response": state.answer
            or "Here are some walking shoes:\n\n" + product_table(products),
            "session_id": body.get("session_id") or "server-made",
            "sources": [{**p, "score": 0.9} for p in products],
            "warnings": state.warnings,
        }
        if body.get("stream") is True:
            return StreamingResponse(rag_events(state, answer), media_type="text/event-stream")
        return answer

    return app


async def rag_events(state: BackendState, answer: dict[str, Any]) -> AsyncIterator[str]:
    """The RAG API's stream of ``answer``: its lines as ``delta`` events, then ``done``."""
    lines = [*str(answer["response"]).splitlines(keepends=True), None]
    async for line in state.pieces(lines):
        if line is None:
            yield server_sent_event(DONE_EVENT, answer)
        else:
            yield server_sent_event(DELTA_EVENT, {"text": line})


def server_sent_event(event: str, body: dict[str, Any]) -> str:
    return f"event: {event}\ndata: {json.dumps(body)}\n\n"


def inference_app(state: BackendState, openai: bool = True) -> FastAPI:
    """The inference service's contract: ``/generate`` and OpenAI-compatible streaming."""
    app = create_service_app("stand-in inference", "test")

    @app.post("/generate")
    async def generate(request: Request) -> dict[str, Any]:
        body = await request.json()
        state.requests.append({"route": "generate", **body})
        if state.unavailable:
            raise ServiceUnavailableError("model", "not loaded")
        return {"response": LOYALTY_ANSWER, "usage": {"completion_tokens": 12}}

    if openai:

        @app.get("/v1/models")
        async def models() -> dict[str, Any]:
            return {"object": "list", "data": [{"id": "myelite-loyalty", "object": "model"}]}

        @app.post("/v1/chat/completions")
        async def chat(request: Request) -> StreamingResponse:
            body = await request.json()
            state.requests.append({"route": "chat", **body})
            if state.unavailable:
                raise ServiceUnavailableError("model", "not loaded")

            async def events() -> AsyncIterator[str]:
                async for word in state.pieces([*LOYALTY_ANSWER.split(" "), None]):
                    if word is None:
                        yield "data: [DONE]\n\n"
                    else:
                        chunk = {"choices": [{"index": 0, "delta": {"content": word + " "}}]}
                        yield f"data: {json.dumps(chunk)}\n\n"

            return StreamingResponse(events(), media_type="text/event-stream")

    return app
