"""The pure decision: (policy, assessment, history) -> Decision, reasons in numbers.

Nothing here does I/O, reads a clock or keeps state: the guard's sync and async
shells only execute what `decide` returns.

The order: the policy's rules first, then missing evidence (fail_closed), then the
confidence bands (a stratum's, when one picks the request out; the policy's own
otherwise). The first rule whose condition holds decides, except that an
accept or annotate rule is passed over when evidence is missing under fail_closed, or
when no signal produced a confidence: a rule can make a decision stricter than
fail_closed, never looser. A retry rule retries like the retry band (max_attempts, a
stopped retry controller, no retry after an escalation) and resolves as
`on_retries_exhausted` when it cannot; an escalate rule escalates once per request
like the escalate band.
"""

from __future__ import annotations

from collections.abc import Sequence

from confguard.policy.claims import ClaimPolicy
from confguard.policy.conditions import Results
from confguard.policy.model import Policy, Thresholds
from confguard.policy.rules import Rule
from confguard.results import (
    Abstain,
    Accept,
    Action,
    Annotate,
    Assessment,
    AttemptRecord,
    ClaimReport,
    Decision,
    Escalate,
    Retry,
    RetryStrategy,
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
    results = {s.name: s for s in assessment.signals}
    ruled = _first_rule(policy, results, missing is not None)
    if ruled is not None:
        confidence = assessment.confidence
        return _by_rule(policy, ruled, confidence, past, can_retry, missing)
    if missing is not None:
        return missing
    confidence = assessment.confidence
    if confidence is None:  # unreachable: _missing_evidence handles it
        return _abstain(policy, "no evidence")
    return _by_band(policy, confidence, past, can_retry, results)


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


def _first_rule(policy: Policy, results: Results, blocked: bool) -> Rule | None:
    """The first rule that holds; accept and annotate ones are passed over when
    evidence is missing (`blocked`): a rule never loosens fail_closed."""
    for rule in policy.rules:
        if not (rule.permissive and blocked) and rule.when.holds(results):
            return rule
    return None


def _by_rule(
    policy: Policy,
    rule: Rule,
    confidence: float | None,
    past: Sequence[Decision],
    can_retry: bool,
    missing: Decision | None,
) -> Decision:
    """What a rule whose condition holds decides (confidence is set unless it is
    retry, escalate or abstain: permissive rules are passed over without one)."""
    why = f"rule {rule.label}" + (f": {rule.reason}" if rule.reason else "")
    if rule.then == "accept":
        return Accept(reason=f"{why}: accept")
    if rule.then == "annotate":
        caveat = (rule.caveat or policy.annotate.caveat).format(confidence=confidence)
        return Annotate(reason=f"{why}: annotate", caveat=caveat)
    if rule.then == "retry":
        return _retry(policy, confidence, past, why, can_retry, rule.strategy, missing)
    if rule.then == "escalate":
        return _escalate(policy, why, past, rule.route)
    message = rule.message or policy.abstain.message
    return Abstain(reason=f"{why}: abstain", message=message)


def _describe(result: SignalResult) -> str:
    return f"signal {result.name!r} {result.status.value} ({result.reason})"


def _by_band(
    policy: Policy,
    confidence: float,
    past: Sequence[Decision],
    can_retry: bool,
    results: Results,
) -> Decision:
    thresholds, stratum = policy.thresholds_for(results)
    band, prefix = _band(thresholds, confidence)
    if stratum is not None:
        prefix = f"stratum {stratum.label}: {prefix}"
    if band == "accept":
        return Accept(reason=f"{prefix}: accept")
    if band == "annotate":
        return _annotate(policy, confidence, f"{prefix}: annotate")
    if band == "retry":
        return _retry(policy, confidence, past, prefix, can_retry, None, None)
    if band == "escalate":
        return _escalate(policy, prefix, past)
    return _abstain(policy, f"{prefix}: abstain")


def _band(thresholds: Thresholds, confidence: float) -> tuple[Action, str]:
    """The band, and the thresholds either side of the confidence as the reason."""
    band, bands = thresholds.band(confidence), thresholds.set_bands()
    names = [name for name, _ in bands]
    at = names.index(band) if band in names else len(bands)
    sides = [
        (op, *bands[i]) for op, i in (("<", at - 1), ("≥", at)) if 0 <= i < len(bands)
    ]
    d = _digits(confidence, [value for _, _, value in sides])
    shown = ", ".join(f"{op} {name} {value:.{d}f}" for op, name, value in sides)
    return band, f"confidence {confidence:.{d}f} {shown}"


def _digits(confidence: float, thresholds: Sequence[float]) -> int:
    """Two decimals, or more where two would show a confidence below a threshold
    as equal to it ("0.03 < accept 0.03")."""
    for d in (2, 3, 4):
        shown = f"{confidence:.{d}f}"
        if all(shown != f"{t:.{d}f}" or confidence == t for t in thresholds):
            return d
    return 4


def _retry(
    policy: Policy,
    confidence: float | None,
    past: Sequence[Decision],
    prefix: str,
    can_retry: bool,
    strategy: RetryStrategy | None,
    missing: Decision | None,
) -> Decision:
    number, limit = len(past) + 1, policy.retry.max_attempts
    why = _no_retry(past, prefix, can_retry, number, limit)
    if why is not None:
        return _exhausted(policy, confidence, past, why, missing)
    strategy = strategy or policy.retry.strategy_for(number)
    wait = policy.retry.wait_before(number)
    after = f" after {wait:g}s" if wait else ""
    reason = (
        f"{prefix}: retry {number + 1}/{limit} with strategy {strategy.name!r}{after}"
    )
    return Retry(reason=reason, strategy=strategy, wait_seconds=wait)


def _no_retry(
    past: Sequence[Decision], prefix: str, can_retry: bool, number: int, limit: int
) -> str | None:
    """Why no retry is possible, or None."""
    if escalated_to(past) is not None:
        return f"{prefix}: no retry after escalation"
    if not can_retry:
        return f"{prefix}: retries stopped after {number} attempt(s)"
    if number >= limit:
        return f"{prefix}: retries exhausted ({number}/{limit} attempts)"
    return None


def _exhausted(
    policy: Policy,
    confidence: float | None,
    past: Sequence[Decision],
    why: str,
    missing: Decision | None = None,
) -> Decision:
    action = policy.on_retries_exhausted
    if action == "annotate" and (missing is not None or confidence is None):
        # Annotating would let the answer through on missing evidence.
        fallback = missing or _abstain(policy, "no evidence: abstain")
        return fallback.model_copy(update={"reason": f"{why}; {fallback.reason}"})
    if action == "annotate" and confidence is not None:
        return _annotate(policy, confidence, f"{why}: annotate")
    if action == "escalate":
        return _escalate(policy, why, past)
    return _abstain(policy, f"{why}: abstain")


def _annotate(policy: Policy, confidence: float, reason: str) -> Annotate:
    caveat = policy.annotate.caveat.format(confidence=confidence)
    return Annotate(reason=reason, caveat=caveat)


def _escalate(
    policy: Policy, why: str, past: Sequence[Decision], route: str | None = None
) -> Decision:
    earlier = escalated_to(past)
    if earlier is not None:  # one escalation per request: no loops between routes
        return _abstain(policy, f"{why}: already escalated to {earlier!r}, abstain")
    route = route or policy.escalate.route or ""  # the policy validates one is set
    return Escalate(reason=f"{why}: escalate to {route!r}", route=route)


def claims_gate(
    policy: Policy,
    report: ClaimReport | None,
    history: History = (),
    claims: ClaimPolicy | None = None,
) -> Decision | None:
    """The abstention or escalation of an answer its claims gate (None: they do
    not); an escalation happens once per request, as everywhere. `claims` is the
    claim policy in force (default: the policy's `claims` section)."""
    claims = claims or policy.claims
    if report is None or not report.gated or claims is None:
        return None
    if claims.on_gate == "escalate":
        return _escalate(policy, report.reason, past_decisions(history))
    return _abstain(policy, report.reason)


def _abstain(policy: Policy, reason: str) -> Abstain:
    return Abstain(reason=reason, message=policy.abstain.message)


__all__ = ["History", "claims_gate", "decide", "escalated_to", "past_decisions"]
