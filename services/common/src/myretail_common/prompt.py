"""The one prompt format shared by fine-tuning and inference.

Training formats every example with :func:`build_prompt` and serving formats every
request with it too, so the two can never drift apart. The format is the book's
instruction style: a question block followed by an answer block the model completes.
"""

from __future__ import annotations

QUESTION_HEADER = "### Question:"
ANSWER_HEADER = "### Answer:"

# Text that marks the model starting a new turn on its own: generation stops there and
# the answer is cut before it.
STOP_SEQUENCES: tuple[str, ...] = (QUESTION_HEADER, "\n###")


def build_prompt(question: str) -> str:
    """Return the prompt text for ``question``; the answer is generated right after it."""
    return f"{QUESTION_HEADER}\n{question.strip()}\n\n{ANSWER_HEADER}\n"


def build_training_text(question: str, answer: str, eos_token: str) -> tuple[str, str]:
    """Split one training example into (prompt, completion).

    Loss is computed on the completion only; the EOS token teaches the model to stop.
    """
    return build_prompt(question), f"{answer.strip()}{eos_token}"


def extract_answer(generated: str) -> str:
    """Cut a generated continuation at the first stop sequence and trim it."""
    cut = len(generated)
    for stop in STOP_SEQUENCES:
        position = generated.find(stop)
        if position != -1:
            cut = min(cut, position)
    return generated[:cut].strip()
