"""The pure decision: (policy, assessment, history) -> Decision, reasons in numbers.

Nothing here does I/O, reads a clock or keeps state: the guard's sync and async
shells only execute what `decide` returns.
"""

from __future__ import annotations

from collections.abc import Sequence

from confguard.policy.model import Policy
from confguard.results import (
    Abstain,
    Accept,
    Action,
    Annotate,
    Assessment,
    AttemptRecord,
    Decision,
    Escalate,
    Retry,
    SignalResult,
)

History = Sequence[AttemptRecord | Accept | Annotate | Retry | Escalate | Abstain]


def decide(
    policy: Policy,
    assessment: Assessment,
    history: History = (),
    *,
    can_retry: bool = True,
) -> Decision:
    """Decide what to do with one attempt, given the attempts before it.

    `can_retry=False` tells it the retry controller (e.g. a tenacity stop condition)
    has stopped, so a retry band resolves as if the retries were exhausted.

    Example:
        >>> policy = Policy.from_dict({"thresholds": {"accept": 0.8, "retry": 0.4}})
        >>> decide(policy, Assessment(confidence=0.42)).reason
        "confidence 0.42 < accept 0.80, ≥ retry 0.40: retry 2/3 with strategy 'repeat'"
    """
    past = past_decisions(history)
    missing = _missing_evidence(policy, assessment, past)
    if missing is not None:
        return missing
    confidence = assessment.confidence
    if confidence is None:  # unreachable: _missing_evidence handles it
        return _abstain(policy, "no evidence")
    return _by_band(policy, confidence, past, can_retry)


def past_decisions(history: History) -> tuple[Decision, ...]:
    """The decisions of earlier attempts, from records or decisions."""
    return tuple(h.decision if isinstance(h, AttemptRecord) else h for h in history)


def escalated_to(past: Sequence[Decision]) -> str | None:
    """The route an earlier attempt escalated to, if any."""
    for decision in past:
        if isinstance(decision, Escalate):
            return decision.route
    return None


def _missing_evidence(
    policy: Policy, assessment: Assessment, past: Sequence[Decision]
) -> Decision | None:
    missing = assessment.missing
    if missing and policy.on_missing_evidence == "fail_closed":
        why = "fail_closed: " + "; ".join(_describe(s) for s in missing)
        if policy.fail_closed_action == "escalate":
            return _escalate(policy, why, past)
        return _abstain(policy, f"{why}: abstain")
    if assessment.confidence is None:
        why = "; ".join(_describe(s) for s in missing) or "no signal produced one"
        return _abstain(policy, f"no evidence ({why}): abstain")
    return None


def _describe(result: SignalResult) -> str:
    return f"signal {result.name!r} {result.status.value} ({result.reason})"


def _by_band(
    policy: Policy, confidence: float, past: Sequence[Decision], can_retry: bool
) -> Decision:
    band, prefix = _band(policy, confidence)
    if band == "accept":
        return Accept(reason=f"{prefix}: accept")
    if band == "annotate":
        return _annotate(policy, confidence, f"{prefix}: annotate")
    if band == "retry":
        return _retry(policy, confidence, past, prefix, can_retry)
    if band == "escalate":
        return _escalate(policy, prefix, past)
    return _abstain(policy, f"{prefix}: abstain")


def _band(policy: Policy, confidence: float) -> tuple[Action, str]:
    """The band, and the thresholds either side of the confidence as the reason."""
    band, bands = policy.thresholds.band(confidence), policy.thresholds.set_bands()
    names = [name for name, _ in bands]
    at = names.index(band) if band in names else len(bands)
    sides = []
    if at > 0:
        sides.append("< {} {:.2f}".format(*bands[at - 1]))
    if at < len(bands):
        sides.append("≥ {} {:.2f}".format(*bands[at]))
    return band, f"confidence {confidence:.2f} " + ", ".join(sides)


def _retry(
    policy: Policy,
    confidence: float,
    past: Sequence[Decision],
    prefix: str,
    can_retry: bool,
) -> Decision:
    number, limit = len(past) + 1, policy.retry.max_attempts
    if escalated_to(past) is not None:
        return _exhausted(
            policy, confidence, past, f"{prefix}: no retry after escalation"
        )
    if not can_retry:
        why = f"{prefix}: retries stopped after {number} attempt(s)"
        return _exhausted(policy, confidence, past, why)
    if number >= limit:
        why = f"{prefix}: retries exhausted ({number}/{limit} attempts)"
        return _exhausted(policy, confidence, past, why)
    strategy, wait = policy.retry.strategy_for(number), policy.retry.wait_before(number)
    after = f" after {wait:g}s" if wait else ""
    reason = (
        f"{prefix}: retry {number + 1}/{limit} with strategy {strategy.name!r}{after}"
    )
    return Retry(reason=reason, strategy=strategy, wait_seconds=wait)


def _exhausted(
    policy: Policy, confidence: float, past: Sequence[Decision], why: str
) -> Decision:
    action = policy.on_retries_exhausted
    if action == "annotate":
        return _annotate(policy, confidence, f"{why}: annotate")
    if action == "escalate":
        return _escalate(policy, why, past)
    return _abstain(policy, f"{why}: abstain")


def _annotate(policy: Policy, confidence: float, reason: str) -> Annotate:
    caveat = policy.annotate.caveat.format(confidence=confidence)
    return Annotate(reason=reason, caveat=caveat)


def _escalate(policy: Policy, why: str, past: Sequence[Decision]) -> Decision:
    earlier = escalated_to(past)
    if earlier is not None:  # one escalation per request: no loops between routes
        return _abstain(policy, f"{why}: already escalated to {earlier!r}, abstain")
    route = policy.escalate.route or ""  # the policy validates a route is set
    return Escalate(reason=f"{why}: escalate to {route!r}", route=route)


def _abstain(policy: Policy, reason: str) -> Abstain:
    return Abstain(reason=reason, message=policy.abstain.message)


__all__ = ["History", "decide", "escalated_to", "past_decisions"]
