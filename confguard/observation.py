"""The data that flows through a guard: one immutable Observation per attempt."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class TopLogprob(_Frozen):
    """One alternative token the model considered at a position."""

    token: str
    logprob: float = Field(le=0.0)


class TokenLogprob(_Frozen):
    """The chosen token at one position, its log-probability and top-k alternatives."""

    token: str
    logprob: float = Field(le=0.0)
    top_logprobs: tuple[TopLogprob, ...] = ()


class Context(_Frozen):
    """A retrieved passage, and who found it."""

    text: str
    source: str | None = None
    score: float | None = None
    retriever: str | None = None
    """Which retriever or embedding model found this passage."""


class Sample(_Frozen):
    """An extra generation for the same question (for consistency signals)."""

    text: str
    logprobs: tuple[TokenLogprob, ...] = ()


class Observation(_Frozen):
    """Everything a pipeline saw while answering one question.

    Example:
        >>> Observation(question="Capital of France?", answer="Paris")
        Observation(question='Capital of France?', answer='Paris', ...)
    """

    question: str
    answer: str
    contexts: tuple[Context, ...] = ()
    logprobs: tuple[TokenLogprob, ...] | None = None
    """None when the model exposes no logprobs (signals then report `skipped`)."""
    samples: tuple[Sample, ...] = ()
    metadata: dict[str, Any] = Field(default_factory=dict)

    @field_validator("answer", mode="before")
    @classmethod
    def _answer_required(cls, value: object) -> object:
        if value is None:
            raise ValueError("an Observation needs an answer (got None)")
        return value

    def __repr_args__(self):  # type: ignore[no-untyped-def]
        # Keep reprs short: logprob lists can be thousands of entries long.
        yield "question", self.question
        yield "answer", self.answer
        if self.contexts:
            yield "contexts", f"<{len(self.contexts)} contexts>"
        if self.logprobs is not None:
            yield "logprobs", f"<{len(self.logprobs)} tokens>"
