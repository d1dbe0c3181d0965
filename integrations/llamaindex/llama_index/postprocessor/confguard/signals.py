"""Signals that read what ConfidentNodePostprocessor found on the source nodes.

`QueryEnginePipeline` copies each source node's `NodeScore` into
``observation.node_scores``; these signals turn them into evidence for the guard.
Without the postprocessor they report `skipped`, never a guess.
"""

from __future__ import annotations

from confguard.observation import NodeScore, Observation
from confguard.results import SignalResult
from confguard.signals.base import BaseSignal, DeclaredCost


class _NodeField(BaseSignal):
    """The best value of one NodeScore field among the scored source nodes."""

    cost = DeclaredCost(relative=0.0)
    field = ""

    def __init__(self, name: str | None = None) -> None:
        self.name = name or self.name

    def _score(self, obs: Observation) -> SignalResult:
        values = [v for v in map(self._value, obs.node_scores) if v is not None]
        if not values:
            return SignalResult.skipped(self.name, self._missing(obs))
        best = max(values)
        return SignalResult(
            name=self.name,
            confidence=best,
            raw=best,
            details={"nodes": len(values), "values": values},
        )

    def _value(self, score: NodeScore) -> float | None:
        value = getattr(score, self.field)
        if score.status != "scored" or not isinstance(value, float):
            return None
        return value

    def _missing(self, obs: Observation) -> str:
        if obs.pipeline != "llamaindex":
            return "no node scores (the answer did not come through LlamaIndex)"
        if not obs.node_scores:
            return "no source node was scored by ConfidentNodePostprocessor"
        return f"no source node has a {self.field} score"


class NodeAgreement(_NodeField):
    """The share of embedders that found the best source node (0 to 1).

    Example:
        >>> guard = Guard([AverageLogprob(), NodeAgreement()], policy)
    """

    name = "node_agreement"
    field = "confidence"


class NodeCredibility(_NodeField):
    """The credibility of the most credible source node (needs a credibility check).

    Example:
        >>> guard = Guard([NodeAgreement(), NodeCredibility()], policy)
    """

    name = "node_credibility"
    field = "credibility"


__all__ = ["NodeAgreement", "NodeCredibility"]
