"""Policy strata: the thresholds (and their certificate) of the requests a condition
picks out, in place of the policy's own."""

from __future__ import annotations

import random
import textwrap
from pathlib import Path
from typing import Any

import pytest
from test_cascade import Counting

from confguard.exceptions import ConfigurationError, PolicyError, UnknownComponentError
from confguard.guard import AsyncGuard, Guard, score_all, score_cascade
from confguard.observation import Context, Observation
from confguard.policy import Policy, Stratum, Thresholds, decide, signal
from confguard.policy.cascade import Cascade, skipped_by_cascade
from confguard.results import (
    Abstain,
    Accept,
    Annotate,
    Assessment,
    Decision,
    Escalate,
    Retry,
    RetryStrategy,
    SignalResult,
)
from confguard.scoring import assess, mean, minimum, weighted
from confguard.scoring.aggregate import Combiner
from confguard.scoring.thresholds import RiskControl, choose_threshold
from confguard.signals import RetrievalSupport
from confguard.signals.base import FunctionSignal
from confguard.testing import make_observation

RETRIEVED: dict[str, Any] = {"signal": "retrieval", "status": "ok"}
CONFLICT: dict[str, Any] = {
    "signal": "situated",
    "detail": {"key": "conflict", "eq": True},
}
CONTROL: dict[str, Any] = {  # certifies any accept threshold in [0.5, 0.7]
    "target_risk": 0.1,
    "delta": 0.05,
    "threshold": 0.5,
    "start": 0.7,
    "upper_bound": 0.09,
    "empirical_risk": 0.05,
    "coverage": 0.6,
    "accepted": 60,
    "errors": 3,
    "n": 100,
}
BASE: dict[str, Any] = {
    "thresholds": {"accept": 0.8, "annotate": 0.6},
    "retry": {"max_attempts": 3},
    "escalate": {"route": "human"},
    "annotate": {"caveat": "check ({confidence:.0%})"},
    "abstain": {"message": "no answer"},
}


def policy(strata: Any, **changes: Any) -> Policy:
    return Policy.from_dict({**BASE, "strata": strata, **changes})


def stratum(when: Any = RETRIEVED, **fields: Any) -> dict[str, Any]:
    """A stratum's mapping: retrieved requests accept from 0.5 unless told."""
    return {"when": when, "thresholds": {"accept": 0.5}, **fields}


def ok(name: str, value: float, **details: Any) -> SignalResult:
    return SignalResult(name=name, confidence=value, details=details)


# -- parsing: every error names strata[i].field ------------------------------------

WITHOUT_N = {key: value for key, value in CONTROL.items() if key != "n"}

# (strata, policy changes, field, message)
ERRORS: list[Any] = [
    pytest.param(
        {"name": "retrieved"},
        {},
        "strata",
        "strata: expected a list of strata, got dict",
        id="not a list",
    ),
    pytest.param(
        ["retrieved"],
        {},
        "strata[0]",
        "strata[0]: expected a mapping, got str 'retrieved'",
        id="item not a mapping",
    ),
    pytest.param(
        [stratum(then="accept")],
        {},
        "strata[0].then",
        "strata[0].then: unknown field; expected name, when, thresholds, risk_control",
        id="unknown field",
    ),
    pytest.param(
        [{"thresholds": {"accept": 0.5}}],
        {},
        "strata[0].when",
        "strata[0].when: required",
        id="missing when",
    ),
    pytest.param(
        [{"when": RETRIEVED}],
        {},
        "strata[0].thresholds",
        "strata[0].thresholds: required",
        id="missing thresholds",
    ),
    pytest.param(
        [stratum(thresholds={"accept": 1.4})],
        {},
        "strata[0].thresholds.accept",
        "strata[0].thresholds.accept: must be in [0, 1], got 1.4",
        id="threshold out of range",
    ),
    pytest.param(
        [stratum(thresholds={"accept": 0.5, "annotate": 0.7})],
        {},
        "strata[0].thresholds.annotate",
        "strata[0].thresholds.annotate: must be <= strata[0].thresholds.accept (0.5), "
        "got 0.7 "
        "(bands run accept >= annotate >= retry >= escalate)",
        id="thresholds out of order",
    ),
    pytest.param(
        [stratum(thresholds={"acept": 0.5})],
        {},
        "strata[0].thresholds.acept",
        "strata[0].thresholds.acept: unknown field",
        id="unknown threshold",
    ),
    pytest.param(
        [stratum(thresholds={"accept": None})],
        {},
        "strata[0].thresholds",
        "strata[0].thresholds: set at least one threshold",
        id="no threshold set",
    ),
    pytest.param(
        [stratum(), stratum(thresholds={"accept": 2})],
        {},
        "strata[1].thresholds.accept",
        "strata[1].thresholds.accept: must be in [0, 1], got 2.0",
        id="the second stratum is named by its index",
    ),
    pytest.param(
        [stratum(when="retrieval ok")],
        {},
        "strata[0].when",
        "strata[0].when: expected a mapping, got str 'retrieval ok'",
        id="when not a mapping",
    ),
    pytest.param(
        [stratum(when={"signal": "retrieval", "confidence": {"lx": 0.5}})],
        {},
        "strata[0].when.confidence.lx",
        "strata[0].when.confidence.lx: unknown comparison; expected lt, le, gt, ge",
        id="bad condition",
    ),
    pytest.param(
        [stratum(when={"any": [RETRIEVED, {"signal": "retrieval", "status": "okay"}]})],
        {},
        "strata[0].when.any[1].status",
        "strata[0].when.any[1].status: unknown status 'okay'; expected 'ok', "
        "'skipped' or 'failed'",
        id="bad nested condition",
    ),
    pytest.param(
        [stratum(risk_control=WITHOUT_N)],
        {},
        "strata[0].risk_control.n",
        "strata[0].risk_control.n: required",
        id="risk_control missing a field",
    ),
    pytest.param(
        [stratum(risk_control={**CONTROL, "alpha": 0.1})],
        {},
        "strata[0].risk_control.alpha",
        "strata[0].risk_control.alpha: unknown field",
        id="risk_control unknown field",
    ),
    pytest.param(
        [stratum(risk_control=0.1)],
        {},
        "strata[0].risk_control",
        "strata[0].risk_control: expected a mapping, got float 0.1",
        id="risk_control not a mapping",
    ),
    pytest.param(
        [stratum(thresholds={"accept": 0.45}, risk_control=CONTROL)],
        {},
        "strata[0].thresholds.accept",
        "strata[0].thresholds.accept: 0.45 is outside the certified range "
        "[0.5, 0.7] of its risk_control; the guarantee would not hold",
        id="accept below its certified range",
    ),
    pytest.param(
        [stratum(thresholds={"accept": 0.75}, risk_control=CONTROL)],
        {},
        "strata[0].thresholds.accept",
        "strata[0].thresholds.accept: 0.75 is outside the certified range "
        "[0.5, 0.7] of its risk_control; the guarantee would not hold",
        id="accept above its certified range",
    ),
    pytest.param(
        [stratum(thresholds={"accept": None, "annotate": 0.6}, risk_control=CONTROL)],
        {},
        "strata[0].thresholds.accept",
        "strata[0].thresholds.accept: required, since risk_control certifies an "
        "accept threshold in [0.5, 0.7]",
        id="a certificate but no accept threshold",
    ),
    pytest.param(
        [stratum(name="retrieved"), stratum(name="retrieved")],
        {},
        "strata[1].name",
        "strata[1].name: 'retrieved' is also strata[0]'s name",
        id="duplicate names",
    ),
    pytest.param(
        [stratum(name="")],
        {},
        "strata[0].name",
        "strata[0].name: expected a non-empty string, got ''",
        id="empty name",
    ),
    pytest.param(
        [stratum(thresholds={"accept": 0.5, "escalate": 0.2})],
        {"escalate": {}},
        "escalate.route",
        "escalate.route: required, since the policy can escalate "
        "(thresholds.escalate, a stratum's, on_retries_exhausted or "
        "fail_closed_action)",
        id="escalate threshold without a route",
    ),
]


@pytest.mark.parametrize(("strata", "changes", "field", "message"), ERRORS)
def test_a_bad_stratum_is_a_policy_error_naming_its_field(
    strata: Any, changes: dict[str, Any], field: str, message: str
) -> None:
    with pytest.raises(PolicyError) as caught:
        policy(strata, **changes)
    assert caught.value.field == field
    assert str(caught.value) == message


def test_a_stratum_built_in_code_is_checked_like_its_yaml() -> None:
    built = Stratum(
        when=signal("retrieval").ok,
        thresholds=Thresholds(accept=0.45),
        risk_control=RiskControl(**CONTROL),
    )
    with pytest.raises(PolicyError) as caught:
        Policy(strata=(built,))
    assert caught.value.field == "strata[0].thresholds.accept"


def test_an_accept_threshold_inside_its_certified_range_is_kept() -> None:
    for accept in (0.5, 0.6, 0.7):
        kept = policy([stratum(thresholds={"accept": accept}, risk_control=CONTROL)])
        assert kept.strata[0].thresholds.accept == accept
        assert kept.strata[0].risk_control == RiskControl(**CONTROL)


def test_no_strata_is_the_default() -> None:
    assert Policy().strata == ()
    assert Policy().stratum_signals() == ()


def test_the_signals_the_strata_read_are_listed_once_in_order_of_mention() -> None:
    read = policy(
        [
            stratum(when={"any": [CONFLICT, RETRIEVED]}),
            stratum(when={"not": RETRIEVED}),
            stratum(when={"signal": "judge", "confidence": {"lt": 0.3}}),
        ]
    )
    assert read.stratum_signals() == ("situated", "retrieval", "judge")


def test_the_python_form_is_the_yaml_form() -> None:
    in_code = Policy.from_dict(
        {
            **BASE,
            "strata": [
                Stratum(
                    when=signal("retrieval").ok,
                    thresholds=Thresholds(accept=0.5),
                    name="retrieved",
                )
            ],
        }
    )
    assert in_code == policy([stratum(name="retrieved")])


# -- YAML: the line of the field ----------------------------------------------------

YAML_ERRORS = [
    pytest.param(
        """
        thresholds: {accept: 0.8}
        strata:
          - name: retrieved
            when: {signal: retrieval, status: ok}
            thresholds:
              accept: 1.4
        """,
        "policy YAML, line 6: strata[0].thresholds.accept: must be in [0, 1], got 1.4",
        id="threshold",
    ),
    pytest.param(
        """
        thresholds: {accept: 0.8}
        strata:
          - when: {signal: retrieval, status: ok}
            thresholds: {accept: 0.5}
          - name: supplied
            when:
              not:
                signal: retrieval
                status: okay
            thresholds: {accept: 0.9}
        """,
        "policy YAML, line 9: strata[1].when.not.status: unknown status 'okay'; "
        "expected 'ok', 'skipped' or 'failed'",
        id="condition",
    ),
    pytest.param(
        """
        thresholds: {accept: 0.8}
        strata:
          - name: retrieved
            when: {signal: retrieval, status: ok}
            thresholds: {accept: 0.5}
          - name: retrieved
            when: {signal: retrieval, status: skipped}
            thresholds: {accept: 0.9}
        """,
        "policy YAML, line 6: strata[1].name: 'retrieved' is also strata[0]'s name",
        id="duplicate name",
    ),
    pytest.param(
        """
        thresholds: {accept: 0.8}
        strata:
          - name: retrieved
            when: {signal: retrieval, status: ok}
            thresholds: {accept: 0.45}
            risk_control:
              target_risk: 0.1
              delta: 0.05
              threshold: 0.5
              start: 0.7
              upper_bound: 0.09
              empirical_risk: 0.05
              coverage: 0.6
              accepted: 60
              errors: 3
              n: 100
        """,
        "policy YAML, line 5: strata[0].thresholds.accept: 0.45 is outside the "
        "certified range [0.5, 0.7] of its risk_control; the guarantee would not hold",
        id="outside the certified range",
    ),
    pytest.param(
        """
        thresholds: {accept: 0.8}
        strata:
          - name: retrieved
            when: {signal: retrieval, status: ok}
            thresholds: {accept: 0.5}
            risk_control:
              target_risk: 0.1
              delta: 0.05
              threshold: 0.5
              errors: 3
        """,
        "policy YAML, line 6: strata[0].risk_control.upper_bound: required",
        id="risk_control",
    ),
]


@pytest.mark.parametrize(("text", "expected"), YAML_ERRORS)
def test_a_yaml_error_names_the_line_of_the_stratum_field(
    text: str, expected: str
) -> None:
    with pytest.raises(PolicyError) as caught:
        Policy.from_yaml(textwrap.dedent(text).lstrip("\n"))
    assert str(caught.value) == expected


def test_a_policy_file_error_names_the_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(
        "thresholds: {accept: 0.8}\n"
        "strata:\n"
        "  - when: {signal: retrieval, status: ok}\n"
        "    thresholds: {accept: 0.5, annotate: 0.7}\n",
        encoding="utf-8",
    )
    with pytest.raises(PolicyError) as caught:
        Policy.from_yaml(path)
    assert str(caught.value).startswith(
        f"policy file {path}, line 4: strata[0].thresholds.annotate: must be <= "
    )
    assert caught.value.field == "strata[0].thresholds.annotate"


# -- round trip ---------------------------------------------------------------------


def certified() -> RiskControl:
    """A real certificate, from 400 synthetic answers (surer ones more often right)."""
    rng = random.Random(0)
    scores = [rng.random() for _ in range(400)]
    correct = [rng.random() < 0.5 + score / 2 for score in scores]
    return choose_threshold(scores, correct, target_risk=0.2, delta=0.1)


def stratified() -> Policy:
    control = certified()
    return policy(
        [
            Stratum(
                when=signal("retrieval").ok,
                thresholds=Thresholds(accept=control.threshold, annotate=0.2),
                name="retrieved",
                risk_control=control,
            ),
            Stratum(  # never accept a conflicted answer: at most annotate it
                when=signal("situated").detail("conflict").eq(True)
                | (signal("judge").confidence < 0.3),
                thresholds=Thresholds(accept=None, annotate=0.9),
            ),
        ]
    )


def test_a_stratified_policy_survives_to_dict_and_from_dict() -> None:
    original = stratified()
    assert Policy.from_dict(original.to_dict()) == original


def test_a_stratified_policy_survives_to_yaml_and_from_yaml() -> None:
    original = stratified()
    assert Policy.from_yaml(original.to_yaml()) == original


def test_a_stratum_is_written_in_its_yaml_form_with_its_certificate_whole() -> None:
    original = stratified()
    control = original.strata[0].risk_control
    assert control is not None
    first, second = original.to_dict()["strata"]
    assert first == {
        "name": "retrieved",
        "when": RETRIEVED,
        "thresholds": {"accept": control.threshold, "annotate": 0.2},
        "risk_control": control.model_dump(mode="json"),
    }
    assert second["thresholds"] == {"accept": None, "annotate": 0.9}
    assert "name" not in second and "risk_control" not in second


# -- decide(): which thresholds band the confidence --------------------------------

RETRIEVAL_OK = ok("retrieval", 0.9)
RETRIEVAL_SKIPPED = SignalResult.skipped("retrieval", "contexts carry no scores")
IGNORE = {"on_missing_evidence": "ignore"}
REPEAT = RetryStrategy(name="repeat")

# (strata, policy changes, signals, confidence, decision)
DECISIONS: list[Any] = [
    pytest.param(
        [stratum(name="retrieved", thresholds={"accept": 0.5, "annotate": 0.3})],
        {},
        (RETRIEVAL_OK, ok("tokens", 0.6)),
        0.6,
        Accept(reason="stratum 'retrieved': confidence 0.60 ≥ accept 0.50: accept"),
        id="picked: its accept band",
    ),
    pytest.param(
        [stratum(name="retrieved", thresholds={"accept": 0.5, "annotate": 0.3})],
        {},
        (RETRIEVAL_OK, ok("tokens", 0.4)),
        0.4,
        Annotate(
            reason="stratum 'retrieved': confidence 0.40 < accept 0.50, "
            "≥ annotate 0.30: annotate",
            caveat="check (40%)",
        ),
        id="picked: its annotate band, the policy's caveat",
    ),
    pytest.param(
        [stratum(name="retrieved", thresholds={"accept": 0.5, "annotate": 0.3})],
        {},
        (RETRIEVAL_OK, ok("tokens", 0.2)),
        0.2,
        Abstain(
            reason="stratum 'retrieved': confidence 0.20 < annotate 0.30: abstain",
            message="no answer",
        ),
        id="picked: below its lowest threshold, the policy's message",
    ),
    pytest.param(
        [stratum(name="retrieved", thresholds={"accept": 0.7, "retry": 0.4})],
        {},
        (RETRIEVAL_OK, ok("tokens", 0.5)),
        0.5,
        Retry(
            reason="stratum 'retrieved': confidence 0.50 < accept 0.70, "
            "≥ retry 0.40: retry 2/3 with strategy 'repeat'",
            strategy=REPEAT,
        ),
        id="picked: its retry band, the policy's retry section",
    ),
    pytest.param(
        [stratum(name="retrieved", thresholds={"accept": 0.7, "escalate": 0.3})],
        {},
        (RETRIEVAL_OK, ok("tokens", 0.4)),
        0.4,
        Escalate(
            reason="stratum 'retrieved': confidence 0.40 < accept 0.70, "
            "≥ escalate 0.30: escalate to 'human'",
            route="human",
        ),
        id="picked: its escalate band, the policy's route",
    ),
    pytest.param(
        [stratum(name="retrieved")],
        IGNORE,
        (RETRIEVAL_SKIPPED, ok("tokens", 0.6)),
        0.6,
        Annotate(
            reason="confidence 0.60 < accept 0.80, ≥ annotate 0.60: annotate",
            caveat="check (60%)",
        ),
        id="not picked: the policy's own thresholds, no prefix",
    ),
    pytest.param(
        [stratum(CONFLICT, thresholds={"accept": 0.95})],
        {},
        (ok("situated", 0.9, conflict=True),),
        0.9,
        Abstain(
            reason="stratum signal('situated').detail('conflict').eq(True): "
            "confidence 0.90 < accept 0.95: abstain",
            message="no answer",
        ),
        id="unnamed, on a detail: the reason renders the condition",
    ),
    pytest.param(
        [stratum(CONFLICT, thresholds={"accept": 0.95})],
        {},
        (ok("situated", 0.9, conflict=False),),
        0.9,
        Accept(reason="confidence 0.90 ≥ accept 0.80: accept"),
        id="on a detail: a request without the conflict keeps the policy's",
    ),
    pytest.param(
        [
            stratum(name="first", thresholds={"accept": 0.7}),
            stratum(
                {"signal": "retrieval", "confidence": {"ge": 0.5}},
                name="second",
                thresholds={"accept": 0.5},
            ),
        ],
        {},
        (RETRIEVAL_OK, ok("tokens", 0.6)),
        0.6,
        Abstain(
            reason="stratum 'first': confidence 0.60 < accept 0.70: abstain",
            message="no answer",
        ),
        id="two hold: the first wins",
    ),
    pytest.param(
        [
            stratum(CONFLICT, name="conflict", thresholds={"accept": 0.95}),
            stratum(name="retrieved"),
        ],
        {},
        (ok("situated", 0.6, conflict=False), RETRIEVAL_OK),
        0.6,
        Accept(reason="stratum 'retrieved': confidence 0.60 ≥ accept 0.50: accept"),
        id="the first does not hold: the next that does applies",
    ),
    pytest.param(
        [stratum(name="retrieved")],
        {
            "rules": [
                {
                    "name": "shaky tokens",
                    "when": {"signal": "tokens", "confidence": {"lt": 0.7}},
                    "then": "abstain",
                }
            ]
        },
        (RETRIEVAL_OK, ok("tokens", 0.6)),
        0.6,
        Abstain(reason="rule 'shaky tokens': abstain", message="no answer"),
        id="a rule decides before any stratum",
    ),
    pytest.param(
        [stratum(name="retrieved")],
        {},
        (RETRIEVAL_OK, SignalResult.failed("judge", "timeout")),
        0.9,
        Abstain(
            reason="fail_closed: signal 'judge' failed (timeout): abstain",
            message="no answer",
        ),
        id="fail_closed decides before the stratum's bands",
    ),
    pytest.param(
        [stratum({"signal": "judge", "status": "ok"})],
        {},
        (ok("tokens", 0.6),),
        0.6,
        Annotate(
            reason="confidence 0.60 < accept 0.80, ≥ annotate 0.60: annotate",
            caveat="check (60%)",
        ),
        id="a condition on an absent signal is false",
    ),
    pytest.param(
        [stratum({"not": RETRIEVED}, name="supplied", thresholds={"accept": 0.95})],
        {},
        (ok("tokens", 0.9),),
        0.9,
        Accept(reason="confidence 0.90 ≥ accept 0.80: accept"),
        id="unknown stays unknown under not: false, not picked",
    ),
]


@pytest.mark.parametrize(
    ("strata", "changes", "signals", "confidence", "expected"), DECISIONS
)
def test_decide_bands_by_the_first_stratum_that_holds(
    strata: list[Any],
    changes: dict[str, Any],
    signals: tuple[SignalResult, ...],
    confidence: float,
    expected: Decision,
) -> None:
    assessment = Assessment(confidence=confidence, signals=signals)
    assert decide(policy(strata, **changes), assessment) == expected


def test_thresholds_for_names_the_stratum_they_come_from() -> None:
    two = policy([stratum(name="retrieved"), stratum(CONFLICT, name="conflict")])
    thresholds, picked = two.thresholds_for({"retrieval": RETRIEVAL_OK})
    assert picked is two.strata[0] and thresholds == Thresholds(accept=0.5)
    thresholds, picked = two.thresholds_for({"retrieval": RETRIEVAL_SKIPPED})
    assert picked is None and thresholds is two.thresholds


# -- the cascade ----------------------------------------------------------------------


def cascading(strata: list[Any], accept: float = 0.8) -> Policy:
    return Policy.from_dict(
        {
            "thresholds": {"accept": accept},
            "on_missing_evidence": "ignore",
            "cascade": True,
            "strata": strata,
        }
    )


LOWER = stratum(name="retrieved", thresholds={"accept": 0.5})


def test_the_cascade_runs_a_signal_that_may_still_pick_the_stratum() -> None:
    done = [ok(name, 0.6) for name in "abcd"]
    retrieval = Counting("retrieval", 1.0, calls=1)
    # Four at 0.6, one pending: [0.48, 0.68], all below the policy's accept 0.8 ...
    [skipped] = Cascade(mean(), None, cascading([])).settle(done, [retrieval]) or ()
    assert "all in band 'abstain'" in str(skipped.reason)
    # ... but if retrieval reports ok, accept is 0.5 and 0.68 would pass: run it.
    assert Cascade(mean(), None, cascading([LOWER])).settle(done, [retrieval]) is None


def test_once_the_stratum_is_settled_its_bands_forbid_a_skip() -> None:
    done = [ok("retrieval", 0.6), ok("a", 0.6)]
    judge = Counting("judge", 1.0, calls=1)
    # Span [0.40, 0.73]: all abstain under the policy's accept 0.8, so without
    # strata the judge is skipped; the retrieved stratum's 0.5 lies inside it.
    assert Cascade(mean(), None, cascading([])).settle(done, [judge]) is not None
    assert Cascade(mean(), None, cascading([LOWER])).settle(done, [judge]) is None


def test_once_the_stratum_is_settled_its_bands_allow_a_skip() -> None:
    done = [ok("retrieval", 0.6), ok("a", 0.6)]
    judge = Counting("judge", 0.0, calls=1)
    lenient = stratum(name="retrieved", thresholds={"accept": 0.3})
    # Span [0.40, 0.73] crosses the policy's accept 0.5, not the stratum's 0.3.
    assert (
        Cascade(mean(), None, cascading([], accept=0.5)).settle(done, [judge]) is None
    )
    cascade = Cascade(mean(), None, cascading([lenient], accept=0.5))
    [skipped] = cascade.settle(done, [judge]) or ()
    assert skipped.reason == (
        "cascade: 'judge' could move the confidence only within [0.40, 0.73], "
        "all in band 'accept'"
    )


def test_a_request_no_stratum_picks_is_settled_on_the_policys_bands() -> None:
    done = [RETRIEVAL_SKIPPED, ok("a", 0.6), ok("b", 0.6)]
    judge = Counting("judge", 1.0, calls=1)
    # Span [0.40, 0.73]: the stratum's 0.5 does not apply, the policy's 0.8 does.
    [skipped] = Cascade(mean(), None, cascading([LOWER])).settle(done, [judge]) or ()
    assert "all in band 'abstain'" in str(skipped.reason)


def test_an_earlier_stratum_still_open_keeps_a_later_one_from_settling() -> None:
    done = [ok("retrieval", 0.6), ok("a", 0.6)]
    judge = Counting("judge", 1.0, calls=1)
    judged = stratum({"signal": "judge", "status": "ok"}, thresholds={"accept": 0.9})
    lenient = stratum(name="retrieved", thresholds={"accept": 0.3})
    # Span [0.40, 0.73]: all accept if retrieval's stratum applies, all abstain if
    # the judge's does; retrieval is ok, but the judge's comes first and is open.
    cascade = Cascade(mean(), None, cascading([lenient]))
    assert cascade.settle(done, [judge]) is not None
    cascade = Cascade(mean(), None, cascading([judged, lenient]))
    assert cascade.settle(done, [judge]) is None


def test_the_guard_runs_a_weightless_signal_because_it_picks_the_stratum() -> None:
    def guard(strata: list[Any]) -> tuple[Guard, Counting]:
        retrieval = Counting("retrieval", 0.9, rel=0.5)  # dearer: it runs last
        stratified = Policy.from_dict(
            {
                "thresholds": {"accept": 0.8},
                "combiner": "weighted",
                "weights": {"retrieval": 0.0},  # it cannot move the confidence
                "cascade": True,
                "strata": strata,
            }
        )
        return Guard([retrieval, Counting("tokens", 0.6)], stratified), retrieval

    plain, skipped = guard([])
    result = plain.check(make_observation())
    assert skipped.runs == 0
    assert skipped_by_cascade(result.assessment.signals) == ("retrieval",)
    assert result.decision.action == "abstain"

    picking, ran = guard([LOWER])
    result = picking.check(make_observation())
    assert ran.runs == 1
    assert skipped_by_cascade(result.assessment.signals) == ()
    assert result.decision.reason == (
        "stratum 'retrieved': confidence 0.60 ≥ accept 0.50: accept"
    )


CASCADE_STRATA = [
    stratum(  # read from a dear signal
        {"signal": "s2", "confidence": {"ge": 0.5}},
        name="dear",
        thresholds={"accept": 0.5, "annotate": 0.3},
    ),
    stratum(  # read from the cheapest
        {"signal": "s0", "status": "ok"},
        name="cheap",
        thresholds={"accept": 0.9, "retry": 0.6},
    ),
]
COMBINERS: list[Combiner] = [mean(), minimum(), weighted({"s0": 2.0, "s3": 0.5})]


@pytest.mark.parametrize("combiner", COMBINERS, ids=lambda c: c.name)
@pytest.mark.parametrize("missing", ["ignore", "fail_closed"])
def test_with_strata_the_cascade_never_changes_the_decision(
    combiner: Combiner, missing: str
) -> None:
    stratified = Policy.from_dict(
        {
            "thresholds": {"accept": 0.7, "annotate": 0.4},
            "on_missing_evidence": missing,
            "strata": CASCADE_STRATA,
        }
    )
    cascade = Cascade(combiner, None, stratified)
    # The cascade assumes a skipped signal would have reported normally; under
    # fail_closed one that would have failed would have decided, strata or not.
    values: list[float | None] = [0.0, 1.0, None] if missing == "ignore" else [0.0, 1.0]
    rng, obs, skips = random.Random(11), make_observation(), 0
    for _ in range(200):
        signals = [
            Counting(f"s{i}", rng.choice([*values, rng.random()]), calls=i)
            for i in range(4)
        ]
        full = score_all(signals, obs, None)
        cut = score_cascade(cascade, signals, obs, None)
        expected = decide(stratified, assess(full, combiner, None)).action
        assert decide(stratified, assess(cut, combiner, None)).action == expected
        picked = stratified.thresholds_for({r.name: r for r in full})[1]
        assert stratified.thresholds_for({r.name: r for r in cut})[1] == picked
        skips += bool(skipped_by_cascade(cut))
    assert skips > 20  # the cascade had something to cut


# -- a real guard ---------------------------------------------------------------------

QUESTION = "Who won Super Bowl 50?"
PASSAGE = "The Denver Broncos won Super Bowl 50."
RETRIEVED_REQUEST = Observation(
    question=QUESTION,
    answer="the Denver Broncos",
    contexts=(Context(text=PASSAGE, score=0.7),),
)
SUPPLIED_REQUEST = Observation(
    question=QUESTION, answer="the Denver Broncos", contexts=(Context(text=PASSAGE),)
)
TWO_KINDS: dict[str, Any] = {
    "thresholds": {"accept": 0.8, "annotate": 0.5},
    "on_missing_evidence": "ignore",  # a supplied passage carries no retrieval score
    "combiner": "weighted",
    "weights": {"retrieval": 0.0},  # the same confidence for both kinds
    "strata": [stratum(name="retrieved", thresholds={"accept": 0.55})],
}
RETRIEVED_REASON = "stratum 'retrieved': confidence 0.60 ≥ accept 0.55: accept"
SUPPLIED_REASON = "confidence 0.60 < accept 0.80, ≥ annotate 0.50: annotate"
ON_JUDGE = {**TWO_KINDS, "strata": [stratum({"signal": "judge", "status": "ok"})]}
UNKNOWN = "unknown signal (in policy strata) 'judge'; known: retrieval, tokens"


def two_kinds_signals() -> list[Any]:
    return [RetrievalSupport(), FunctionSignal(lambda obs: 0.6, name="tokens")]


def test_a_guard_decides_the_same_confidence_by_each_requests_stratum() -> None:
    with Guard(two_kinds_signals(), Policy.from_dict(TWO_KINDS)) as guard:
        retrieved = guard.check(RETRIEVED_REQUEST)
        supplied = guard.check(SUPPLIED_REQUEST)
    assert retrieved.confidence == supplied.confidence == pytest.approx(0.6)
    assert (retrieved.decision.action, supplied.decision.action) == (
        "accept",
        "annotate",
    )
    assert retrieved.decision.reason == RETRIEVED_REASON
    assert supplied.decision.reason == SUPPLIED_REASON


def test_a_guard_refuses_a_stratum_on_a_signal_it_does_not_have() -> None:
    with pytest.raises(UnknownComponentError) as caught:
        Guard(two_kinds_signals(), Policy.from_dict(ON_JUDGE))
    assert str(caught.value) == UNKNOWN


async def test_the_async_guard_decides_by_stratum_the_same_way() -> None:
    async with AsyncGuard(two_kinds_signals(), Policy.from_dict(TWO_KINDS)) as guard:
        retrieved = await guard.acheck(RETRIEVED_REQUEST)
        supplied = await guard.acheck(SUPPLIED_REQUEST)
    assert retrieved.decision.reason == RETRIEVED_REASON
    assert supplied.decision.reason == SUPPLIED_REASON


def test_the_async_guard_refuses_a_stratum_on_an_unknown_signal() -> None:
    with pytest.raises(UnknownComponentError) as caught:
        AsyncGuard(two_kinds_signals(), Policy.from_dict(ON_JUDGE))
    assert str(caught.value) == UNKNOWN


# -- a guard config file --------------------------------------------------------------


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "guard.yaml"
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


CONFIG_ERRORS = [
    pytest.param(
        """
        signals: [min_token_prob, avg_logprob]
        policy:
          thresholds: {accept: 0.8}
          strata:
            - name: shaky
              when: {signal: min_token_prob, confidence: {lt: 0.5}}
              thresholds: {accept: 1.4}
        """,
        "line 7, policy.strata[0].thresholds.accept: must be in [0, 1], got 1.4",
        id="a stratum's threshold",
    ),
    pytest.param(
        """
        signals: [min_token_prob]
        policy:
          strata:
            - when: {signal: min_token_prob, confidence: {lx: 0.5}}
              thresholds: {accept: 0.9}
        """,
        "line 4, policy.strata[0].when.confidence.lx: unknown comparison; "
        "expected lt, le, gt, ge",
        id="a stratum's condition",
    ),
    pytest.param(
        """
        signals: [min_token_prob]
        policy:
          thresholds: {accept: 0.8}
          strata:
            - when: {signal: judge, status: ok}
              thresholds: {accept: 0.5}
        """,
        "line 5, policy.strata[0].when.signal: unknown signal (in policy strata) "
        "'judge'; known: min_token_prob",
        id="a stratum on a signal the config does not list",
    ),
]


@pytest.mark.parametrize(("text", "expected"), CONFIG_ERRORS)
def test_a_bad_stratum_in_a_guard_config_names_the_file_line_and_field(
    tmp_path: Path, text: str, expected: str
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigurationError) as caught:
        Guard.from_config(path)
    assert str(caught.value) == f"{path}, {expected}"


def test_strata_in_a_guard_config_reach_decide(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        signals: [min_token_prob, avg_logprob]
        policy:
          thresholds: {accept: 0.5}
          strata:
            - name: shaky token
              when: {signal: min_token_prob, confidence: {lt: 0.5}}
              thresholds: {accept: 0.9}
        """,
    )
    with Guard.from_config(path) as guard:
        shaky = guard.check(make_observation(probs=[0.99, 0.4]))
        steady = guard.check(make_observation(probs=[0.99, 0.6]))
    assert shaky.decision.reason == (
        "stratum 'shaky token': confidence 0.51 < accept 0.90: abstain"
    )
    assert steady.decision.reason == "confidence 0.69 ≥ accept 0.50: accept"


def test_a_stratum_on_an_unknown_signal_is_refused_even_with_a_combiner_given() -> None:
    policy = Policy.from_dict(
        {
            "thresholds": {"accept": 0.8},
            "strata": [
                {
                    "when": {"signal": "nope", "status": "ok"},
                    "thresholds": {"accept": 0.5},
                }
            ],
        }
    )
    signal_a = FunctionSignal(lambda o: 0.9, name="a")
    with pytest.raises(UnknownComponentError, match=r"signal \(in policy strata\)"):
        Guard([signal_a], policy, combiner=mean())
