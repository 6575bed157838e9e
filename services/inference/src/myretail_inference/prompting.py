"""Chat messages to the model's prompt, with the prompt format training used.

Every user turn goes through :func:`myretail_common.prompt.build_prompt`, so a chat with
one user message is exactly the prompt ``/generate`` builds for the same question.
Earlier turns become earlier question/answer blocks; system (or developer) messages are
plain text ahead of them.
"""

from __future__ import annotations

from collections.abc import Sequence

from myretail_common.errors import BadRequestError
from myretail_common.prompt import build_prompt
from myretail_inference.schemas import ChatMessage


def chat_prompt(messages: Sequence[ChatMessage]) -> str:
    """The prompt text for a chat; raises :class:`BadRequestError` for unusable chats."""
    system = [m.text().strip() for m in messages if m.role in ("system", "developer")]
    turns = [m for m in messages if m.role in ("user", "assistant")]
    if not turns or turns[-1].role != "user":
        raise BadRequestError(
            "the last message (other than system messages) must be a user message"
        )
    if not turns[-1].text().strip():
        raise BadRequestError("the last user message must not be blank")
    parts: list[str] = []
    if any(system):
        parts.append("\n".join(text for text in system if text) + "\n\n")
    question: str | None = None
    for message in turns[:-1]:
        if message.role == "user":
            if question is not None:  # two user turns in a row: one question
                question = f"{question}\n{message.text().strip()}"
            else:
                question = message.text().strip()
        else:
            parts.append(build_prompt(question or "") + message.text().strip() + "\n\n")
            question = None
    last = turns[-1].text().strip()
    if question is not None:
        last = f"{question}\n{last}"
    parts.append(build_prompt(last))
    return "".join(parts)
