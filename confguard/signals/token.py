"""Token-level confidence signals: the Confident-RAG metrics over answer logprobs.

The metrics follow Kang, Zhao & Song (2025), "Scalable Best-of-N Selection for
LLMs via Self-Certainty" (arXiv 2502.18581), as used by Confident RAG ("Each to
Their Own: Exploring the Optimal Embedding in RAG", arXiv 2507.17442, eqs. 6-10),
plus the minimum token probability. With ``n`` answer tokens, ``y_i`` the chosen
token and ``q_i`` the distribution at position ``i``:

- ``avg_logprob``: raw = mean_i log p(y_i); confidence = exp(raw).
- ``min_token_prob``: raw = min_i log p(y_i); confidence = exp(raw).
- ``entropy``: raw = mean_i H(q_i) with H = -sum_j q log q (nats);
  confidence = 1 - raw / log K.
- ``distributional_perplexity``: raw = mean_i exp(H(q_i)), in [1, K];
  confidence = (K - raw) / (K - 1).
- ``gini``: raw = mean_i sum_j q_ij^2, in [1/K, 1];
  confidence = (raw - 1/K) / (1 - 1/K).
- ``self_certainty``: raw = mean_i KL(U_K || q_i)
  = mean_i [-log K - (1/K) sum_j log q_ij] >= 0; confidence = 1 - exp(-raw / log K).

Every map is monotone (increasing in the raw value, or decreasing for entropy and
distributional perplexity) and clipped to [0, 1] against float error.

"gini" is the papers' Gini: the concentration sum_j p^2 (higher = more
confident), i.e. one minus the textbook Gini impurity.

The papers sum over the whole vocabulary; providers return only the top-k
alternatives. The distribution metrics therefore renormalise over the top K
alternatives at each position (K = the smallest alternative count among the
positions that have at least two; larger rows are cut to their K most likely
tokens) and report ``{"approximate": True, "top_k": K}`` in ``details``.
Positions without alternatives are left out and counted in ``details``.
Dividing by log K (or K) puts answers scored with different k on one scale.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, NamedTuple, TypeGuard

import numpy as np
from numpy.typing import ArrayLike, NDArray

from confguard import registry
from confguard.exceptions import InputError, UnknownComponentError
from confguard.logprobs import normalize
from confguard.observation import Observation, TokenLogprob
from confguard.results import SignalResult
from confguard.signals.base import BaseSignal, DeclaredCost

__all__ = [
    "AverageLogprob",
    "DistributionalPerplexity",
    "Gini",
    "MinTokenProbability",
    "SelfCertainty",
    "TokenEntropy",
    "TokenSignal",
    "average_logprob",
    "distributional_perplexity",
    "gini",
    "mean_entropy",
    "min_logprob",
    "self_certainty",
    "token_metric",
    "token_signals",
]

FloatArray = NDArray[np.float64]


# --- pure metrics: numpy in, float out --------------------------------------


def _chosen(values: ArrayLike) -> FloatArray:
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 1 or array.size == 0:
        raise InputError(f"need a non-empty 1-D array of logprobs, got {array.shape}")
    if not np.all(np.isfinite(array)):
        raise InputError("logprobs must be finite")
    return array


def _renormalised(top: ArrayLike) -> FloatArray:
    """Log-probabilities of each row renormalised to sum to one."""
    array = np.asarray(top, dtype=np.float64)
    if array.ndim != 2 or array.shape[0] == 0 or array.shape[1] < 2:
        raise InputError(
            f"need a (positions, k >= 2) array of top-k logprobs, got {array.shape}"
        )
    if not np.all(np.isfinite(array)):
        raise InputError("top-k logprobs must be finite")
    shifted = array - array.max(axis=1, keepdims=True)
    log_q: FloatArray = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    return log_q


def _entropies(log_q: FloatArray) -> FloatArray:
    return np.asarray(-(np.exp(log_q) * log_q).sum(axis=1), dtype=np.float64)


def average_logprob(chosen: ArrayLike) -> float:
    """Mean log-probability of the chosen tokens (AvgLogP).

    Example:
        >>> round(average_logprob([math.log(0.5), math.log(0.5)]), 4)
        -0.6931
    """
    return float(_chosen(chosen).mean())


def min_logprob(chosen: ArrayLike) -> float:
    """Log-probability of the least likely chosen token."""
    return float(_chosen(chosen).min())


def mean_entropy(top: ArrayLike) -> float:
    """Mean Shannon entropy (nats) of the renormalised top-k rows."""
    return float(_entropies(_renormalised(top)).mean())


def distributional_perplexity(top: ArrayLike) -> float:
    """Mean over positions of exp(entropy): Confident RAG's eq. 9."""
    return float(np.exp(_entropies(_renormalised(top))).mean())


def gini(top: ArrayLike) -> float:
    """Mean over positions of sum_j q_j^2 (the papers' "Gini"; higher = surer)."""
    return float(np.exp(2.0 * _renormalised(top)).sum(axis=1).mean())


def self_certainty(top: ArrayLike) -> float:
    """Mean KL(uniform || q) over positions (Kang et al.'s self-certainty).

    Example:
        >>> round(self_certainty([[math.log(0.5), math.log(0.5)]]), 4)
        0.0
    """
    log_q = _renormalised(top)
    k = log_q.shape[1]
    return float((-math.log(k) - log_q.mean(axis=1)).mean())


# --- turning token lists into metric inputs ---------------------------------


class _TopK(NamedTuple):
    logprobs: FloatArray
    """(positions used, K) logprobs, each row sorted from most likely."""
    k: int
    positions_without: int


_LAST_TOP_K: tuple[Sequence[TokenLogprob], _TopK | None] | None = None
"""The last token list's table: a guard's four distribution signals score the same
list one after another, so three of them reuse it (a miss is merely slower)."""


def _top_k(tokens: Sequence[TokenLogprob]) -> _TopK | None:
    global _LAST_TOP_K
    last = _LAST_TOP_K
    if last is not None and last[0] is tokens:
        return last[1]
    table = _build_top_k(tokens)
    if isinstance(tokens, tuple):  # immutable (an Observation's): safe to reuse
        _LAST_TOP_K = (tokens, table)
    return table


def _build_top_k(tokens: Sequence[TokenLogprob]) -> _TopK | None:
    rows = [sorted((a.logprob for a in t.top_logprobs), reverse=True) for t in tokens]
    usable = [row for row in rows if len(row) >= 2]
    if not usable:
        return None
    k = min(len(row) for row in usable)
    matrix = np.array([row[:k] for row in usable], dtype=np.float64)
    return _TopK(matrix, k, len(rows) - len(usable))


def _clip(value: float) -> float:
    return min(1.0, max(0.0, value))


# --- signals ----------------------------------------------------------------


class TokenSignal(BaseSignal):
    """Base of the token-logprob signals: a raw metric and a monotone map to [0, 1]."""

    name = "token"
    cost = DeclaredCost(llm_calls=0, relative=0.0, inline=True)

    def __init__(self, name: str | None = None) -> None:
        if name is not None:
            self.name = name

    def _score(self, obs: Observation) -> SignalResult:
        if obs.logprobs is None:
            return SignalResult.skipped(self.name, "model exposes no logprobs")
        return self.score_tokens(obs.logprobs)

    def score_tokens(self, tokens: Sequence[TokenLogprob]) -> SignalResult:
        """Score a bare token list (e.g. one Confident-RAG candidate's answer)."""
        if not tokens:
            return SignalResult.skipped(self.name, "answer has no tokens")
        return self._score_nonempty(tokens)

    def raw(self, tokens: Sequence[TokenLogprob]) -> float:
        """The raw metric of a token list; raises InputError if it cannot run."""
        result = self.score_tokens(tokens)
        if result.raw is None:
            raise InputError(f"{self.name}: {result.reason}")
        return result.raw

    def _score_nonempty(self, tokens: Sequence[TokenLogprob]) -> SignalResult:
        raise NotImplementedError


class _ChosenTokenSignal(TokenSignal):
    """A metric of the chosen tokens' logprobs only: exact, needs no alternatives."""

    def _score_nonempty(self, tokens: Sequence[TokenLogprob]) -> SignalResult:
        raw = self.metric(np.array([t.logprob for t in tokens], dtype=np.float64))
        return SignalResult(
            name=self.name,
            confidence=_clip(math.exp(raw)),
            raw=raw,
            details={"n_tokens": len(tokens), "approximate": False},
        )

    def metric(self, chosen: FloatArray) -> float:
        """The raw metric of the chosen tokens' logprobs."""
        raise NotImplementedError


class _DistributionSignal(TokenSignal):
    """A metric of the whole next-token distribution, approximated by the top-k."""

    cost = DeclaredCost(llm_calls=0, relative=0.1, inline=True)

    def _score_nonempty(self, tokens: Sequence[TokenLogprob]) -> SignalResult:
        table = _top_k(tokens)
        if table is None:
            return SignalResult.skipped(
                self.name,
                "needs top_logprobs alternatives (at least 2 per token); none given",
                n_tokens=len(tokens),
            )
        raw = self.metric(table.logprobs)
        return SignalResult(
            name=self.name,
            confidence=_clip(self.to_confidence(raw, table.k)),
            raw=raw,
            details=_approximate_details(tokens, table),
        )

    def metric(self, top: FloatArray) -> float:
        """The raw metric of a (positions, K) array of top-k logprobs."""
        raise NotImplementedError

    def to_confidence(self, raw: float, k: int) -> float:
        """Map the raw metric monotonically to [0, 1], comparable across K."""
        raise NotImplementedError


def _approximate_details(
    tokens: Sequence[TokenLogprob], table: _TopK
) -> dict[str, Any]:
    return {
        "n_tokens": len(tokens),
        "approximate": True,
        "top_k": table.k,
        "positions_used": len(tokens) - table.positions_without,
        "positions_without_alternatives": table.positions_without,
    }


class AverageLogprob(_ChosenTokenSignal):
    """Mean token log-probability; confidence = exp(mean), the geometric-mean prob.

    Example:
        >>> from confguard.testing import make_observation
        >>> AverageLogprob().score(make_observation(probs=[0.5, 0.5])).confidence
        0.5
    """

    name = "avg_logprob"

    def metric(self, chosen: FloatArray) -> float:
        return average_logprob(chosen)


class MinTokenProbability(_ChosenTokenSignal):
    """The least likely chosen token; raw = its logprob, confidence = its prob."""

    name = "min_token_prob"

    def metric(self, chosen: FloatArray) -> float:
        return min_logprob(chosen)


class TokenEntropy(_DistributionSignal):
    """Mean next-token entropy; confidence = 1 - entropy / log K."""

    name = "entropy"

    def metric(self, top: FloatArray) -> float:
        return mean_entropy(top)

    def to_confidence(self, raw: float, k: int) -> float:
        return 1.0 - raw / math.log(k)


class DistributionalPerplexity(_DistributionSignal):
    """Mean exp(entropy) in [1, K]; confidence = (K - DP) / (K - 1)."""

    name = "distributional_perplexity"

    def metric(self, top: FloatArray) -> float:
        return distributional_perplexity(top)

    def to_confidence(self, raw: float, k: int) -> float:
        return (k - raw) / (k - 1)


class Gini(_DistributionSignal):
    """Mean sum of squared probabilities in [1/K, 1]; rescaled linearly to [0, 1]."""

    name = "gini"

    def metric(self, top: FloatArray) -> float:
        return gini(top)

    def to_confidence(self, raw: float, k: int) -> float:
        return (raw - 1.0 / k) / (1.0 - 1.0 / k)


class SelfCertainty(_DistributionSignal):
    """Mean KL(uniform || q) >= 0; confidence = 1 - exp(-KL / log K).

    Example:
        >>> from confguard.testing import make_observation, token
        >>> obs = make_observation(logprobs=[token("Paris", 0.5, {"Lyon": 0.5})])
        >>> SelfCertainty().score(obs).confidence
        0.0
    """

    name = "self_certainty"

    def metric(self, top: FloatArray) -> float:
        return self_certainty(top)

    def to_confidence(self, raw: float, k: int) -> float:
        return 1.0 - math.exp(-raw / math.log(k))


def token_signals() -> dict[str, type[TokenSignal]]:
    """The registered signals that read only the answer's token logprobs, by name.

    Example:
        >>> sorted(token_signals())[:3]
        ['avg_logprob', 'distributional_perplexity', 'entropy']
    """
    found = {n: registry.get("signal", n) for n in registry.names("signal")}
    return {n: f for n, f in found.items() if _is_token_signal(f)}


def _is_token_signal(factory: object) -> TypeGuard[type[TokenSignal]]:
    return isinstance(factory, type) and issubclass(factory, TokenSignal)


def token_metric(name: str, logprobs: object) -> float:
    """The raw metric `name` of a token list (any shape `normalize` accepts).

    `name` is a signal registered in `confguard.registry` that is a `TokenSignal`.

    Example:
        >>> from confguard.testing import token
        >>> round(token_metric("entropy", [token("a", 0.5, {"b": 0.5})]), 4)
        0.6931
    """
    known = registry.names("signal")
    factory = registry.get("signal", name) if name in known else None
    if not _is_token_signal(factory):
        raise UnknownComponentError("token metric", name, sorted(token_signals()))
    return factory().raw(normalize(logprobs))
