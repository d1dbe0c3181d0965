"""The data that flows through a guard: one immutable Observation per attempt."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


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


class Candidate(_Frozen):
    """One retriever's answer in a multi-retriever pipeline (Confident RAG).

    `metric` .. `status` say how the pipeline scored the candidate when it chose
    among them (None when it was not scored).
    """

    retriever: str
    answer: str
    contexts: tuple[Context, ...] = ()
    logprobs: tuple[TokenLogprob, ...] | None = None
    metric: str | None = None
    confidence: float | None = Field(default=None, ge=0.0, le=1.0)
    raw: float | None = None
    status: str | None = None


class NodeScore(_Frozen):
    """What a node postprocessor found about one retrieved node.

    Example:
        >>> NodeScore(node_id="n1", confidence=0.75, found_by=("minilm", "e5"))
    """

    node_id: str | None = None
    status: Literal["scored", "no_text"] = "scored"
    confidence: float | None = Field(default=None, ge=0.0, le=1.0)
    """The share of embedders that ranked the node in their top_k."""
    z: float | None = None
    """Its best standardised similarity over the embedders (Mixture-Embedding)."""
    found_by: tuple[str, ...] = ()
    similarities: dict[str, float] = Field(default_factory=dict)
    """Cosine similarity to the query under each embedder."""
    credibility: float | None = Field(default=None, ge=0.0, le=1.0)
    credibility_problem: str | None = None
    """Why credibility is missing when a check was configured (it raised, ...)."""
    kept: bool = True
    note: str | None = None
    """Why the node was dropped, or kept although it fell below a threshold."""


class Issue(_Frozen):
    """Something about an attempt's input that confguard could not use, explicitly.

    Example:
        >>> Issue(code="no_logprobs", attempt=1, detail="the LLM returned none")
    """

    code: str
    attempt: int = Field(default=1, ge=1)
    detail: str


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
    candidates: tuple[Candidate, ...] = ()
    """Each retriever's answer, when the pipeline produced several (Confident RAG)."""
    selected: int | None = Field(default=None, ge=0)
    """Which of `candidates` is the answer."""
    node_scores: tuple[NodeScore, ...] = ()
    """What a node postprocessor found about the retrieved nodes."""
    issues: tuple[Issue, ...] = ()
    """Input confguard could not use (no logprobs, empty response, ...)."""
    reference_answer: str | None = None
    """An answer to compare against (pairwise judges), when one is known."""
    pipeline: str | None = None
    """Which pipeline produced the observation ("rag", "confident_rag", ...)."""
    attempt: int = Field(default=1, ge=1)
    """The attempt of the guarded run that produced the observation."""
    finish_reason: Literal["stop", "length"] | None = None
    """Why generation of the answer ended, when known."""
    metadata: dict[str, Any] = Field(default_factory=dict)
    """The user's own data; confguard's components never read or write it."""

    @field_validator("answer", mode="before")
    @classmethod
    def _answer_required(cls, value: object) -> object:
        if value is None:
            raise ValueError("an Observation needs an answer (got None)")
        return value

    @model_validator(mode="after")
    def _selected_in_range(self) -> Observation:
        if self.selected is not None and self.selected >= len(self.candidates):
            raise ValueError(
                f"selected={self.selected} but there are {len(self.candidates)} "
                "candidates"
            )
        return self

    @property
    def selected_candidate(self) -> Candidate | None:
        """The candidate that is the answer, if the pipeline chose among several."""
        return None if self.selected is None else self.candidates[self.selected]

    def __repr_args__(self):  # type: ignore[no-untyped-def]
        # Keep reprs short: logprob lists can be thousands of entries long.
        yield "question", self.question
        yield "answer", self.answer
        if self.contexts:
            yield "contexts", f"<{len(self.contexts)} contexts>"
        if self.logprobs is not None:
            yield "logprobs", f"<{len(self.logprobs)} tokens>"


__all__ = [
    "Candidate",
    "Context",
    "Issue",
    "NodeScore",
    "Observation",
    "Sample",
    "TokenLogprob",
    "TopLogprob",
]
