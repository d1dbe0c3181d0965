"""Signals that read what ConfidentNodePostprocessor wrote on the source nodes.

`QueryEnginePipeline` copies each source node's `NodeScore` into
``observation.metadata["node_scores"]``; these signals turn them into evidence
for the guard. Without the postprocessor they report `skipped`, never a guess.
"""

from __future__ import annotations

from typing import Any

from confguard.observation import Observation
from confguard.results import SignalResult
from confguard.signals.base import BaseSignal, DeclaredCost


class _NodeField(BaseSignal):
    """The best value of one NodeScore field among the scored source nodes."""

    cost = DeclaredCost(relative=0.0)
    field: str = ""

    def __init__(self, name: str) -> None:
        self.name = name

    def _score(self, obs: Observation) -> SignalResult:
        rows = obs.metadata.get("node_scores")
        if rows is None:
            return SignalResult.skipped(
                self.name, "no node scores (the answer did not come through LlamaIndex)"
            )
        values = [r[self.field] for r in rows if _usable(r, self.field)]
        if not values:
            return SignalResult.skipped(self.name, self._missing(rows))
        best = max(values)
        return SignalResult(
            name=self.name,
            confidence=best,
            raw=best,
            details={"nodes": len(values), "values": values},
        )

    def _missing(self, rows: list[dict[str, Any]]) -> str:
        if not rows:
            return "no source node was scored by ConfidentNodePostprocessor"
        return f"no source node has a {self.field} score"


def _usable(row: dict[str, Any], field: str) -> bool:
    return row.get("status") == "scored" and row.get(field) is not None


class NodeAgreement(_NodeField):
    """The share of embedders that found the best source node (0 to 1).

    Example:
        >>> guard = Guard([AverageLogprob(), NodeAgreement()], policy)
    """

    field = "confidence"

    def __init__(self, name: str = "node_agreement") -> None:
        super().__init__(name)


class NodeCredibility(_NodeField):
    """The credibility of the most credible source node (needs a credibility check).

    Example:
        >>> guard = Guard([NodeAgreement(), NodeCredibility()], policy)
    """

    field = "credibility"

    def __init__(self, name: str = "node_credibility") -> None:
        super().__init__(name)


__all__ = ["NodeAgreement", "NodeCredibility"]
