"""Claim actions as a table: keep, flag, redact, gate — pure functions of the policy."""

from __future__ import annotations

import re

import pytest

from confguard.claims import ScoredClaim, split_claims
from confguard.exceptions import PolicyError
from confguard.policy import ClaimPolicy, Policy
from confguard.policy.claims import assess_claim, claim_report, decide_claim
from confguard.results import Claim, SignalResult

ANSWER = "Paris is the capital. The Seine flows north. Lyon has two rivers."


def scored(*confidences: float | None, answer: str = ANSWER) -> list[ScoredClaim]:
    """The answer's claims, each with one claim signal at the given confidence."""
    claims = split_claims(answer)
    assert len(claims) == len(confidences)
    return [
        ScoredClaim(claim, (_result(value),))
        for claim, value in zip(claims, confidences, strict=True)
    ]


def _result(value: float | None) -> SignalResult:
    if value is None:
        return SignalResult.skipped("support", "no retrieved contexts")
    return SignalResult(name="support", confidence=value)


@pytest.mark.parametrize(
    ("confidence", "action"),
    [(0.9, "keep"), (0.6, "keep"), (0.59, "flag"), (0.4, "flag"), (0.39, "redact")],
)
def test_each_band_of_a_claims_confidence_has_its_action(
    confidence: float, action: str
) -> None:
    [one] = scored(confidence, answer="Paris is the capital.")
    decision = decide_claim(ClaimPolicy(), assess_claim(ClaimPolicy(), one))
    assert decision.action == action


def test_a_flag_carries_its_caveat_and_a_reason_in_numbers() -> None:
    [one] = scored(0.5, answer="Paris is the capital.")
    decision = decide_claim(ClaimPolicy(), assess_claim(ClaimPolicy(), one))
    assert decision.caveat == "This claim may be inaccurate (confidence 50%)."
    assert decision.reason == "claim 0 confidence 0.50 < keep 0.60, ≥ flag 0.40: flag"


def test_without_a_flag_band_a_weak_claim_is_redacted() -> None:
    policy = ClaimPolicy(flag=None)
    [one] = scored(0.5, answer="Paris is the capital.")
    assert decide_claim(policy, assess_claim(policy, one)).action == "redact"


def test_redaction_replaces_the_claim_and_says_so() -> None:
    report = claim_report(ClaimPolicy(), ANSWER, scored(0.9, 0.1, 0.8))
    assert report.answer == (
        "Paris is the capital. [removed: a claim that was not supported] "
        "Lyon has two rivers."
    )
    [removed] = report.removed
    assert removed.index == 1 and removed.reason.endswith(": redact")
    assert not report.gated
    assert report.reason == "claims: 2 kept, 0 flagged, 1 redacted"


def test_an_empty_note_removes_the_claim_silently() -> None:
    policy = ClaimPolicy(redaction="")
    report = claim_report(policy, ANSWER, scored(0.9, 0.1, 0.8))
    assert report.answer == "Paris is the capital. Lyon has two rivers."


def test_a_failing_essential_claim_gates_the_answer() -> None:
    policy = ClaimPolicy(essential="first")
    report = claim_report(policy, ANSWER, scored(0.1, 0.9, 0.9))
    assert report.gated
    assert report.decisions[0].action == "gate"
    assert report.reason == (
        "claims: claim 0 confidence 0.10 < flag 0.40: essential: abstain"
    )


def test_an_essential_claim_that_passes_does_not_gate() -> None:
    report = claim_report(ClaimPolicy(essential="first"), ANSWER, scored(0.9, 0.1, 0.9))
    assert not report.gated and len(report.removed) == 1


def test_too_little_left_gates_the_answer() -> None:
    report = claim_report(ClaimPolicy(min_kept=0.5), ANSWER, scored(0.9, 0.1, 0.2))
    assert report.gated
    assert report.reason == (
        "claims: 1 of 3 claims kept, share 0.33 < min_kept 0.50: abstain"
    )


def test_a_claim_without_evidence_gets_the_no_evidence_action() -> None:
    flagged = claim_report(ClaimPolicy(), ANSWER, scored(0.9, None, 0.9))
    assert flagged.decisions[1].action == "flag"
    assert "no evidence (no retrieved contexts)" in flagged.decisions[1].reason
    strict = ClaimPolicy(no_evidence="redact", essential="all")
    assert claim_report(strict, ANSWER, scored(0.9, None, 0.9)).gated


def test_minimum_combines_a_claims_signals_by_the_weakest() -> None:
    claim = Claim(index=0, text="Paris.", start=0, end=6)
    results = (
        SignalResult(name="a", confidence=0.9),
        SignalResult(name="b", confidence=0.3),
    )
    assert assess_claim(ClaimPolicy(), ScoredClaim(claim, results)).confidence == 0.6
    low = assess_claim(ClaimPolicy(combiner="minimum"), ScoredClaim(claim, results))
    assert low.confidence == 0.3


def test_the_audit_form_keeps_texts_only_when_asked() -> None:
    report = claim_report(ClaimPolicy(), ANSWER, scored(0.9, 0.1, 0.8))
    bare = report.audit(with_text=False)
    assert "redacted_answer" not in bare
    assert bare["claims"][1] == {
        "index": 1,
        "span": [22, 44],
        "essential": False,
        "confidence": 0.1,
        "action": "redact",
        "why": "claim 1 confidence 0.10 < flag 0.40: redact",
    }
    full = report.audit(with_text=True)
    assert full["redacted_answer"] == report.answer
    assert full["claims"][1]["text"] == "The Seine flows north."


def test_the_claims_section_reads_from_yaml_and_back() -> None:
    policy = Policy.from_yaml(
        "thresholds: {accept: 0.7}\n"
        "claims: {keep: 0.7, flag: 0.5, essential: first, on_gate: abstain}\n"
    )
    assert policy.claims == ClaimPolicy(keep=0.7, flag=0.5, essential="first")
    assert Policy.from_dict(policy.to_dict()) == policy


@pytest.mark.parametrize(
    ("claims", "message"),
    [
        ({"keep": 0.3, "flag": 0.4}, "claims.flag: must be <= claims.keep (0.3)"),
        ({"keep": 1.5}, "claims.keep: must be in [0, 1], got 1.5"),
        ({"essential": "some"}, "claims.essential: unknown value 'some'"),
        ({"caveat": "{score}"}, "claims.caveat: invalid template"),
        ({"bogus": 1}, "claims.bogus: unknown field"),
    ],
)
def test_a_wrong_claims_section_is_a_policy_error_naming_the_field(
    claims: dict[str, object], message: str
) -> None:
    with pytest.raises(
        PolicyError,
        match=re.escape(message),
    ):
        Policy.from_dict({"claims": claims})


def test_escalating_on_a_gate_needs_a_route() -> None:
    with pytest.raises(PolicyError, match=r"escalate\.route: required"):
        Policy.from_dict({"claims": {"on_gate": "escalate"}})
