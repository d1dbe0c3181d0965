"""One fitted combination per kind of request, chosen by whether a signal ran.

Signals behave differently on different kinds of request: on answers over
retrieved passages, minimum token probability and answer support rank well; on
answers over passages a caller supplies (some of them misleading), the model's
disagreement with the context (RCR) and sampling consistency rank better. One
logistic fit over both mixes the two and ranks each worse than a fit of its own.
`StratifiedCombiner` holds a fit per kind and picks by whether the signal `by` is
ok (the `retrieval` signal is ok exactly when the contexts carry retrieval scores).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from confguard.results import SignalResult
from confguard.scoring.aggregate import Combined, LogisticCombiner, Span


class StratifiedCombiner(BaseModel):
    """`when_ok` where the signal `by` is ok, else `otherwise`.

    Example:
        >>> def fit(coef):
        ...     return LogisticCombiner(
        ...         intercept=0.0, coefficients={"a": coef}, fill={"a": 0.5}
        ...     )
        >>> combiner = StratifiedCombiner(
        ...     by="retrieval", when_ok=fit(2.0), otherwise=fit(-2.0)
        ... )
        >>> round(combiner.combine([SignalResult(name="a", confidence=1.0)])[0], 3)
        0.119
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["stratified"] = "stratified"
    by: str = Field(min_length=1)
    """The signal whose status picks the fit (ok: `when_ok`; else `otherwise`)."""
    when_ok: LogisticCombiner
    otherwise: LogisticCombiner

    @property
    def name(self) -> str:
        """The name shown in assessments."""
        return "stratified"

    def signal_names(self) -> list[str]:
        """Every signal either fit reads, and `by` itself."""
        fits = (self.when_ok, self.otherwise)
        return list(
            dict.fromkeys([n for f in fits for n in f.signal_names()] + [self.by])
        )

    def combine(self, results: Sequence[SignalResult]) -> Combined:
        """The chosen fit's combination, its reasons led by which fit and why."""
        chosen, why = self._chosen(results)
        value, reasons = chosen.combine(results)
        return value, (why, *reasons)

    def span(self, results: Sequence[SignalResult], pending: Sequence[str]) -> Span:
        """Both fits' spans joined while `by` is pending; else the chosen one's."""
        if self.by in pending:
            spans = [
                fit.span(results, pending) for fit in (self.when_ok, self.otherwise)
            ]
            return min(s[0] for s in spans), max(s[1] for s in spans)
        return self._chosen(results)[0].span(results, pending)

    def _chosen(self, results: Sequence[SignalResult]) -> tuple[LogisticCombiner, str]:
        if signal_ok(results, self.by):
            return self.when_ok, f"stratum: {self.by!r} ok"
        return self.otherwise, f"stratum: {self.by!r} not ok"


def signal_ok(results: Iterable[SignalResult], name: str) -> bool:
    """Whether the signal `name` is among `results` and ok: the rule that picks a
    stratum (fitting scripts split their answers by it too)."""
    return any(r.name == name and r.ok for r in results)


FittedCombiner = Annotated[
    LogisticCombiner | StratifiedCombiner, Field(discriminator="kind")
]
"""A combiner with fitted parameters, as a policy carries it (`kind` tells which)."""
FITTED_TYPES = (LogisticCombiner, StratifiedCombiner)
FITTED_KINDS = tuple(t.model_fields["kind"].default for t in FITTED_TYPES)


__all__ = [
    "FITTED_KINDS",
    "FITTED_TYPES",
    "FittedCombiner",
    "StratifiedCombiner",
    "signal_ok",
]
