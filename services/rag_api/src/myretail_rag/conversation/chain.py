"""The conversational RAG chain (LangChain 1.x runnables, nothing deprecated).

Three steps, as in the book's original chain:

1. **History-aware retrieval.** With chat history, the chat model rewrites the latest
   message into a standalone question (``CONDENSE_PROMPT``); without history the
   message is used as is. The standalone question goes to the catalog retriever. This is
   what ``langchain_classic.chains.create_history_aware_retriever`` builds, composed
   here from the same langchain-core runnables so the standalone question is kept.
2. **Stuff-documents answer.** ``create_stuff_documents_chain`` puts every retrieved
   product (one document per product) into ``ANSWER_PROMPT`` with the history and asks
   the chat model for the answer.
3. **Message history per session** is loaded and saved by the caller
   (:mod:`myretail_rag.conversation.assistant`), so only the last ``HISTORY_MAX_TURNS`` turns go in.

The output is a dict: ``input``, ``chat_history``, ``standalone_question``, ``context``
(the documents), ``request`` and ``answer``. Streamed, the first three steps run first and
the answer's tokens come from :meth:`ConversationalChain.astream_answer`.

Prompt placement: system messages hold only our instructions and catalog data. What the
shopper wrote (the message, and the standalone question rewritten from it) goes in human
messages, never given the authority of an instruction.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from functools import cached_property
from operator import itemgetter
from typing import Any

from langchain_classic.chains.combine_documents import create_stuff_documents_chain
from langchain_core.language_models import BaseChatModel
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate, MessagesPlaceholder, PromptTemplate
from langchain_core.retrievers import BaseRetriever
from langchain_core.runnables import (
    Runnable,
    RunnableBranch,
    RunnableConfig,
    RunnableLambda,
    RunnablePassthrough,
)

CONDENSE_SYSTEM = (
    "Given the chat history and the latest user message, which may refer to earlier "
    "messages, write one standalone shopping question that can be understood without the "
    "history. Keep every product type, person, size, price limit and ordering the shopper "
    "asked for. Do NOT answer it; only rewrite it, or return it unchanged."
)
CONDENSE_PROMPT = ChatPromptTemplate.from_messages(
    [
        ("system", CONDENSE_SYSTEM),
        MessagesPlaceholder("chat_history"),
        ("human", "{input}"),
    ]
)

ANSWER_SYSTEM = (
    "You are MyRetail's shopping assistant. Recommend products only from the catalog "
    "products below; never invent products, prices or ratings. When the shopper asks for a "
    "table, answer with a Markdown table (name, brand, price, rating and why it fits). If "
    "nothing below fits, say so. No images or HTML.\n\n"
    "Catalog products:\n{context}"
)
ANSWER_PROMPT = ChatPromptTemplate.from_messages(
    [
        ("system", ANSWER_SYSTEM),
        MessagesPlaceholder("chat_history"),
        ("human", "{request}"),
    ]
)
STANDALONE_NOTE = "\n\n(As a standalone question: {standalone_question})"
DOCUMENT_PROMPT = PromptTemplate.from_template(
    "- [{product_id}] {name} | brand {brand} | ${price} | rating {rating} | "
    "{subcategory} for {gender} ({age_group})\n  {description}"
)


class ChatModelError(Exception):
    """The chat model failed (down, refused, timed out)."""


class GuardedChatModel(Runnable[Any, Any]):
    """The chat model with its failures raised as :class:`ChatModelError` (retrieval errors
    keep their own types, so the caller can say which dependency failed). It streams when
    the chain streams (``astream``): the answer's tokens as the model sends them."""

    name = "chat_model"

    def __init__(self, model: BaseChatModel) -> None:
        self.model = model

    def invoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Any:
        try:
            return self.model.invoke(input, config, **kwargs)
        except Exception as exc:
            raise _failed(exc) from exc

    async def ainvoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Any:
        try:
            return await self.model.ainvoke(input, config, **kwargs)
        except Exception as exc:
            raise _failed(exc) from exc

    async def astream(
        self, input: Any, config: RunnableConfig | None = None, **kwargs: Any
    ) -> AsyncIterator[Any]:
        try:
            async for chunk in self.model.astream(input, config, **kwargs):
                yield chunk
        except Exception as exc:
            raise _failed(exc) from exc


def _failed(exc: Exception) -> ChatModelError:
    return ChatModelError(f"{type(exc).__name__}: {exc}")


def _shopper_request(value: dict[str, Any]) -> str:
    """The last human message of the answer prompt: the shopper's message, and the
    standalone question when the rewrite changed it."""
    message, standalone = str(value["input"]), str(value["standalone_question"])
    if standalone.strip() == message.strip():
        return message
    return message + STANDALONE_NOTE.format(standalone_question=standalone)


def _standalone_or_input(value: dict[str, Any]) -> str:
    """The rewritten question, or the original one when the model returned nothing."""
    rewritten = str(value.get("rewritten") or "").strip()
    return rewritten or str(value["input"])


@dataclass(frozen=True)
class ConversationalChain:
    """The chain in its two parts: ``prepare`` adds the standalone question, the retrieved
    products (``context``) and the shopper's ``request``; ``answer`` is the
    stuff-documents answer (text)."""

    prepare: Runnable[dict[str, Any], dict[str, Any]]
    answer: Runnable[dict[str, Any], str]

    @cached_property
    def whole(self) -> Runnable[dict[str, Any], dict[str, Any]]:
        return self.prepare.assign(answer=self.answer).with_config(run_name="conversational_rag")

    async def ainvoke(self, inputs: dict[str, Any]) -> dict[str, Any]:
        return await self.whole.ainvoke(inputs)

    async def astream_answer(self, prepared: dict[str, Any]) -> AsyncIterator[str]:
        """The answer's tokens for ``prepare``'s output, as the model sends them.

        The answer chain is streamed alone, in the caller's task: a whole-chain ``astream``
        runs its parallel steps in tasks of their own, which a cancelled caller (a client
        that disconnected, a deadline) would leave waiting on the model."""
        async for token in self.answer.astream(prepared):
            yield token


def create_conversational_chain(
    model: BaseChatModel, retriever: BaseRetriever, max_question_chars: int = 2000
) -> ConversationalChain:
    """The history-aware retrieval chain with a stuff-documents answer."""
    llm = GuardedChatModel(model)
    rewrite = (
        RunnablePassthrough.assign(rewritten=CONDENSE_PROMPT | llm | StrOutputParser())
        | RunnableLambda(_standalone_or_input)
        | RunnableLambda(lambda text: text[:max_question_chars])
    )
    standalone_question = RunnableBranch(
        (lambda value: not value.get("chat_history"), itemgetter("input")),
        rewrite,
    ).with_config(run_name="standalone_question")
    prepare = (
        RunnablePassthrough.assign(standalone_question=standalone_question)
        .assign(context=itemgetter("standalone_question") | retriever)
        .assign(request=RunnableLambda(_shopper_request))
    )
    answer = create_stuff_documents_chain(llm, ANSWER_PROMPT, document_prompt=DOCUMENT_PROMPT)
    return ConversationalChain(prepare, answer)
