"""Prompt formats shared by the RAG pipelines and the signals that re-ask their model.

Base models answer best after worked examples (MEASURED.md: 2-shot beat an instruction
prompt on accuracy and on almost every confidence metric). The passages and examples
here were written for confguard, not taken from any evaluation set; the signals'
own worked examples reuse the passages so every prompt describes the same worlds.
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict

__all__ = [
    "DEFAULT_SHOTS",
    "EIFFEL_TOWER",
    "KILIMANJARO",
    "Shot",
    "completion_prompt",
    "join_contexts",
]

EIFFEL_TOWER = (
    "The Eiffel Tower was built for the 1889 World's Fair in Paris and was "
    "designed by the engineering firm of Gustave Eiffel."
)
KILIMANJARO = (
    "Mount Kilimanjaro, a dormant volcano in Tanzania, rises 5,895 metres "
    "above sea level and is the highest mountain in Africa."
)


class Shot(BaseModel):
    """A worked example for a few-shot completion prompt."""

    model_config = ConfigDict(frozen=True)

    context: str
    question: str
    answer: str


DEFAULT_SHOTS: tuple[Shot, ...] = (
    Shot(
        context=EIFFEL_TOWER,
        question="For which event was the Eiffel Tower built?",
        answer="the 1889 World's Fair",
    ),
    Shot(
        context=KILIMANJARO,
        question="How high is Mount Kilimanjaro?",
        answer="5,895 metres",
    ),
)


def join_contexts(contexts: Sequence[str]) -> str:
    """The passages as one context: each stripped, joined with spaces.

    Example:
        >>> join_contexts([" The Broncos won. ", "Denver beat Carolina."])
        'The Broncos won. Denver beat Carolina.'
    """
    return " ".join(c.strip() for c in contexts)


def completion_prompt(
    question: str, contexts: Sequence[str], shots: Sequence[Shot] = DEFAULT_SHOTS
) -> str:
    """A few-shot Context / Question / Answer prompt; the answer ends at a newline.

    Example:
        >>> print(completion_prompt("Who won?", ["The Broncos won."], shots=()))
        Context: The Broncos won.
        Question: Who won?
        Answer:
    """
    blocks = [
        f"Context: {s.context}\nQuestion: {s.question}\nAnswer: {s.answer}\n"
        for s in shots
    ]
    blocks.append(
        f"Context: {join_contexts(contexts)}\nQuestion: {question.strip()}\nAnswer:"
    )
    return "\n".join(blocks)
