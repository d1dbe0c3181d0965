"""Cheap evidence from retrieval itself: how close the passages were, and whether they
contain the answer. Zero LLM calls."""

from __future__ import annotations

from collections.abc import Sequence

from confguard.observation import Observation
from confguard.results import SignalResult
from confguard.signals.base import BaseSignal, DeclaredCost
from confguard.text import answer_tokens, normalize_answer


def ramp(value: float, low: float, high: float) -> float:
    """0 at or below `low`, 1 at or above `high`, linear between."""
    if high <= low:
        raise ValueError(f"ramp needs low < high, got {low} >= {high}")
    return min(1.0, max(0.0, (value - low) / (high - low)))


class RetrievalSupport(BaseSignal):
    """How similar the best retrieved passage was to the question.

    The top context's score is mapped by a linear ramp from `low` (no support) to
    `high` (full support). The defaults suit cosine similarities of sentence embedders
    (MiniLM: unrelated passages score about 0.1-0.25, the right one 0.5-0.8); fit them,
    or calibrate the combination, on your own data.

    Example:
        >>> RetrievalSupport(low=0.2, high=0.6).score(obs).confidence
    """

    cost = DeclaredCost(relative=0.01, inline=True)

    def __init__(self, low: float = 0.2, high: float = 0.6, name: str = "retrieval"):
        ramp(low, low, high)  # validates the bounds at construction
        self.low, self.high, self.name = low, high, name

    def _score(self, obs: Observation) -> SignalResult:
        scores = [c.score for c in obs.contexts if c.score is not None]
        if not obs.contexts:
            return SignalResult.skipped(self.name, "no retrieved contexts")
        if not scores:
            return SignalResult.skipped(self.name, "contexts carry no retrieval scores")
        top = max(scores)
        return SignalResult(
            name=self.name,
            confidence=ramp(top, self.low, self.high),
            raw=top,
            details={"low": self.low, "high": self.high, "n_contexts": len(scores)},
        )


class AnswerSupport(BaseSignal):
    """The share of the answer's normalised tokens that occur in the retrieved contexts.

    An extractive answer copied from a passage scores 1; an answer the model made up
    scores near 0. It says nothing about whether the passage itself is right.
    """

    cost = DeclaredCost(relative=0.02, inline=True)

    def __init__(self, name: str = "answer_support") -> None:
        self.name = name

    def _score(self, obs: Observation) -> SignalResult:
        if not obs.contexts:
            return SignalResult.skipped(self.name, "no retrieved contexts")
        tokens = answer_tokens(obs.answer)
        if not tokens:
            return SignalResult(
                name=self.name, confidence=0.0, raw=0.0, details={"empty_answer": True}
            )
        found = _found(tokens, [c.text for c in obs.contexts])
        share = found / len(tokens)
        return SignalResult(
            name=self.name,
            confidence=share,
            raw=share,
            details={"answer_tokens": len(tokens), "found": found},
        )


def support_share(answer: str, texts: Sequence[str]) -> float:
    """The share of `answer`'s normalised tokens found in `texts` (0 for an empty
    answer): `AnswerSupport`'s confidence, for callers that hold plain texts.

    Example:
        >>> support_share("Denver Broncos", ["The Denver Broncos won."])
        1.0
    """
    tokens = answer_tokens(answer)
    return _found(tokens, texts) / len(tokens) if tokens else 0.0


def _found(tokens: Sequence[str], texts: Sequence[str]) -> int:
    context_tokens = set(normalize_answer(" ".join(texts)).split())
    return sum(t in context_tokens for t in tokens)
