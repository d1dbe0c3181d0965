"""The claim-signal contract: `score_claim(claim, obs) -> SignalResult`.

A claim signal is the claim-level twin of a signal: one method, the same
`SignalResult` (ok with a confidence, skipped with the reason, failed with the
error), a declared cost. `BaseClaimSignal.score_claim` never raises: an exception
becomes `failed`, and the wall time is measured.
"""

from __future__ import annotations

import time
from typing import Protocol, runtime_checkable

from confguard.observation import Observation
from confguard.results import Claim, Cost, SignalResult
from confguard.signals.base import DeclaredCost


@runtime_checkable
class ClaimSignal(Protocol):
    """Anything that scores one claim of an observation's answer."""

    name: str
    cost: DeclaredCost

    def score_claim(self, claim: Claim, obs: Observation) -> SignalResult: ...


class BaseClaimSignal:
    """Base for claim signals: implement `_score_claim`; errors become `failed`."""

    name: str = "claim_signal"
    cost: DeclaredCost = DeclaredCost(inline=True)

    def score_claim(self, claim: Claim, obs: Observation) -> SignalResult:
        """Score `claim` of `obs.answer`; an exception becomes a `failed` result."""
        start = time.perf_counter()
        try:
            result = self._score_claim(claim, obs)
        except Exception as exc:  # one claim signal must not take the answer down
            result = SignalResult.failed(self.name, exc)
        seconds = time.perf_counter() - start
        cost = result.cost.model_copy(update={"seconds": seconds})
        return result.model_copy(update={"cost": cost})

    def _score_claim(self, claim: Claim, obs: Observation) -> SignalResult:
        raise NotImplementedError(f"{type(self).__name__} must implement _score_claim")


def with_calls(result: SignalResult, calls: int, tokens: int) -> SignalResult:
    """`result` with the model calls and tokens it took recorded."""
    return result.model_copy(update={"cost": Cost(llm_calls=calls, tokens=tokens)})


__all__ = ["BaseClaimSignal", "ClaimSignal", "with_calls"]
