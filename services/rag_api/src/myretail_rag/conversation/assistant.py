"""One shopping turn: history in, answer (LLM chain or retrieval-only) out, history saved.

Errors leave here as the failing dependency's own exception (vector store, embedding
model, or :class:`ChatModelError` naming the chat model), which the HTTP layer turns into
a 503 with a clear message. When the chat model fails and ``CHAT_FALLBACK=retrieval_only``,
the answer is the retrieval-only table with a note instead (the note names no endpoint).

The chat history degrades instead of failing: when it cannot be read, the turn is answered
without it; when the answer cannot be saved, it is returned anyway. Either way the answer's
``warnings`` say so. Every answer is made inert before it leaves (no images, no raw HTML:
:mod:`myretail_common.safe_markdown`).

Streaming: given ``on_text``, :meth:`ShoppingAssistant.answer` hands it the answer as it
grows, already inert: the chat model's tokens (LLM mode; :class:`InertStream`) or the
table's lines (retrieval-only). The turn is saved once, whole, after the last piece: a
turn cancelled midway (a client that disconnected, a deadline) leaves no trace in the
history. A chat model that fails after its first token was passed on is an error, never a
fallback (the table would follow half an answer).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage

from myretail_common.safe_markdown import inert_markdown
from myretail_rag.catalog.vector_store import Hit
from myretail_rag.conversation.chain import ChatModelError, create_conversational_chain
from myretail_rag.conversation.chat_models import ChatModelInfo
from myretail_rag.conversation.history import HistoryStore, HistoryUnavailableError
from myretail_rag.conversation.inert_stream import InertStream
from myretail_rag.conversation.retriever import CatalogRetriever
from myretail_rag.settings import RagSettings
from myretail_rag.understanding import retrieval_only
from myretail_rag.understanding.search import CatalogSearch

logger = logging.getLogger(__name__)

STATE_KEY = "myretail_retrieval"
Mode = Literal["llm", "retrieval_only", "retrieval_only_fallback"]
#: Receives each new piece of a streamed answer (inert Markdown).
TextSink = Callable[[str], Awaitable[None]]

HISTORY_UNREADABLE = (
    "The chat history is unavailable right now: this answer does not use your earlier "
    "messages, and it is not saved for follow-up questions."
)
HISTORY_UNSAVED = (
    "The chat history is unavailable right now: follow-up questions will not see this answer."
)
FALLBACK_NOTE = "_The chat model is unavailable right now; here are the closest catalog matches._"


@dataclass
class Answer:
    response: str
    sources: list[Hit]
    mode: Mode
    standalone_question: str | None = None
    timings: dict[str, float] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


class ShoppingAssistant:
    """Answers shopping questions over the catalog with per-session history."""

    def __init__(
        self,
        settings: RagSettings,
        search: CatalogSearch,
        history: HistoryStore,
        chat_model: BaseChatModel | None,
        chat_info: ChatModelInfo | None,
    ) -> None:
        self.settings = settings
        self.search = search
        self.history = history
        self.chat_model = chat_model
        self.chat_info = chat_info
        self.chain = (
            create_conversational_chain(
                chat_model,
                CatalogRetriever(search=search, k=settings.retrieval_k),
                settings.max_prompt_chars,
            )
            if chat_model is not None
            else None
        )

    async def answer(
        self,
        prompt: str,
        session_key: str,
        on_text: TextSink | None = None,
        new_session: bool = False,
    ) -> Answer:
        """Answer ``prompt`` in its session; ``on_text`` (streaming) gets the answer's
        pieces as they come. A ``new_session`` (its id made for this request) has no
        history to read."""
        started = time.perf_counter()
        messages: list[BaseMessage] = []
        warnings: list[str] = []
        if not new_session:
            messages, warnings = await self._read_history(session_key)
        sink = _Sink(on_text)
        if self.chain is not None:
            try:
                result = await self._llm(prompt, messages, sink)
            except ChatModelError as exc:
                if self.settings.chat_fallback != "retrieval_only" or sink.used:
                    raise self._chat_unavailable(exc) from exc
                logger.warning(
                    "chat model failed; answering retrieval-only",
                    extra={"reason": str(exc)[:300]},
                )
                result = await self._retrieval_only(prompt, messages, sink, fallback=True)
        else:
            result = await self._retrieval_only(prompt, messages, sink, fallback=False)
        answer_message, answer = result
        if not warnings:  # unreadable history: the store is down, saving would only wait
            warnings = await self._save(session_key, prompt, answer_message)
        answer.warnings = warnings
        answer.timings["total_ms"] = round((time.perf_counter() - started) * 1000, 1)
        return answer

    async def _read_history(self, session_key: str) -> tuple[list[BaseMessage], list[str]]:
        """The session's last turns, and the warnings for the answer if they are unreadable."""
        try:
            messages = await asyncio.to_thread(
                self.history.messages, session_key, self.settings.history_max_turns
            )
        except HistoryUnavailableError as exc:
            logger.warning(
                "chat history unreadable; answering without it", extra={"reason": str(exc)}
            )
            return [], [HISTORY_UNREADABLE]
        return messages, []

    async def _save(self, session_key: str, prompt: str, answer: AIMessage) -> list[str]:
        """Append the turn to the history; the warnings for the answer if that failed."""
        try:
            await asyncio.to_thread(
                self.history.append, session_key, [HumanMessage(prompt), answer]
            )
        except HistoryUnavailableError as exc:
            logger.warning(
                "chat history unwritable; answer returned unsaved", extra={"reason": str(exc)}
            )
            return [HISTORY_UNSAVED]
        return []

    # -- steps -----------------------------------------------------------------------------

    def _chat_unavailable(self, exc: Exception) -> ChatModelError:
        """The chat model's failure, naming the model (for the 503 message)."""
        what = self.chat_info.describe() if self.chat_info else "the chat model"
        return ChatModelError(f"{what} failed: {str(exc)[:300]}")

    async def _llm(
        self, prompt: str, messages: list[BaseMessage], sink: _Sink
    ) -> tuple[AIMessage, Answer]:
        assert self.chain is not None
        # The model sees plain turns: no stored retrieval state.
        history = [
            HumanMessage(m.content) if m.type == "human" else AIMessage(m.content) for m in messages
        ]
        # Each chat-model call has its own timeout (CHAT_TIMEOUT_SECONDS); the whole answer
        # has the route's (REQUEST_TIMEOUT_SECONDS).
        inputs = {"input": prompt, "chat_history": history}
        if sink.on_text is None:
            result: dict[str, Any] = await self.chain.ainvoke(inputs)
        else:
            result = await self._stream_chain(inputs, sink)
        documents = result.get("context") or []
        hits = [
            Hit(
                str(doc.metadata.get("_id") or doc.id),
                {k: v for k, v in doc.metadata.items() if k not in ("_id", "score")},
                doc.page_content,
                float(doc.metadata.get("score") or 0.0),
            )
            for doc in documents
        ]
        text = inert_markdown(str(result.get("answer") or "").strip())
        if not text:
            raise ChatModelError("the chat model returned an empty answer")
        standalone = str(result.get("standalone_question") or prompt)
        message = AIMessage(
            text,
            additional_kwargs={
                STATE_KEY: {
                    "standalone_question": standalone,
                    "product_ids": [hit.point_id for hit in hits],
                }
            },
        )
        return message, Answer(text, hits, "llm", standalone)

    async def _stream_chain(self, inputs: dict[str, Any], sink: _Sink) -> dict[str, Any]:
        """The chain's output, its answer's tokens passed on (inert) as they arrive."""
        assert self.chain is not None
        prepared = await self.chain.prepare.ainvoke(inputs)
        inert = InertStream()
        answer = ""
        async for token in self.chain.astream_answer(prepared):
            answer += token
            await sink.send(inert.feed(token))
        await sink.send(inert.flush())
        return {**prepared, "answer": answer}

    async def _retrieval_only(
        self, prompt: str, messages: list[BaseMessage], sink: _Sink, *, fallback: bool
    ) -> tuple[AIMessage, Answer]:
        previous = None
        for message in reversed(messages):
            if message.type == "ai":
                previous = retrieval_only.SearchState.from_dict(
                    message.additional_kwargs.get(STATE_KEY)
                )
                break
        if previous is None:
            previous = _state_from_user_turns(messages)
        result = await retrieval_only.answer_async(
            self.search, prompt, previous, self.settings.retrieval_k
        )
        text = inert_markdown(result.text)
        if fallback:  # shoppers see no model names or internal endpoints
            text = f"{FALLBACK_NOTE}\n\n{text}"
        for line in text.splitlines(keepends=True):  # streamed: the table row by row
            await sink.send(line)
        message = AIMessage(text, additional_kwargs={STATE_KEY: result.state.to_dict()})
        mode: Mode = "retrieval_only_fallback" if fallback else "retrieval_only"
        return message, Answer(text, result.hits, mode)


class _Sink:
    """Where a streamed answer's pieces go (nowhere when not streaming); leading
    whitespace is dropped, as the saved answer drops it."""

    def __init__(self, on_text: TextSink | None) -> None:
        self.on_text = on_text
        self.used = False

    async def send(self, text: str) -> None:
        if self.on_text is None:
            return
        if not self.used:
            text = text.lstrip()
        if text:
            self.used = True
            await self.on_text(text)


def _state_from_user_turns(messages: list[BaseMessage]) -> retrieval_only.SearchState | None:
    """Earlier user turns as a search state (after LLM answers, which store no state)."""
    turns = [str(m.content) for m in messages if m.type == "human"][-2:]
    if not turns:
        return None
    return retrieval_only.SearchState(query_turns=turns)
