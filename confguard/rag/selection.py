"""How Confident RAG picks among its candidates: by one metric, or by a fitted score.

The paper picks the candidate with the highest token confidence. On SQuAD dev with
the embedded model that ties the best single embedder, while the oracle over the
candidates is well above it: token confidence alone does not say which retrieval was
right. `FittedSelector` scores each candidate by a logistic model over evidence the
pipeline already has — the candidate's token metrics, how far its answer agrees with
the other candidates', how well its passage matched the question, whether the
other embedders retrieved it too and how much of the answer its passage contains —
fitted on labelled candidates
(`scripts/fit_presets.py`), and keeps the highest.

Example:
    >>> selector = FittedSelector(weights={"min_token_prob": 2.1, "agreement": 1.4})
    >>> ConfidentRAGPipeline(generator, indices, selector=selector)
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Protocol

from confguard.exceptions import ConfigurationError, InputError
from confguard.signals.agreement import retrieval_agreement, text_agreement
from confguard.signals.retrieval import support_share
from confguard.signals.token import token_metric

if TYPE_CHECKING:
    from confguard.rag.confident import RetrievedAnswer

TOKEN_FEATURES = ("avg_logprob", "min_token_prob", "self_certainty", "entropy", "gini")
"""Token metrics a fitted selector may weigh (each candidate's own tokens)."""
EVIDENCE_FEATURES = (
    "agreement",
    "retrieval_score",
    "retrieval_agreement",
    "empty",
    "answer_support",
)
"""Cross-candidate and retrieval evidence a fitted selector may weigh
(`answer_support`: the share of the answer's tokens found in its own passages)."""


class Selector(Protocol):
    """Picks the answer among a question's scored candidates."""

    def select(self, question: str, candidates: Sequence[RetrievedAnswer]) -> int:
        """The index of the chosen candidate."""
        ...


class ByMetric:
    """The paper's rule: the candidate the pipeline's metric is surest of.

    Candidates the metric could not score rank below every scored one; ties go to
    the earlier embedder.
    """

    def select(self, question: str, candidates: Sequence[RetrievedAnswer]) -> int:
        """The index of the most confident candidate."""
        _check(candidates)
        values = [_value(c) for c in candidates]
        # max() returns the first maximal item: ties go to the earlier embedder.
        return max(range(len(values)), key=values.__getitem__)

    def describe(self, candidates: Sequence[RetrievedAnswer], chosen: int) -> str:
        """Why `chosen` won, in words."""
        c = candidates[chosen]
        assert c.result is not None and c.result.confidence is not None
        said = f"{c.result.name} = {c.result.confidence:.3f}"
        return f"{c.retriever!r} was the most confident ({said})"


def _value(candidate: RetrievedAnswer) -> float:
    result = candidate.result
    if result is None or result.confidence is None:
        return -1.0
    return result.confidence


class FittedSelector:
    """The candidate with the highest fitted score (see the module docstring).

    `weights` maps feature names (`TOKEN_FEATURES`, `EVIDENCE_FEATURES`, or
    ``embedder:<name>`` for a per-embedder prior) to logistic coefficients; features
    are standardised with `means` and `scales` first, as they were when fitted.

    Example:
        >>> FittedSelector(weights={"agreement": 1.0}).select(question, candidates)
        1
    """

    def __init__(
        self,
        weights: Mapping[str, float],
        *,
        intercept: float = 0.0,
        means: Mapping[str, float] | None = None,
        scales: Mapping[str, float] | None = None,
    ) -> None:
        self.weights = _checked(weights)
        self.intercept = float(intercept)
        self.means = dict(means or {})
        self.scales = {k: v for k, v in (scales or {}).items() if v > 0}

    def scores(
        self, question: str, candidates: Sequence[RetrievedAnswer]
    ) -> list[float]:
        """Each candidate's fitted probability of being right."""
        rows = candidate_features(candidates)
        return [self._probability(row) for row in rows]

    def select(self, question: str, candidates: Sequence[RetrievedAnswer]) -> int:
        """The index of the candidate with the highest score (ties: earlier)."""
        _check(candidates)
        values = self.scores(question, candidates)
        return max(range(len(values)), key=values.__getitem__)

    def describe(self, candidates: Sequence[RetrievedAnswer], chosen: int) -> str:
        """Why `chosen` won, in words."""
        values = self.scores("", candidates)
        others = ", ".join(
            f"{c.retriever} {v:.2f}"
            for i, (c, v) in enumerate(zip(candidates, values, strict=True))
            if i != chosen
        )
        name = candidates[chosen].retriever
        return f"{name!r} had the highest fitted score ({values[chosen]:.2f}; {others})"

    def _probability(self, row: Mapping[str, float]) -> float:
        z = self.intercept
        for name, weight in self.weights.items():
            value = row.get(name, 0.0)
            if math.isnan(value):
                continue  # at its mean: no evidence either way
            value = (value - self.means.get(name, 0.0)) / self.scales.get(name, 1.0)
            z += weight * value
        return 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, z))))


def candidate_features(candidates: Sequence[RetrievedAnswer]) -> list[dict[str, float]]:
    """The evidence a fitted selector weighs, one mapping per candidate.

    Example:
        >>> candidate_features(candidates)[0]["agreement"]
        0.5
    """
    rows = []
    for i, c in enumerate(candidates):
        others = [o for j, o in enumerate(candidates) if j != i]
        row = _token_row(c)
        row["empty"] = float(not c.answer.strip())
        row["agreement"] = (
            text_agreement(c.answer, [o.answer for o in others]) if others else 0.0
        )
        row["retrieval_score"] = _top_score(c)
        row["retrieval_agreement"] = (
            retrieval_agreement(_sources(c), [_sources(o) for o in others])
            if others
            else 0.0
        )
        texts = [x.text for x in c.contexts]
        row["answer_support"] = support_share(c.answer, texts) if texts else math.nan
        row[f"embedder:{c.retriever}"] = 1.0
        rows.append(row)
    return rows


def _token_row(candidate: RetrievedAnswer) -> dict[str, float]:
    # A metric that cannot run (no logprobs, no alternatives) is NaN: the fitted
    # score then counts it at its fitting mean, i.e. as no evidence either way.
    if not candidate.logprobs:
        return dict.fromkeys(TOKEN_FEATURES, math.nan)
    out = {}
    for name in TOKEN_FEATURES:
        try:
            value = token_metric(name, candidate.logprobs)
        except InputError:
            value = math.nan
        out[name] = value if math.isfinite(value) else math.nan
    return out


def _top_score(candidate: RetrievedAnswer) -> float:
    scores = [c.score for c in candidate.contexts if c.score is not None]
    return max(scores) if scores else 0.0


def _sources(candidate: RetrievedAnswer) -> list[str]:
    return [c.source or c.text for c in candidate.contexts]


def _check(candidates: Sequence[RetrievedAnswer]) -> None:
    if not candidates:
        raise ValueError("cannot select among zero candidates")


def _checked(weights: Mapping[str, float]) -> dict[str, float]:
    known = {*TOKEN_FEATURES, *EVIDENCE_FEATURES}
    unknown = sorted(
        k for k in weights if k not in known and not k.startswith("embedder:")
    )
    if unknown:
        raise ConfigurationError(
            f"unknown selector feature(s) {unknown}; known: {sorted(known)} "
            "and embedder:<name>"
        )
    if not all(math.isfinite(float(w)) for w in weights.values()):
        raise ConfigurationError("selector weights must be finite numbers")
    return {k: float(v) for k, v in weights.items()}


__all__ = [
    "EVIDENCE_FEATURES",
    "TOKEN_FEATURES",
    "ByMetric",
    "FittedSelector",
    "Selector",
    "candidate_features",
]
