"""decide(): a pure function of policy, assessment and history, over a case table."""

from __future__ import annotations

from typing import Any

import pytest

from confguard.policy import Policy, decide
from confguard.results import (
    Abstain,
    Accept,
    Annotate,
    Assessment,
    Attempt,
    AttemptRecord,
    Decision,
    Escalate,
    Retry,
    RetryStrategy,
    SignalResult,
)
from confguard.strategies import more_context, temperature
from confguard.testing import make_observation

BASE: dict[str, Any] = {
    "thresholds": {"accept": 0.8, "annotate": 0.6, "retry": 0.4, "escalate": 0.2},
    "retry": {"max_attempts": 3, "strategies": [temperature(0.0), more_context(8)]},
    "escalate": {"route": "human"},
    "annotate": {"caveat": "check this ({confidence:.0%})"},
    "abstain": {"message": "no answer"},
}
T0 = temperature(0.0)
MORE = more_context(8)
RETRY = Retry(reason="earlier", strategy=T0)
ESCALATED = Escalate(reason="earlier", route="human")
SKIPPED = SignalResult.skipped("logprob", "model exposes no logprobs")
FAILED = SignalResult.failed("judge", "TimeoutError: slow")


def policy(**changes: Any) -> Policy:
    """BASE with top-level sections replaced or merged."""
    data = {**BASE}
    for key, value in changes.items():
        merge = isinstance(value, dict) and isinstance(data.get(key), dict)
        data[key] = {**data[key], **value} if merge else value
    return Policy.from_dict(data)


def conf(value: float, *extra: SignalResult) -> Assessment:
    return Assessment(
        confidence=value,
        signals=(SignalResult(name="s", confidence=value), *extra),
    )


def missing(*signals: SignalResult, value: float | None = None) -> Assessment:
    return Assessment(confidence=value, signals=signals)


CASES: list[tuple[str, Policy, Assessment, tuple[Decision, ...], Decision]] = [
    (
        "above accept",
        policy(),
        conf(0.85),
        (),
        Accept(reason="confidence 0.85 ≥ accept 0.80: accept"),
    ),
    (
        "exactly at accept",
        policy(),
        conf(0.8),
        (),
        Accept(reason="confidence 0.80 ≥ accept 0.80: accept"),
    ),
    (
        "annotate band fills the caveat",
        policy(),
        conf(0.7),
        (),
        Annotate(
            reason="confidence 0.70 < accept 0.80, ≥ annotate 0.60: annotate",
            caveat="check this (70%)",
        ),
    ),
    (
        "just below accept shows the digits that tell them apart",
        policy(),
        conf(0.7995),
        (),
        Annotate(
            reason="confidence 0.799 < accept 0.800, ≥ annotate 0.600: annotate",
            caveat="check this (80%)",
        ),
    ),
    (
        "first retry uses the first strategy",
        policy(thresholds={"annotate": None}),
        conf(0.42),
        (),
        Retry(
            reason="confidence 0.42 < accept 0.80, ≥ retry 0.40: "
            "retry 2/3 with strategy 'temperature'",
            strategy=T0,
        ),
    ),
    (
        "second retry uses the next strategy",
        policy(),
        conf(0.5),
        (RETRY,),
        Retry(
            reason="confidence 0.50 < annotate 0.60, ≥ retry 0.40: "
            "retry 3/3 with strategy 'more_context'",
            strategy=MORE,
        ),
    ),
    (
        "retries exhausted abstain by default",
        policy(),
        conf(0.5),
        (RETRY, RETRY),
        Abstain(
            reason="confidence 0.50 < annotate 0.60, ≥ retry 0.40: "
            "retries exhausted (3/3 attempts): abstain",
            message="no answer",
        ),
    ),
    (
        "retries exhausted can escalate",
        policy(on_retries_exhausted="escalate"),
        conf(0.5),
        (RETRY, RETRY),
        Escalate(
            reason="confidence 0.50 < annotate 0.60, ≥ retry 0.40: "
            "retries exhausted (3/3 attempts): escalate to 'human'",
            route="human",
        ),
    ),
    (
        "retries exhausted can annotate",
        policy(on_retries_exhausted="annotate"),
        conf(0.5),
        (RETRY, RETRY),
        Annotate(
            reason="confidence 0.50 < annotate 0.60, ≥ retry 0.40: "
            "retries exhausted (3/3 attempts): annotate",
            caveat="check this (50%)",
        ),
    ),
    (
        "one attempt in all never retries",
        policy(retry={"max_attempts": 1}),
        conf(0.5),
        (),
        Abstain(
            reason="confidence 0.50 < annotate 0.60, ≥ retry 0.40: "
            "retries exhausted (1/1 attempts): abstain",
            message="no answer",
        ),
    ),
    (
        "backoff grows and is stated",
        policy(retry={"backoff_seconds": 0.5, "backoff_multiplier": 2.0}),
        conf(0.5),
        (RETRY,),
        Retry(
            reason="confidence 0.50 < annotate 0.60, ≥ retry 0.40: "
            "retry 3/3 with strategy 'more_context' after 1s",
            strategy=MORE,
            wait_seconds=1.0,
        ),
    ),
    (
        "no strategies means repeat",
        policy(retry={"strategies": []}),
        conf(0.5),
        (),
        Retry(
            reason="confidence 0.50 < annotate 0.60, ≥ retry 0.40: "
            "retry 2/3 with strategy 'repeat'",
            strategy=RetryStrategy(name="repeat"),
        ),
    ),
    (
        "escalate band",
        policy(),
        conf(0.25),
        (),
        Escalate(
            reason="confidence 0.25 < retry 0.40, ≥ escalate 0.20: escalate to 'human'",
            route="human",
        ),
    ),
    (
        "never escalates twice",
        policy(),
        conf(0.25),
        (ESCALATED,),
        Abstain(
            reason="confidence 0.25 < retry 0.40, ≥ escalate 0.20: "
            "already escalated to 'human', abstain",
            message="no answer",
        ),
    ),
    (
        "no retry after an escalation",
        policy(),
        conf(0.5),
        (ESCALATED,),
        Abstain(
            reason="confidence 0.50 < annotate 0.60, ≥ retry 0.40: "
            "no retry after escalation: abstain",
            message="no answer",
        ),
    ),
    (
        "an escalated answer can still be accepted",
        policy(),
        conf(0.9),
        (ESCALATED,),
        Accept(reason="confidence 0.90 ≥ accept 0.80: accept"),
    ),
    (
        "below every band",
        policy(),
        conf(0.1),
        (),
        Abstain(reason="confidence 0.10 < escalate 0.20: abstain", message="no answer"),
    ),
    (
        "omitted bands are skipped",
        policy(thresholds={"annotate": None, "retry": None, "escalate": None}),
        conf(0.5),
        (),
        Abstain(reason="confidence 0.50 < accept 0.80: abstain", message="no answer"),
    ),
    (
        "fail_closed abstains naming the missing signal",
        policy(),
        conf(0.95, SKIPPED),
        (),
        Abstain(
            reason="fail_closed: signal 'logprob' skipped "
            "(model exposes no logprobs): abstain",
            message="no answer",
        ),
    ),
    (
        "fail_closed names every missing signal",
        policy(),
        conf(0.95, SKIPPED, FAILED),
        (),
        Abstain(
            reason="fail_closed: signal 'logprob' skipped (model exposes no logprobs); "
            "signal 'judge' failed (TimeoutError: slow): abstain",
            message="no answer",
        ),
    ),
    (
        "fail_closed can escalate",
        policy(fail_closed_action="escalate"),
        conf(0.95, FAILED),
        (),
        Escalate(
            reason="fail_closed: signal 'judge' failed (TimeoutError: slow): "
            "escalate to 'human'",
            route="human",
        ),
    ),
    (
        "ignore decides on the ok signals",
        policy(on_missing_evidence="ignore"),
        conf(0.95, SKIPPED),
        (),
        Accept(reason="confidence 0.95 ≥ accept 0.80: accept"),
    ),
    (
        "ignore with no ok signal never accepts",
        policy(on_missing_evidence="ignore"),
        missing(SKIPPED),
        (),
        Abstain(
            reason="no evidence (signal 'logprob' skipped "
            "(model exposes no logprobs)): abstain",
            message="no answer",
        ),
    ),
    (
        "no signals at all is no evidence",
        policy(on_missing_evidence="ignore"),
        missing(),
        (),
        Abstain(
            reason="no evidence (no signal produced one): abstain", message="no answer"
        ),
    ),
]


@pytest.mark.parametrize(
    ("policy_", "assessment", "history", "expected"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_decide(
    policy_: Policy,
    assessment: Assessment,
    history: tuple[Decision, ...],
    expected: Decision,
) -> None:
    assert decide(policy_, assessment, history) == expected


def test_a_stopped_retry_controller_resolves_the_retry_band_as_exhausted() -> None:
    decision = decide(policy(), conf(0.5), (), can_retry=False)
    assert decision == Abstain(
        reason="confidence 0.50 < annotate 0.60, ≥ retry 0.40: "
        "retries stopped after 1 attempt(s): abstain",
        message="no answer",
    )


def test_history_of_records_counts_like_history_of_decisions() -> None:
    record = AttemptRecord(
        attempt=Attempt(number=1),
        observation=make_observation(),
        assessment=conf(0.5),
        decision=RETRY,
        latency_seconds=0.0,
    )
    assert decide(policy(), conf(0.5), (record,)) == decide(
        policy(), conf(0.5), (RETRY,)
    )


def test_decide_is_pure_same_inputs_same_decision() -> None:
    args = (policy(), conf(0.42), (RETRY,))
    assert decide(*args) == decide(*args)
    assert args[2] == (RETRY,)
