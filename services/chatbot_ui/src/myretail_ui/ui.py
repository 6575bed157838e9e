"""The Gradio Blocks of the chat window.

One chat, two assistants: the selector picks who answers the next question. Answers
stream into the chat; Shopping answers carry a collapsible list of the products they
are based on; a backend that is down or slow shows a readable message instead of an
answer. Each browser session has its own session id, passed to the RAG API so
follow-up questions are understood; Clear empties the chat and starts a new session.

What the page shows is inert: every message is rendered without images or raw HTML
(:func:`myretail_common.safe_markdown.inert_markdown`), so an answer cannot make the browser
fetch a URL (no exfiltration through Markdown images). Limits hold on the server side too:
a question longer than ``MAX_QUESTION_CHARS`` is refused in the chat, the chat keeps its
last ``MAX_CHAT_MESSAGES`` messages, and Gradio's queue holds ``MAX_QUEUED_CHATS`` questions.

Element ids (for tests and styling): ``title``, ``assistant``, ``chatbot``, ``prompt``,
``submit``, ``clear``, ``examples``. Bot messages are ``[data-testid='bot']`` inside
``#chatbot``.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator, Mapping
from typing import Any, cast

import gradio as gr

from myretail_common.safe_markdown import inert_markdown
from myretail_ui.clients import LOYALTY, SHOPPING, AssistantClient, BackendError, Reply, Source
from myretail_ui.metrics import UIMetrics
from myretail_ui.settings import UISettings

logger = logging.getLogger(__name__)

PENDING = "…"
ERROR_PREFIX = "⚠️ "
NOTE_PREFIX = "Note: "
SOURCES_TITLE = "Sources"

EXAMPLES: list[list[str]] = [
    [SHOPPING, "Please suggest walking shoes for a 60 year old man, in a table format"],
    [SHOPPING, "Can you sort the results by price in descending order?"],
    [SHOPPING, "Do you have waterproof hiking boots for women?"],
    [LOYALTY, "What are the MyElite tiers?"],
    [LOYALTY, "How many points do Platinum members earn per dollar?"],
    [LOYALTY, "What is the cashback rate for the Platinum tier?"],
]

INTRO = (
    "Ask the **Shopping** assistant to find products in our catalog, or the "
    "**Loyalty Program** assistant about MyElite tiers, points and cashback."
)

CSS = """
#title h1 { margin-bottom: 0.2em; }
#chatbot table { border-collapse: collapse; margin: 0.4em 0; }
#chatbot th, #chatbot td { border: 1px solid var(--border-color-primary); padding: 0.25em 0.6em; }
#chatbot th { background: var(--background-fill-secondary); }
#chatbot table th, #chatbot table td { overflow-wrap: normal; word-break: normal; }
"""

Message = dict[str, Any]


def new_session_id() -> str:
    """A fresh chat session id (one per browser session, renewed by Clear)."""
    return uuid.uuid4().hex


def format_price(price: float | None) -> str:
    return f"${price:,.2f}" if price is not None else "price n/a"


def format_sources(sources: list[Source]) -> str:
    """Markdown list: product name, price and rating of every source."""
    lines = []
    for source in sources:
        rating = f"★ {source.rating:.1f}" if source.rating is not None else "no rating"
        lines.append(f"- **{source.name}** — {format_price(source.price)} — {rating}")
    return "\n".join(lines)


def sources_message(sources: list[Source]) -> Message:
    count = len(sources)
    title = f"{SOURCES_TITLE} · {count} product{'s' if count != 1 else ''}"
    return {
        "role": "assistant",
        "content": format_sources(sources),
        "metadata": {"title": title, "status": "done"},
    }


def _clean_history(history: list[Any] | None, keep: int) -> list[Message]:
    """The last ``keep`` messages as plain dicts (Gradio hands back dicts or ChatMessage
    objects; the browser sends the chat back, so nothing in it is trusted)."""
    cleaned: list[Message] = []
    for item in (history or [])[-keep:]:
        if isinstance(item, Mapping):
            cleaned.append(dict(item))
        elif hasattr(item, "role") and hasattr(item, "content"):
            cleaned.append({"role": item.role, "content": item.content})
    return cleaned


def _shown(chat: list[Message]) -> list[Message]:
    """The chat as the page may render it: text content made inert."""
    return [
        {**message, "content": inert_markdown(message["content"])}
        if isinstance(message.get("content"), str)
        else message
        for message in chat
    ]


class ChatHandlers:
    """The event handlers, separate from the layout so tests can call them directly."""

    def __init__(
        self,
        assistants: Mapping[str, AssistantClient],
        max_question_chars: int = 2000,
        max_chat_messages: int = 200,
        metrics: UIMetrics | None = None,
    ) -> None:
        self.assistants = dict(assistants)
        self.max_question_chars = max_question_chars
        self.max_chat_messages = max_chat_messages
        self.metrics = metrics

    async def respond(
        self,
        message: str,
        history: list[Any] | None,
        assistant_name: str,
        session_id: str | None,
    ) -> AsyncIterator[tuple[str, list[Message], str]]:
        """Add the question and stream the answer: yields (textbox, chat, session id)."""
        session = session_id or new_session_id()
        chat = _clean_history(history, self.max_chat_messages - 3)
        question = (message or "").strip()
        if not question:
            yield "", _shown(chat), session
            return
        # The client's own name from here on: the one sent may be anything (metrics label).
        assistant = self.assistants.get(assistant_name) or self.assistants[SHOPPING]
        if len(question) > self.max_question_chars:
            chat.append({"role": "assistant", "content": self._too_long(len(question))})
            self._error_shown(assistant.name, "too_long")
            yield question[: self.max_question_chars], _shown(chat), session
            return
        chat.append({"role": "user", "content": question})
        chat.append({"role": "assistant", "content": PENDING})
        yield "", _shown(chat), session
        answer_index = len(chat) - 1
        reply = Reply()
        try:
            async for reply in assistant.stream(question, session):
                chat[answer_index] = {"role": "assistant", "content": reply.text or PENDING}
                yield "", _shown(chat), session
        except BackendError as error:
            chat[answer_index] = {"role": "assistant", "content": ERROR_PREFIX + error.user_message}
            self._error_shown(assistant.name, error.kind)
            yield "", _shown(chat), session
            return
        except Exception:  # never a stack trace in the chat
            logger.exception("answering failed", extra={"assistant": assistant.name})
            chat[answer_index] = {
                "role": "assistant",
                "content": f"{ERROR_PREFIX}Sorry, something went wrong on our side. "
                "Please try again.",
            }
            self._error_shown(assistant.name, "internal")
            yield "", _shown(chat), session
            return
        if not reply.text.strip():
            chat[answer_index] = {
                "role": "assistant",
                "content": "I don't have an answer to that. Could you rephrase the question?",
            }
        for note in reply.notes:
            chat[answer_index]["content"] += f"\n\n_{NOTE_PREFIX}{note}_"
        if reply.sources:
            chat.append(sources_message(reply.sources))
        yield "", _shown(chat), reply.session_id or session

    def _too_long(self, length: int) -> str:
        return (
            f"{ERROR_PREFIX}That question is {length} characters long; please keep it under "
            f"{self.max_question_chars} characters."
        )

    def _error_shown(self, assistant: str, kind: str) -> None:
        if self.metrics is not None:
            self.metrics.error_shown(assistant, kind)

    def session_started(self) -> None:
        """Count a new session (a page load, or Clear)."""
        if self.metrics is not None:
            self.metrics.session_started()

    def start_over(self) -> tuple[str, list[Message], str]:
        """:meth:`clear`, its new session counted (the Clear button)."""
        self.session_started()
        return self.clear()

    @staticmethod
    def clear() -> tuple[str, list[Message], str]:
        """Empty the chat and the textbox, and start a new session."""
        return "", [], new_session_id()


def build_ui(
    settings: UISettings,
    assistants: Mapping[str, AssistantClient],
    metrics: UIMetrics | None = None,
) -> gr.Blocks:
    """The chat window; ``assistants`` maps "Shopping" and "Loyalty Program" to backends."""
    handlers = ChatHandlers(
        assistants,
        max_question_chars=settings.max_question_chars,
        max_chat_messages=settings.max_chat_messages,
        metrics=metrics,
    )
    with gr.Blocks(title=settings.ui_title, analytics_enabled=False) as blocks:
        gr.Markdown(f"# {settings.ui_title}\n{INTRO}", elem_id="title")
        assistant = gr.Radio(
            choices=[SHOPPING, LOYALTY],
            value=SHOPPING,
            label="Assistant",
            elem_id="assistant",
        )
        chatbot = gr.Chatbot(
            elem_id="chatbot",
            label="Chat",
            height="68vh",
            min_height=420,
            buttons=["copy"],
            feedback_options=None,
            group_consecutive_messages=False,
            placeholder="Pick an assistant, then ask a question or try an example below.",
            allow_tags=False,  # messages are made inert before they get here; keep no tag
        )
        with gr.Row(equal_height=True):
            prompt = gr.Textbox(
                elem_id="prompt",
                label="Question",
                show_label=False,
                placeholder="Ask a question and press Enter",
                lines=1,
                max_lines=4,
                max_length=settings.max_question_chars,  # the browser's side; respond checks too
                scale=8,
                autofocus=True,
            )
            submit = gr.Button("Submit", variant="primary", elem_id="submit", scale=1)
            clear = gr.Button("Clear", elem_id="clear", scale=1)
        gr.Examples(
            examples=EXAMPLES,
            inputs=[assistant, prompt],
            label="Examples",
            elem_id="examples",
        )
        session = gr.State(new_session_id)
        # Each page load starts a session (counted; the id above is made per page load too).
        blocks.load(
            handlers.session_started,
            inputs=None,
            outputs=None,
            api_visibility="private",
            show_progress="hidden",
            queue=False,
        )

        chat_inputs = [prompt, chatbot, assistant, session]
        chat_outputs = [prompt, chatbot, session]
        answering = [
            trigger(
                handlers.respond,
                inputs=chat_inputs,
                outputs=chat_outputs,
                api_name="chat",
                api_visibility="undocumented",
                show_progress="minimal",
            )
            for trigger in (submit.click, prompt.submit)
        ]
        # Clear also stops an answer that is still streaming.
        clear.click(
            handlers.start_over,
            inputs=None,
            outputs=chat_outputs,
            api_name="clear",
            api_visibility="undocumented",
            cancels=cast(list[dict[str, Any]], answering),
        )
        # The chat's own trash icon empties the chat: it starts a new session too.
        chatbot.clear(new_session_id, inputs=None, outputs=session, api_visibility="private")
    blocks.queue(
        default_concurrency_limit=settings.max_concurrent_chats,
        max_size=settings.max_queued_chats,
    )
    return blocks
