"""The cost-aware cascade: run cheap signals first, stop once the rest cannot matter.

Signals run in order of declared cost (LLM calls, then the relative tie-breaker).
Before each one, `Cascade.settle` asks whether the signals still to run could move
the final confidence across a policy threshold. Each of them reports a confidence
somewhere in [0, 1] (or fails and drops out), so the combiner can bound where the
combination may still end (`span`: the mean, the weights, the minimum or the
logistic coefficients decide how far); a monotone calibrator maps both ends. When
both ends fall in the same band (`Thresholds.band`), the decision is fixed and the
remaining signals are recorded as skipped, with `cascade_skipped` set and the span in
the reason.

Under ``on_missing_evidence: fail_closed`` a signal that is not ok fixes the decision
on its own, so the cascade stops there too. The bound assumes the signals still to
run would report normally; what it saves is exactly what a remaining signal could
not have changed. Combiners without a `span` method never stop early.

Rules (`Policy.rules`) are evaluated on the results so far with every pending signal
*unknown* (three-valued, `Condition.holds`): the cascade stops early only when the
rules are settled whatever the pending signals report — a rule already holds (it
decides, and no earlier rule can still hold), or every rule is already false (then
the bands decide, as above). A rule on a pending signal whose value could matter
therefore makes that signal run: a rule never silently fails to fire because the
cascade skipped its signal.

`Cascade.plan` is the whole loop as a generator (like a signal's plan): it yields the
next signal to run and receives its result, so the guard's sync and async shells
only execute it.
"""

from __future__ import annotations

from collections.abc import Generator, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from confguard.policy.model import Policy
from confguard.policy.rules import Rule
from confguard.policy.strata import settled_stratum
from confguard.results import SignalResult, SignalStatus
from confguard.scoring.aggregate import Calibrator, Combiner, Span
from confguard.signals.base import Signal

CascadePlan = Generator[Signal, SignalResult, tuple[SignalResult, ...]]
"""Yields each signal to run, receives its result, returns every result."""


@runtime_checkable
class Spanning(Protocol):
    """A combiner that can bound its output before every signal has reported."""

    def span(self, results: Sequence[SignalResult], pending: Sequence[str]) -> Span:
        """The lowest and highest combination once `pending` signals report."""
        ...


def cost_order(signals: Sequence[Signal]) -> tuple[Signal, ...]:
    """Signals from cheapest to dearest by declared cost (stable among equals).

    Example:
        >>> [s.name for s in cost_order([judge, AverageLogprob()])]
        ['avg_logprob', 'judge_correctness']
    """
    return tuple(sorted(signals, key=lambda s: (s.cost.llm_calls, s.cost.relative)))


def calibrated_span(span: Span, calibrator: Calibrator | None) -> Span:
    """Both ends through a monotone calibrator, lowest first."""
    if calibrator is None:
        return span
    ends = (calibrator.calibrate(span[0]), calibrator.calibrate(span[1]))
    return min(ends), max(ends)


@dataclass(frozen=True)
class Cascade:
    """Decides when the signals still to run can no longer change the decision.

    Example:
        >>> cascade = Cascade(mean(), None, Policy())  # accept at 0.8
        >>> done = [SignalResult(name=n, confidence=1.0) for n in "abcd"]
        >>> [r.reason for r in cascade.settle(done, [judge])]
        ["cascade: 'judge_correctness' could move the confidence only within
          [0.80, 1.00], all in band 'accept'"]
    """

    combiner: Combiner
    calibrator: Calibrator | None
    policy: Policy

    def order(self, signals: Sequence[Signal]) -> tuple[Signal, ...]:
        """The order to run signals in: cheapest first."""
        return cost_order(signals)

    def plan(self, signals: Sequence[Signal]) -> CascadePlan:
        """Run cheapest first until the rest cannot change the decision.

        Returns the results in the order of `signals`; skipped ones say why.
        """
        ordered, results = self.order(signals), list[SignalResult]()
        for i, signal in enumerate(ordered):
            settled = self.settle(results, ordered[i:])
            if settled is not None:
                results.extend(settled)
                break
            results.append((yield signal))
        by_name = {r.name: r for r in results}
        return tuple(by_name[s.name] for s in signals)

    def settle(
        self, results: Sequence[SignalResult], pending: Sequence[Signal]
    ) -> tuple[SignalResult, ...] | None:
        """Skipped results for every pending signal, or None to run the next one."""
        if not pending:
            return None
        ruled = self._ruled(results)
        if ruled is None:
            return None  # a rule could still hold or not, depending on the rest
        reason = ruled or self._failed_closed(results)
        reason = reason or self._same_band(results, pending)
        if reason is None:
            return None
        return tuple(_skipped(s.name, reason) for s in pending)

    def _ruled(self, results: Sequence[SignalResult]) -> str | None:
        """Why a rule decides already; "" when every rule is already false; None
        while some rule's outcome still depends on the pending signals."""
        known = {r.name: r for r in results}
        applies = self._permissive_applies(results)
        for rule in self.policy.rules:
            holds = _outlook(rule, self.policy, rule.when.holds(known), applies)
            if holds is None:
                return None
            if holds:
                return f"cascade: rule {rule.label} holds whatever the rest report"
        return ""

    def _permissive_applies(self, results: Sequence[SignalResult]) -> bool | None:
        """Whether decide() would let an accept or annotate rule decide."""
        if self.policy.on_missing_evidence == "fail_closed" and any(
            not r.ok for r in results
        ):
            return False
        return True if any(r.ok for r in results) else None

    def _failed_closed(self, results: Sequence[SignalResult]) -> str | None:
        if self.policy.on_missing_evidence != "fail_closed":
            return None
        missing = [r.name for r in results if not r.ok]
        if not missing:
            return None
        return (
            f"cascade: {missing[0]!r} is not ok and the policy fails closed, "
            "so the decision no longer depends on the rest"
        )

    def _same_band(
        self, results: Sequence[SignalResult], pending: Sequence[Signal]
    ) -> str | None:
        if not isinstance(self.combiner, Spanning) or not any(r.ok for r in results):
            return None
        settled, stratum = settled_stratum(
            self.policy.strata, {r.name: r for r in results}
        )
        if not settled:  # which thresholds apply still depends on the pending ones
            return None
        thresholds = self.policy.thresholds if stratum is None else stratum.thresholds
        names = [s.name for s in pending]
        low, high = calibrated_span(self.combiner.span(results, names), self.calibrator)
        band = thresholds.band(low)
        if band != thresholds.band(high):
            return None
        listed = ", ".join(repr(n) for n in names)
        return (
            f"cascade: {listed} could move the confidence only within "
            f"[{low:.2f}, {high:.2f}], all in band {band!r}"
        )


def _outlook(
    rule: Rule, policy: Policy, holds: bool | None, applies: bool | None
) -> bool | None:
    """Whether the rule decides, given whether decide() lets permissive ones."""
    if holds is False or (rule.permissive and applies is False):
        return False  # a permissive rule is passed over on missing evidence
    if rule.permissive:
        return None if holds is None or applies is None else holds
    exhausted_annotates = policy.on_retries_exhausted == "annotate"
    if rule.then == "retry" and exhausted_annotates and applies is None:
        return None  # exhausted, it annotates or fails closed: not yet known
    return holds


def _skipped(name: str, reason: str) -> SignalResult:
    return SignalResult(
        name=name, status=SignalStatus.SKIPPED, reason=reason, cascade_skipped=True
    )


def skipped_by_cascade(results: Sequence[SignalResult]) -> tuple[str, ...]:
    """The names of the signals the cascade did not run."""
    return tuple(r.name for r in results if r.cascade_skipped)


__all__ = [
    "Cascade",
    "CascadePlan",
    "Spanning",
    "calibrated_span",
    "cost_order",
    "skipped_by_cascade",
]
