"""What the situated-faithfulness methods share: the verdict, answer matching, the
case a method's plan works on, and the method protocol."""

from __future__ import annotations

import math
from collections.abc import Sequence
from enum import Enum
from typing import Protocol

from pydantic import BaseModel, ConfigDict, Field, model_validator

from confguard.llm.base import Completion
from confguard.observation import TokenLogprob
from confguard.results import Cost, SignalStatus
from confguard.signals.base import Plan
from confguard.text import answer_tokens, normalize_answer, token_f1


class Frozen(BaseModel):
    """Base of the frozen models here."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class Source(str, Enum):
    """Where an answer comes from: the context, the model's own knowledge, or both."""

    CONTEXT = "context"
    INTERNAL = "internal"
    BOTH = "both"
    NEITHER = "neither"


class SituatedVerdict(Frozen):
    """A method's answer, the source it follows, the conflict it saw, its confidence."""

    method: str
    status: SignalStatus = SignalStatus.OK
    reason: str | None = None
    answer: str | None = None
    source: Source | None = None
    confidence: float | None = Field(default=None, ge=0.0, le=1.0)
    conflict: bool = False
    conflict_detail: str | None = None
    reasons: tuple[str, ...] = ()
    internal_answer: str | None = None
    context_answer: str | None = None
    context_trust: float | None = Field(default=None, ge=0.0, le=1.0)
    """The estimated probability that the context is right (None if not estimated)."""
    cost: Cost = Cost()

    @model_validator(mode="after")
    def _status_consistent(self) -> SituatedVerdict:
        usable = None not in (self.answer, self.confidence, self.source)
        if self.status is SignalStatus.OK and not usable:
            raise ValueError("an ok verdict needs an answer, a source and a confidence")
        if self.status is not SignalStatus.OK and not self.reason:
            raise ValueError(f"a {self.status.value} verdict needs a reason")
        return self

    @property
    def ok(self) -> bool:
        """True when the method produced an answer."""
        return self.status is SignalStatus.OK


def unusable(method: str, status: SignalStatus, reason: str) -> SituatedVerdict:
    """A verdict without an answer: the method was skipped or failed, and why."""
    return SituatedVerdict(method=method, status=status, reason=reason)


def answers_match(a: str, b: str) -> bool:
    """True when two answers agree: SQuAD-normalised token F1 of at least 0.5.

    Example:
        >>> answers_match("President Woodrow Wilson", "woodrow wilson")
        True
    """
    return bool(answer_tokens(a)) and token_f1(a, [b]) >= 0.5


def context_support(answer: str, context: str) -> float:
    """1 if the context states the answer verbatim (after SQuAD normalisation), else
    half the share of the answer's tokens the context contains.

    Example:
        >>> context_support("the Eiffel Tower", "Paris: Eiffel tower, 1889")
        1.0
    """
    tokens = answer_tokens(answer)
    if not tokens:
        return 0.0
    words = normalize_answer(context).split()
    if f" {' '.join(tokens)} " in f" {' '.join(words)} ":
        return 1.0
    stated = set(words)
    return 0.5 * sum(t in stated for t in tokens) / len(tokens)


def mean_prob(logprobs: Sequence[TokenLogprob] | None) -> float | None:
    """The geometric-mean token probability exp(mean logprob); None without tokens."""
    if not logprobs:
        return None
    return math.exp(sum(t.logprob for t in logprobs) / len(logprobs))


def span_logprobs(completion: Completion, answer: str) -> tuple[TokenLogprob, ...]:
    """The tokens that spell the last `answer` in the completion (all if unaligned)."""
    tokens = completion.logprobs or ()
    start = completion.text.rfind(answer)
    if start < 0 or "".join(t.token for t in tokens) != completion.text:
        return tuple(tokens)
    end, offset, picked = start + len(answer), 0, []
    for t in tokens:
        if offset < end and offset + len(t.token) > start:
            picked.append(t)
        offset += len(t.token)
    return tuple(picked)


def source_of(answer: str, context: str, internal: str | None) -> Source:
    """Which source an answer follows: stated by the context, the closed-book answer,
    both or neither (an answer the context does not state counts as internal when
    there is no closed-book answer to compare with)."""
    stated = context_support(answer, context) >= 0.5
    known = internal is not None and answers_match(answer, internal)
    if stated:
        return Source.BOTH if known else Source.CONTEXT
    return Source.INTERNAL if known or internal is None else Source.NEITHER


# --- a method is written once, as a plan the signal's driver runs sync or async ---


class Case(Frozen):
    """One question, its joined and truncated context, and the answer under test."""

    question: str
    context: str
    answer: str | None = None
    """The answer drawn from the context (None: the method makes its own)."""
    answer_logprobs: tuple[TokenLogprob, ...] | None = None
    can_score: bool = False
    """Whether the generator can teacher-force continuations (ContinuationScorer)."""


class Method(Protocol):
    """A situated-faithfulness method: a plan of model calls ending in a verdict."""

    name: str
    llm_calls: int

    def plan(self, case: Case) -> Plan[SituatedVerdict]:
        """The method's model calls for one case, ending in its verdict."""
        ...
