"""Claim actions: keep, flag, redact, or gate the whole answer — a pure function.

The policy's `claims:` section (`ClaimPolicy`) combines each claim's signals into
a confidence (`combiner`), then decides per claim: at or above `keep` it is kept,
at or above `flag` kept with a caveat, below that redacted (replaced in the answer
by the `redaction` note). A failing claim marked essential, or fewer than
`min_kept` of the claims kept, gates the answer: it abstains or escalates
(`on_gate`), whatever the answer-level bands said. Nothing here does I/O.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, ClassVar, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    StrictFloat,
    ValidationError,
    field_validator,
    model_validator,
)

from confguard.claims.scorer import ScoredClaim
from confguard.exceptions import PolicyError
from confguard.policy.templates import checked_caveat
from confguard.results import (
    Accept,
    Annotate,
    ClaimAssessment,
    ClaimDecision,
    ClaimReport,
    Decision,
)
from confguard.scoring.aggregate import assess, mean, minimum

GateAction = Literal["abstain", "escalate"]


class ClaimPolicy(BaseModel):
    """What each claim's confidence leads to, and when the answer is gated.

    Example:
        >>> policy = Policy.from_yaml('''
        ... thresholds: {accept: 0.7}
        ... claims: {keep: 0.6, flag: 0.4, essential: first, min_kept: 0.5}
        ... ''')
        >>> policy.claims.flag
        0.4
    """

    model_config = ConfigDict(frozen=True, extra="forbid")
    section: ClassVar[str] = "claims"

    keep: StrictFloat = 0.6
    """A claim at or above it is kept as it is."""
    flag: StrictFloat | None = 0.4
    """At or above it (below keep) the claim is kept with a caveat; None: no flag."""
    combiner: Literal["mean", "minimum"] = "mean"
    """How a claim's signal confidences combine."""
    essential: Literal["none", "first", "all"] = "none"
    """Which claims gate the answer when they fail (a splitter may mark more)."""
    min_kept: StrictFloat = 0.5
    """The smallest share of claims kept (or flagged); fewer gates the answer."""
    on_gate: GateAction = "abstain"
    """What a gated answer does (escalate uses escalate.route)."""
    no_evidence: Literal["keep", "flag", "redact"] = "flag"
    """What a claim with no evidence at all (every signal skipped) gets."""
    caveat: str = "This claim may be inaccurate (confidence {confidence:.0%})."
    redaction: str = "[removed: a claim that was not supported]"
    """What replaces a redacted claim in the answer ("" removes it silently)."""

    @model_validator(mode="wrap")
    @classmethod
    def _as_policy_error(cls, data: Any, handler: Any) -> Any:
        try:
            return handler(data)
        except ValidationError as exc:
            from confguard.policy.model import _policy_error  # model imports us

            raise _policy_error(exc, cls.section) from None

    @field_validator("keep", "flag", "min_kept")
    @classmethod
    def _unit(cls, value: float | None) -> float | None:
        if value is not None and not (math.isfinite(value) and 0 <= value <= 1):
            raise ValueError(f"must be in [0, 1], got {value}")
        return value

    @field_validator("caveat")
    @classmethod
    def _template(cls, value: str) -> str:
        return checked_caveat(value)

    @model_validator(mode="after")
    def _ordered(self) -> ClaimPolicy:
        if self.flag is not None and self.flag > self.keep:
            raise PolicyError(
                f"claims.flag: must be <= claims.keep ({self.keep}), got {self.flag}",
                field="claims.flag",
            )
        return self


def assess_claim(policy: ClaimPolicy, scored: ScoredClaim) -> ClaimAssessment:
    """One claim's signals combined into its assessment (essential marked)."""
    combiner = mean() if policy.combiner == "mean" else minimum()
    combined = assess(scored.results, combiner)
    claim = scored.claim
    if _essential(policy, claim.index) and not claim.essential:
        claim = claim.model_copy(update={"essential": True})
    return ClaimAssessment(
        claim=claim,
        confidence=combined.confidence,
        signals=combined.signals,
        reasons=combined.reasons,
        combiner=combined.combiner,
    )


def _essential(policy: ClaimPolicy, index: int) -> bool:
    return policy.essential == "all" or (policy.essential == "first" and index == 0)


def decide_claim(policy: ClaimPolicy, assessment: ClaimAssessment) -> ClaimDecision:
    """Keep, flag, redact, or gate (a failing essential claim) one claim.

    Example:
        >>> decide_claim(ClaimPolicy(), assessment_at(0.5)).action
        'flag'
    """
    index, confidence = assessment.claim.index, assessment.confidence
    if confidence is None:
        return _no_evidence(policy, assessment)
    where = f"claim {index} confidence {confidence:.2f}"
    if confidence >= policy.keep:
        return ClaimDecision(index=index, action="keep", reason=f"{where} ≥ keep")
    if policy.flag is not None and confidence >= policy.flag:
        caveat = policy.caveat.format(confidence=confidence)
        reason = f"{where} < keep {policy.keep:.2f}, ≥ flag {policy.flag:.2f}: flag"
        return ClaimDecision(index=index, action="flag", reason=reason, caveat=caveat)
    below = policy.flag if policy.flag is not None else policy.keep
    reason = f"{where} < {'flag' if policy.flag is not None else 'keep'} {below:.2f}"
    if assessment.claim.essential:
        return ClaimDecision(index=index, action="gate", reason=f"{reason}: essential")
    return ClaimDecision(index=index, action="redact", reason=f"{reason}: redact")


def _no_evidence(policy: ClaimPolicy, assessment: ClaimAssessment) -> ClaimDecision:
    index, action = assessment.claim.index, policy.no_evidence
    why = "; ".join(s.reason or s.status.value for s in assessment.missing)
    reason = f"claim {index}: no evidence ({why or 'no claim signal'}): {action}"
    if action == "redact" and assessment.claim.essential:
        return ClaimDecision(index=index, action="gate", reason=f"{reason}, essential")
    caveat = policy.caveat.format(confidence=0.0) if action == "flag" else None
    return ClaimDecision(index=index, action=action, reason=reason, caveat=caveat)


def claim_report(
    policy: ClaimPolicy, answer: str, scored: Sequence[ScoredClaim]
) -> ClaimReport:
    """Every claim assessed and decided, the redacted answer, and whether it gates."""
    claims = tuple(assess_claim(policy, s) for s in scored)
    decisions = tuple(decide_claim(policy, a) for a in claims)
    gate = gate_reason(policy, decisions, final=True)
    return ClaimReport(
        claims=claims,
        decisions=decisions,
        answer=redacted(answer, claims, decisions, policy.redaction),
        gated=gate is not None,
        reason=gate or _summary(decisions),
    )


def gate_reason(
    policy: ClaimPolicy, decisions: Sequence[ClaimDecision], *, final: bool
) -> str | None:
    """Why the claims gate the answer, or None. Before the last claim (`final`
    False) too few kept gates only once it can no longer be made up."""
    for decision in decisions:
        if decision.action == "gate":
            return f"claims: {decision.reason}: {policy.on_gate}"
    if not decisions:
        return None
    kept = sum(d.action in ("keep", "flag") for d in decisions)
    share = kept / len(decisions)
    if share < policy.min_kept and (final or (kept == 0 and len(decisions) > 1)):
        return (
            f"claims: {kept} of {len(decisions)} claims kept, share {share:.2f} < "
            f"min_kept {policy.min_kept:.2f}: {policy.on_gate}"
        )
    return None


def _summary(decisions: Sequence[ClaimDecision]) -> str:
    counts = {a: sum(d.action == a for d in decisions) for a in ("keep", "flag")}
    removed = sum(d.action == "redact" for d in decisions)
    return (
        f"claims: {counts['keep']} kept, {counts['flag']} flagged, {removed} redacted"
    )


def redacted(
    answer: str,
    claims: Sequence[ClaimAssessment],
    decisions: Sequence[ClaimDecision],
    note: str,
) -> str:
    """`answer` with each redacted claim replaced by `note` ("" drops it)."""
    parts, cursor = [], 0
    for assessment, decision in zip(claims, decisions, strict=True):
        claim = assessment.claim
        if decision.action not in ("redact", "gate"):
            continue
        parts.append(answer[cursor : claim.start] + note)
        cursor = claim.end
        if not note:  # drop the white space after it too
            while cursor < len(answer) and answer[cursor].isspace():
                cursor += 1
    parts.append(answer[cursor:])
    return "".join(parts).strip() if not note else "".join(parts)


def with_claims(
    decision: Decision, report: ClaimReport | None, gate: Decision | None
) -> Decision:
    """The answer's decision once its claims are known: `gate` (the abstention or
    escalation the policy builds) replaces an accept or annotate when they gate."""
    if report is None or not isinstance(decision, Accept | Annotate):
        return decision
    if report.gated and gate is not None:
        return gate
    if report.removed or report.flagged:
        return decision.model_copy(
            update={"reason": f"{decision.reason}; {report.reason}"}
        )
    return decision


__all__ = [
    "ClaimPolicy",
    "GateAction",
    "assess_claim",
    "claim_report",
    "decide_claim",
    "gate_reason",
    "redacted",
    "with_claims",
]
