"""Policy rules: conditions on single signals, decided by decide() before the bands."""

from __future__ import annotations

from typing import Any

import pytest

from confguard.evaluation.calibrate import policy_yaml
from confguard.exceptions import PolicyError, UnknownComponentError
from confguard.guard import Guard
from confguard.observation import Observation
from confguard.policy import Policy, Rule, decide, signal
from confguard.policy.cascade import Cascade
from confguard.policy.conditions import AllOf, AnyOf, Condition, Not, Status
from confguard.results import (
    Accept,
    Assessment,
    Decision,
    Escalate,
    Retry,
    RetryStrategy,
    SignalResult,
)
from confguard.routes.builtin import CallableRoute
from confguard.scoring import mean
from confguard.signals.base import DeclaredCost, FunctionSignal
from confguard.strategies import more_context

BASE: dict[str, Any] = {
    "thresholds": {"accept": 0.8, "annotate": 0.6, "retry": 0.4},
    "retry": {"max_attempts": 3},
    "escalate": {"route": "human"},
    "annotate": {"caveat": "check ({confidence:.0%})"},
    "abstain": {"message": "no answer"},
}
CONFLICT = {"signal": "sf", "detail": {"key": "conflict", "eq": True}}
JUDGE_FAILED = {"signal": "judge", "status": "failed"}
JUDGE_LOW = {"signal": "judge", "confidence": {"lt": 0.3}}


def policy(rules: list[Any], **changes: Any) -> Policy:
    return Policy.from_dict({**BASE, "rules": rules, **changes})


def ok(name: str, value: float, **details: Any) -> SignalResult:
    return SignalResult(name=name, confidence=value, details=details)


def assessed(*signals: SignalResult) -> Assessment:
    values = [s.confidence for s in signals if s.confidence is not None]
    return Assessment(
        confidence=sum(values) / len(values) if values else None, signals=signals
    )


HIGH = (ok("sf", 0.9, conflict=False), ok("judge", 0.9))
CONFLICTED = (ok("sf", 0.9, conflict=True), ok("judge", 0.9))
JUDGE_DOWN = (ok("sf", 0.9, conflict=False), SignalResult.failed("judge", "timeout"))
JUDGE_AT = (ok("sf", 0.9, conflict=False), ok("judge", 0.2))
ESCALATED = Escalate(reason="earlier", route="human")
RETRIED = Retry(reason="earlier", strategy=RetryStrategy(name="repeat"))


def rule(when: dict[str, Any], then: str, **extra: Any) -> dict[str, Any]:
    return {"when": when, "then": then, **extra}


# (rules, policy changes, signals, history, action, reason)
CASES: list[
    tuple[list[Any], dict[str, Any], tuple[SignalResult, ...], list[Any], str, str]
] = [
    (
        [rule(CONFLICT, "escalate", name="conflict")],
        {},
        CONFLICTED,
        [],
        "escalate",
        "rule 'conflict': escalate to 'human'",
    ),
    (  # the rule does not hold: the bands decide
        [rule(CONFLICT, "escalate", name="conflict")],
        {},
        HIGH,
        [],
        "accept",
        "confidence 0.90 ≥ accept 0.80: accept",
    ),
    (  # unnamed: the reason renders the condition; a reason text is added
        [rule(CONFLICT, "escalate", reason="context contradicts the model")],
        {},
        CONFLICTED,
        [],
        "escalate",
        "rule signal('sf').detail('conflict').eq(True): context contradicts the "
        "model: escalate to 'human'",
    ),
    (  # a rule's own route
        [rule(CONFLICT, "escalate", name="c", route="expert")],
        {},
        CONFLICTED,
        [],
        "escalate",
        "rule 'c': escalate to 'expert'",
    ),
    (  # one escalation per request, as for the band
        [rule(CONFLICT, "escalate", name="c")],
        {},
        CONFLICTED,
        [ESCALATED],
        "abstain",
        "rule 'c': already escalated to 'human', abstain",
    ),
    (  # the first rule that holds decides
        [rule(JUDGE_LOW, "abstain", name="low"), rule(CONFLICT, "escalate", name="c")],
        {},
        (ok("sf", 0.9, conflict=True), ok("judge", 0.2)),
        [],
        "abstain",
        "rule 'low': abstain",
    ),
    (  # a status rule fires before fail_closed: that is what it is for
        [rule(JUDGE_FAILED, "retry", name="judge down")],
        {},
        JUDGE_DOWN,
        [],
        "retry",
        "rule 'judge down': retry 2/3 with strategy 'repeat'",
    ),
    (  # a retry rule respects max_attempts, then on_retries_exhausted
        [rule(JUDGE_FAILED, "retry", name="judge down")],
        {"on_retries_exhausted": "escalate"},
        JUDGE_DOWN,
        [RETRIED, RETRIED],
        "escalate",
        "rule 'judge down': retries exhausted (3/3 attempts): escalate to 'human'",
    ),
    (  # exhausted into annotate would loosen fail_closed: the fail-closed decision
        [rule(JUDGE_FAILED, "retry", name="judge down")],
        {"on_retries_exhausted": "annotate"},
        JUDGE_DOWN,
        [RETRIED, RETRIED],
        "abstain",
        "rule 'judge down': retries exhausted (3/3 attempts); fail_closed: signal "
        "'judge' failed (timeout): abstain",
    ),
    (  # exhausted into annotate with every signal present: annotate
        [rule(JUDGE_LOW, "retry", name="low")],
        {"on_retries_exhausted": "annotate"},
        JUDGE_AT,
        [RETRIED, RETRIED],
        "annotate",
        "rule 'low': retries exhausted (3/3 attempts): annotate",
    ),
    (  # no retry after an escalation
        [rule(JUDGE_LOW, "retry", name="low")],
        {},
        JUDGE_AT,
        [ESCALATED],
        "abstain",
        "rule 'low': no retry after escalation: abstain",
    ),
    (  # an accept rule overrides a low band
        [rule({"signal": "judge", "confidence": {"ge": 0.9}}, "accept", name="j")],
        {},
        (ok("sf", 0.1), ok("judge", 0.95)),
        [],
        "accept",
        "rule 'j': accept",
    ),
    (  # but never fail_closed: it is passed over, and the next rule may decide
        [
            rule({"signal": "sf", "status": "ok"}, "accept", name="sf ok"),
            rule(JUDGE_FAILED, "escalate", name="judge down"),
        ],
        {},
        JUDGE_DOWN,
        [],
        "escalate",
        "rule 'judge down': escalate to 'human'",
    ),
    (  # an accept rule passed over, no other: fail_closed decides
        [rule({"signal": "sf", "status": "ok"}, "accept", name="sf ok")],
        {},
        JUDGE_DOWN,
        [],
        "abstain",
        "fail_closed: signal 'judge' failed (timeout): abstain",
    ),
    (  # under on_missing_evidence: ignore, an accept rule may decide
        [rule({"signal": "sf", "status": "ok"}, "accept", name="sf ok")],
        {"on_missing_evidence": "ignore"},
        JUDGE_DOWN,
        [],
        "accept",
        "rule 'sf ok': accept",
    ),
    (  # annotate: its own caveat, filled in
        [
            rule(
                JUDGE_LOW,
                "annotate",
                name="low",
                caveat="judge doubts ({confidence:.0%})",
            )
        ],
        {},
        JUDGE_AT,
        [],
        "annotate",
        "rule 'low': annotate",
    ),
    (  # abstain with no confidence at all
        [rule({"signal": "judge", "status": ["skipped", "failed"]}, "abstain")],
        {"on_missing_evidence": "ignore"},
        (SignalResult.failed("judge", "down"),),
        [],
        "abstain",
        "rule signal('judge').skipped | signal('judge').failed: abstain",
    ),
    (  # not: fires when the detail is absent too
        [rule({"not": CONFLICT}, "annotate", name="unchecked")],
        {},
        (ok("sf", 0.9), ok("judge", 0.9)),
        [],
        "annotate",
        "rule 'unchecked': annotate",
    ),
    (  # all: every part must hold
        [rule({"all": [CONFLICT, JUDGE_LOW]}, "abstain", name="both")],
        {},
        CONFLICTED,
        [],
        "accept",
        "confidence 0.90 ≥ accept 0.80: accept",
    ),
    (  # any: one part is enough
        [rule({"any": [CONFLICT, JUDGE_LOW]}, "abstain", name="either")],
        {},
        CONFLICTED,
        [],
        "abstain",
        "rule 'either': abstain",
    ),
    (  # a flag never equals a number
        [rule({"signal": "sf", "detail": {"key": "n", "eq": 1}}, "abstain", name="n")],
        {},
        (ok("sf", 0.9, n=True), ok("judge", 0.9)),
        [],
        "accept",
        "confidence 0.90 ≥ accept 0.80: accept",
    ),
    (  # numeric detail comparisons, several at once
        [rule({"signal": "sf", "detail": {"key": "n", "ge": 2, "lt": 5}}, "abstain")],
        {},
        (ok("sf", 0.9, n=3), ok("judge", 0.9)),
        [],
        "abstain",
        "rule (signal('sf').detail('n') >= 2) & (signal('sf').detail('n') < 5): "
        "abstain",
    ),
    (  # ne holds only when the detail is there
        [rule({"signal": "sf", "detail": {"key": "mode", "ne": "rcr"}}, "abstain")],
        {},
        (ok("sf", 0.9), ok("judge", 0.9)),
        [],
        "accept",
        "confidence 0.90 ≥ accept 0.80: accept",
    ),
]


@pytest.mark.parametrize(
    ("rules", "changes", "signals", "history", "action", "reason"), CASES
)
def test_rules_in_decide(
    rules: list[Any],
    changes: dict[str, Any],
    signals: tuple[SignalResult, ...],
    history: list[Decision],
    action: str,
    reason: str,
) -> None:
    decision = decide(policy(rules, **changes), assessed(*signals), history)
    assert (decision.action, decision.reason) == (action, reason)


def test_a_rules_caveat_and_message_and_strategy_are_used() -> None:
    p = policy(
        [
            rule(JUDGE_LOW, "annotate", caveat="judge doubts ({confidence:.0%})"),
            rule(
                JUDGE_FAILED,
                "retry",
                strategy={"name": "more_context", "params": {"top_k": 8}},
            ),
            rule(CONFLICT, "abstain", message="conflicting sources"),
        ]
    )
    annotated = decide(p, assessed(*JUDGE_AT))
    assert annotated.caveat == "judge doubts (55%)"  # type: ignore[union-attr]
    retried = decide(p, assessed(*JUDGE_DOWN))
    assert retried.strategy == more_context(8)  # type: ignore[union-attr]
    abstained = decide(p, assessed(*CONFLICTED))
    assert abstained.message == "conflicting sources"  # type: ignore[union-attr]


def test_a_stopped_retry_controller_stops_a_retry_rule() -> None:
    p = policy([rule(JUDGE_FAILED, "retry", name="j")])
    decision = decide(p, assessed(*JUDGE_DOWN), can_retry=False)
    assert decision.reason == "rule 'j': retries stopped after 1 attempt(s): abstain"


# --- composition in code ---------------------------------------------------------


def test_conditions_compose_with_or_and_and_not_flattening_alike() -> None:
    a, b, c = signal("a").ok, signal("b").failed, signal("c").confidence < 0.5
    assert a | b | c == AnyOf((a, b, c))
    assert a & b & c == AllOf((a, b, c))
    assert (a | b) | (b | c) == AnyOf((a, b, b, c))
    assert ~a == Not(a)
    assert ~~a == a
    assert (a | b & c).render() == (
        "signal('a').ok | (signal('b').failed & (signal('c').confidence < 0.5))"
    )


def test_composing_with_something_else_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="composes conditions"):
        signal("a").ok | True  # type: ignore[operator]


KLEENE: list[tuple[Condition, dict[str, SignalResult], bool | None]] = [
    (signal("a").ok, {}, None),
    (signal("a").ok | signal("b").ok, {"a": ok("a", 0.5)}, True),
    (signal("a").failed | signal("b").ok, {"a": ok("a", 0.5)}, None),
    (signal("a").failed & signal("b").ok, {"a": ok("a", 0.5)}, False),
    (signal("a").ok & signal("b").ok, {"a": ok("a", 0.5)}, None),
    (~signal("a").ok, {}, None),
    (~(signal("a").confidence < 0.3), {"a": SignalResult.failed("a", "x")}, True),
]


@pytest.mark.parametrize(("cond", "known", "expected"), KLEENE)
def test_a_signal_not_reported_is_unknown_three_valued(
    cond: Condition, known: dict[str, SignalResult], expected: bool | None
) -> None:
    assert cond.holds(known) is expected


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: signal("a").confidence < 1.5, "< 1.5: must be a number in [0, 1]"),
        (lambda: signal("a").confidence >= True, ">= True: must be a number in"),
        (lambda: signal("a").detail("n") > "x", "> 'x': must be a finite number"),
        (
            lambda: signal("a").detail("n").eq([1]),  # type: ignore[arg-type]
            "== [1]: must be true, false",
        ),
        (lambda: signal(""), "signal: expected a non-empty string"),
    ],
)
def test_the_builder_refuses_what_the_yaml_refuses(build: Any, message: str) -> None:
    with pytest.raises(PolicyError, match=message.replace("[", r"\[")):
        build()


# --- YAML: every form, the same as code ------------------------------------------

FORMS: list[tuple[str, Condition]] = [
    ("{signal: j, status: failed}", signal("j").failed),
    ("{signal: j, status: ok}", signal("j").ok),
    ("{signal: j, status: skipped}", signal("j").skipped),
    ("{signal: j, confidence: {lt: 0.3}}", signal("j").confidence < 0.3),
    ("{signal: j, confidence: {le: 0.3}}", signal("j").confidence <= 0.3),
    ("{signal: j, confidence: {gt: 0}}", signal("j").confidence > 0.0),
    ("{signal: j, confidence: {ge: 1}}", signal("j").confidence >= 1.0),
    (
        "{signal: s, detail: {key: conflict, eq: true}}",
        signal("s").detail("conflict").eq(True),
    ),
    ("{signal: s, detail: {key: mode, ne: rcr}}", signal("s").detail("mode").ne("rcr")),
    ("{signal: s, detail: {key: n, gt: 2}}", signal("s").detail("n") > 2),
    ("{signal: s, detail: {key: n, le: 2.5}}", signal("s").detail("n") <= 2.5),
    (
        "{any: [{signal: a, status: ok}, {signal: b, status: failed}]}",
        signal("a").ok | signal("b").failed,
    ),
    (
        "{all: [{signal: a, status: ok}, {signal: b, status: failed}]}",
        signal("a").ok & signal("b").failed,
    ),
    ("{not: {signal: a, status: ok}}", ~signal("a").ok),
    (
        "{any: [{all: [{signal: a, status: ok}, {not: {signal: b, status: ok}}]}]}",
        AnyOf((signal("a").ok & ~signal("b").ok,)),
    ),
]


@pytest.mark.parametrize(("text", "built"), FORMS)
def test_every_yaml_form_reads_as_its_code_form(text: str, built: Condition) -> None:
    loaded = Policy.from_yaml(
        f"thresholds: {{accept: 0.8}}\nrules:\n  - when: {text}\n    then: abstain\n"
    )
    assert loaded.rules[0].when == built


def test_a_status_list_is_any_of_them() -> None:
    p = Policy.from_dict(
        {"rules": [rule({"signal": "j", "status": ["skipped", "failed"]}, "abstain")]}
    )
    cond = p.rules[0].when
    assert cond.holds({"j": SignalResult.failed("j", "x")}) is True
    assert cond.holds({"j": ok("j", 0.5)}) is False


def test_rules_built_in_code_enter_the_policy_checked() -> None:
    built = Rule(
        when=signal("s").detail("conflict").eq(True), then="escalate", name="c"
    )
    p = Policy(escalate={"route": "human"}, rules=(built,))
    assert p.rules == (built,)
    with pytest.raises(PolicyError) as info:
        Policy(rules=(built,))
    assert info.value.field == "rules[0].route"


def q(text: str) -> str:
    return "thresholds: {accept: 0.8}\nescalate: {route: human}\nrules:\n" + text


BAD_YAML: list[tuple[str, str, str]] = [
    (
        "rules: {when: {signal: a, status: ok}, then: accept}\n",
        "rules",
        "policy YAML, line 1: rules: expected a list of rules, got dict {'when': "
        "{'signal': 'a', 'status': 'ok'}, 'then': 'accept'}",
    ),
    (
        q("  - accept\n"),
        "rules[0]",
        "line 4: rules[0]: expected a mapping, got str 'accept'",
    ),
    (q("  - {then: accept}\n"), "rules[0].when", "line 4: rules[0].when: required"),
    (
        q("  - {when: {signal: a, status: ok}}\n"),
        "rules[0].then",
        "line 4: rules[0].then: required",
    ),
    (
        q("  - {when: {signal: a, status: ok}, then: deny}\n"),
        "rules[0].then",
        "line 4: rules[0].then: unknown action 'deny'; expected one of 'accept', "
        "'annotate', 'retry', 'escalate', 'abstain'",
    ),
    (
        q("  - when: {signal: a, status: ok}\n    then: accept\n    when_not: 1\n"),
        "rules[0].when_not",
        "line 6: rules[0].when_not: unknown field; expected name, when, then, "
        "reason, route, strategy, caveat, message",
    ),
    (
        q("  - when: {signal: a, status: ok}\n    then: accept\n    route: x\n"),
        "rules[0].route",
        "line 6: rules[0].route: only escalate rules take route; this one is accept",
    ),
    (
        q("  - when: {signal: a, status: ok}\n    then: retry\n    caveat: x\n"),
        "rules[0].caveat",
        "line 6: rules[0].caveat: only annotate rules take caveat; this one is retry",
    ),
    (
        q("  - when: {signal: a, status: ok}\n    then: abstain\n    name: 3\n"),
        "rules[0].name",
        "line 6: rules[0].name: expected a non-empty string, got 3",
    ),
    (
        q(
            "  - {name: r, when: {signal: a, status: ok}, then: abstain}\n"
            "  - {name: r, when: {signal: a, status: ok}, then: abstain}\n"
        ),
        "rules[1].name",
        "line 5: rules[1].name: 'r' is also rules[0]'s name",
    ),
    (
        q("  - when: {signal: a, status: ok}\n    then: annotate\n    caveat: '{c}'\n"),
        "rules[0].caveat",
        "line 6: rules[0].caveat: invalid template (KeyError('c')); only "
        "{confidence} is available",
    ),
    (
        q("  - when: {signal: a, status: ok}\n    then: retry\n    strategy: 3\n"),
        "rules[0].strategy",
        "line 6: rules[0].strategy: expected a name or {name, params}, got 3",
    ),
    (
        q(
            "  - when: {signal: a, status: ok}\n    then: retry\n"
            "    strategy: {name: more_context, params: {top_k: 0}}\n"
        ),
        "rules[0].strategy.params",
        "line 6: rules[0].strategy.params: more_context: top_k must be an integer "
        ">= 1, got 0",
    ),
    (
        q("  - {when: {status: ok}, then: abstain}\n"),
        "rules[0].when.signal",
        "line 4: rules[0].when.signal: required (or one of any, all, not)",
    ),
    (
        q("  - {when: {signal: 3, status: ok}, then: abstain}\n"),
        "rules[0].when.signal",
        "line 4: rules[0].when.signal: expected a signal's name, got 3",
    ),
    (
        q("  - {when: {signal: a}, then: abstain}\n"),
        "rules[0].when",
        "line 4: rules[0].when: give exactly one of status, confidence, detail; "
        "got none",
    ),
    (
        q(
            "  - {when: {signal: a, status: ok, confidence: {lt: 0.2}},"
            " then: abstain}\n"
        ),
        "rules[0].when",
        "line 4: rules[0].when: give exactly one of status, confidence, detail; "
        "got status, confidence",
    ),
    (
        q("  - {when: {signal: a, state: ok}, then: abstain}\n"),
        "rules[0].when.state",
        "line 4: rules[0].when.state: unknown field; expected signal, status, "
        "confidence, detail",
    ),
    (
        q("  - {when: {signal: a, status: fine}, then: abstain}\n"),
        "rules[0].when.status",
        "line 4: rules[0].when.status: unknown status 'fine'; expected 'ok', "
        "'skipped' or 'failed'",
    ),
    (
        q("  - {when: {signal: a, status: [ok, true]}, then: abstain}\n"),
        "rules[0].when.status[1]",
        "line 4: rules[0].when.status[1]: unknown status True; expected 'ok', "
        "'skipped' or 'failed'",
    ),
    (
        q("  - {when: {signal: a, confidence: 0.3}, then: abstain}\n"),
        "rules[0].when.confidence",
        "line 4: rules[0].when.confidence: expected a mapping such as {lt: 0.3}, "
        "got 0.3",
    ),
    (
        q("  - {when: {signal: a, confidence: {}}, then: abstain}\n"),
        "rules[0].when.confidence",
        "line 4: rules[0].when.confidence: give at least one comparison "
        "(lt, le, gt, ge)",
    ),
    (
        q("  - {when: {signal: a, confidence: {eq: 0.3}}, then: abstain}\n"),
        "rules[0].when.confidence.eq",
        "line 4: rules[0].when.confidence.eq: unknown comparison; expected lt, le, "
        "gt, ge",
    ),
    (
        q(
            "  - when:\n      signal: a\n      confidence: {lt: true}\n"
            "    then: abstain\n"
        ),
        "rules[0].when.confidence.lt",
        "line 6: rules[0].when.confidence.lt: must be a number in [0, 1], got True",
    ),
    (
        q("  - {when: {signal: a, detail: {eq: true}}, then: abstain}\n"),
        "rules[0].when.detail.key",
        "line 4: rules[0].when.detail.key: required: the detail's name, got None",
    ),
    (
        q("  - {when: {signal: a, detail: {key: n}}, then: abstain}\n"),
        "rules[0].when.detail",
        "line 4: rules[0].when.detail: give at least one comparison "
        "(lt, le, gt, ge, eq, ne)",
    ),
    (
        q("  - {when: {signal: a, detail: {key: n, is: true}}, then: abstain}\n"),
        "rules[0].when.detail.is",
        "line 4: rules[0].when.detail.is: unknown comparison; expected key, lt, le, "
        "gt, ge, eq, ne",
    ),
    (
        q("  - {when: {signal: a, detail: {key: n, gt: '2'}}, then: abstain}\n"),
        "rules[0].when.detail.gt",
        "line 4: rules[0].when.detail.gt: must be a finite number, got '2'",
    ),
    (
        q("  - {when: {signal: a, detail: {key: n, eq: [1]}}, then: abstain}\n"),
        "rules[0].when.detail.eq",
        "line 4: rules[0].when.detail.eq: must be true, false, a number or a "
        "string, got [1]",
    ),
    (
        q("  - {when: {any: []}, then: abstain}\n"),
        "rules[0].when.any",
        "line 4: rules[0].when.any: expected a non-empty list, got []",
    ),
    (
        q("  - {when: {all: {signal: a, status: ok}}, then: abstain}\n"),
        "rules[0].when.all",
        "line 4: rules[0].when.all: expected a non-empty list, got {'signal': 'a', "
        "'status': 'ok'}",
    ),
    (
        q("  - {when: {any: [{signal: a, status: ok}], signal: b}, then: abstain}\n"),
        "rules[0].when.signal",
        "line 4: rules[0].when.signal: any: stands alone in its mapping",
    ),
    (
        q(
            "  - when:\n      any:\n        - {signal: a, status: ok}\n"
            "        - {signal: b, confidence: {lt: 1.5}}\n    then: abstain\n"
        ),
        "rules[0].when.any[1].confidence.lt",
        "line 7: rules[0].when.any[1].confidence.lt: must be a number in [0, 1], "
        "got 1.5",
    ),
    (
        q("  - {when: {not: [{signal: a, status: ok}]}, then: abstain}\n"),
        "rules[0].when.not",
        "line 4: rules[0].when.not: expected a mapping, got list "
        "[{'signal': 'a', 'status': 'ok'}]",
    ),
    (
        "thresholds: {accept: 0.8}\nrules:\n  - {when: {signal: a, status: ok}, "
        "then: escalate}\n",
        "rules[0].route",
        "line 3: rules[0].route: required, since escalate.route is not set",
    ),
    (
        q("  - when: {signal: a, status: ok}\n    then: abstain\n    then: accept\n"),
        "then",
        "line 6: the key 'then' is given twice (first at line 5)",
    ),
]


@pytest.mark.parametrize(("text", "field", "message"), BAD_YAML)
def test_every_bad_rule_is_refused_naming_field_and_line(
    text: str, field: str, message: str
) -> None:
    with pytest.raises(PolicyError) as info:
        Policy.from_yaml(text)
    assert info.value.field == field
    assert str(info.value).endswith(message), str(info.value)


# --- round trip, and what the guard must check ------------------------------------

ROUND_TRIP = """\
thresholds: {accept: 0.8, retry: 0.4}
escalate: {route: human}
rules:
  - name: context conflict
    when: {signal: sf, detail: {key: conflict, eq: true}}
    then: escalate
    reason: the context contradicts the model
  - when:
      any:
        - {signal: judge, status: [skipped, failed]}
        - all:
            - {signal: judge, confidence: {ge: 0.1, lt: 0.3}}
            - not: {signal: rpc, confidence: {gt: 0.9}}
    then: retry
    strategy: {name: more_context, params: {top_k: 8}}
  - {when: {signal: rpc, status: ok}, then: annotate, caveat: "rpc ({confidence:.0%})"}
  - {when: {signal: rpc, detail: {key: n, ne: 3}}, then: abstain, message: "no"}
  - {when: {signal: rpc, status: failed}, then: escalate, route: expert}
"""


def test_rules_round_trip_through_to_dict_to_yaml_and_calibrates_dump() -> None:
    p = Policy.from_yaml(ROUND_TRIP)
    assert len(p.rules) == 5
    assert Policy.from_dict(p.to_dict()) == p
    assert Policy.from_yaml(p.to_yaml()) == p
    assert Policy.from_yaml(policy_yaml(p)) == p
    assert p.to_dict()["rules"][3] == {
        "when": {"signal": "rpc", "detail": {"key": "n", "ne": 3}},
        "then": "abstain",
        "message": "no",
    }


def test_a_policy_without_rules_dumps_none() -> None:
    assert "rules" not in Policy().to_dict()


def test_the_policy_names_the_signals_routes_and_strategies_of_its_rules() -> None:
    p = Policy.from_yaml(ROUND_TRIP)
    assert p.rule_signals() == ("sf", "judge", "rpc")
    assert p.rule_routes() == ("human", "expert")
    assert p.rule_strategies() == (more_context(8),)
    assert p.uses_escalation()


# --- the cascade: a rule on a costly signal is never silently skipped --------------


class Counting(FunctionSignal):
    """A fixed-confidence signal that counts its runs (fails when value is None)."""

    def __init__(self, name: str, value: float | None, calls: int = 0, **details: Any):
        super().__init__(self._run, name=name, cost=DeclaredCost(llm_calls=calls))
        self.value, self.details, self.runs = value, details, 0

    def _run(self, obs: Observation) -> SignalResult:
        self.runs += 1
        if self.value is None:
            raise RuntimeError("down")
        return SignalResult(name=self.name, confidence=self.value, details=self.details)


OBS = Observation(question="Who won?", answer="the Patriots")


def cascading(rules: list[Any], **changes: Any) -> Policy:
    return policy(rules, cascade=True, **changes)


def test_without_rules_the_same_cascade_skips_the_costly_signal() -> None:
    cheap, judge = Counting("cheap", 1.0), Counting("sf", 0.9, calls=1, conflict=True)
    p = Policy.from_dict({"thresholds": {"accept": 0.5}, "cascade": True})
    result = Guard(signals=[cheap, judge], policy=p).check(OBS)
    assert judge.runs == 0 and isinstance(result.decision, Accept)


def test_with_the_rule_the_costly_signal_runs_where_it_was_skipped() -> None:
    cheap, sf = Counting("cheap", 1.0), Counting("sf", 0.9, calls=1, conflict=True)
    p = Policy.from_dict(
        {
            "thresholds": {"accept": 0.5},
            "cascade": True,
            "escalate": {"route": "human"},
            "rules": [rule(CONFLICT, "escalate", name="conflict")],
        }
    )
    result = Guard(signals=[cheap, sf], policy=p, routes={"human": _route()}).check(OBS)
    assert sf.runs == 1
    assert result.attempts[0].decision.action == "escalate"


def test_a_rule_that_already_holds_stops_the_cascade() -> None:
    cascade = Cascade(mean(), None, cascading([rule(JUDGE_LOW, "abstain", name="low")]))
    done = [ok("judge", 0.1)]
    settled = cascade.settle(done, [Counting("sf", 0.9, calls=1)])
    assert settled is not None
    assert settled[0].reason == "cascade: rule 'low' holds whatever the rest report"


def test_a_rule_still_open_keeps_the_cascade_running() -> None:
    p = cascading([rule(CONFLICT, "escalate", name="c")], on_missing_evidence="ignore")
    cascade = Cascade(mean(), None, p)
    # The bands alone would settle (accept only at 0.0 below), but the rule is open.
    assert cascade.settle([ok("judge", 0.9)], [Counting("sf", 0.9, calls=1)]) is None


def test_fail_closed_waits_for_a_restrictive_rule_on_a_pending_signal() -> None:
    cascade = Cascade(mean(), None, cascading([rule(CONFLICT, "escalate", name="c")]))
    failed = [SignalResult.failed("judge", "down")]
    assert cascade.settle(failed, [Counting("sf", 0.9, calls=1)]) is None


def test_fail_closed_ignores_a_permissive_rule_on_a_pending_signal() -> None:
    p = cascading([rule({"signal": "sf", "status": "ok"}, "accept")])
    failed = [SignalResult.failed("judge", "down")]
    settled = Cascade(mean(), None, p).settle(failed, [Counting("sf", 0.9, calls=1)])
    assert settled is not None and "fails closed" in (settled[0].reason or "")


def test_rules_all_false_leave_the_bands_to_settle() -> None:
    p = cascading([rule(JUDGE_LOW, "abstain")])
    settled = Cascade(mean(), None, p).settle([ok("judge", 1.0)], [Counting("x", 0.9)])
    assert settled is None  # [0.5, 1.0] crosses accept 0.8 and annotate 0.6
    p = cascading([rule(JUDGE_LOW, "abstain")], thresholds={"accept": 0.5})
    settled = Cascade(mean(), None, p).settle([ok("judge", 1.0)], [Counting("x", 0.9)])
    assert settled is not None and "band 'accept'" in (settled[0].reason or "")


def _route() -> CallableRoute:
    return CallableRoute(lambda request: None)


# -- the guard checks what the rules name ----------------------------------------


def test_a_guard_refuses_a_rule_on_a_signal_it_does_not_have() -> None:
    policy = Policy.from_dict(
        {
            "rules": [
                {"when": {"signal": "judge", "status": "failed"}, "then": "abstain"}
            ]
        }
    )
    with pytest.raises(UnknownComponentError, match="signal \\(in policy rules\\)"):
        Guard([FunctionSignal(lambda obs: 0.9, name="fixed")], policy)


def test_a_guard_refuses_a_rule_escalating_to_a_route_it_does_not_have() -> None:
    policy = Policy.from_dict(
        {
            "rules": [
                {
                    "when": {"signal": "fixed", "confidence": {"lt": 0.5}},
                    "then": "escalate",
                    "route": "pager",
                }
            ]
        }
    )
    with pytest.raises(UnknownComponentError, match="route \\(in policy rules\\)"):
        Guard([FunctionSignal(lambda obs: 0.9, name="fixed")], policy)


def test_a_guard_refuses_a_retry_rule_with_an_unknown_strategy() -> None:
    policy = Policy.from_dict(
        {
            "rules": [
                {
                    "when": {"signal": "fixed", "confidence": {"lt": 0.5}},
                    "then": "retry",
                    "strategy": {"name": "ask_twice"},
                }
            ]
        }
    )
    with pytest.raises(UnknownComponentError, match="retry strategy"):
        Guard([FunctionSignal(lambda obs: 0.9, name="fixed")], policy)


def test_a_rule_on_an_unknown_signal_is_refused_even_with_a_combiner_given() -> None:
    policy = Policy.from_dict(
        {"rules": [{"when": {"signal": "nope", "status": "failed"}, "then": "abstain"}]}
    )
    signal_a = FunctionSignal(lambda o: 0.9, name="a")
    with pytest.raises(UnknownComponentError, match=r"signal \(in policy rules\)"):
        Guard([signal_a], policy, combiner=mean())


@pytest.mark.parametrize(
    ("cond", "needs"),
    [
        (signal("retrieval").ok, False),  # ok exactly when a confidence was kept
        (signal("judge").confidence < 0.3, False),
        (signal("judge").skipped, True),  # a kept None: skipped, or failed?
        (signal("judge").failed, True),
        (Status("judge", ("skipped", "failed")), False),  # either: a kept None
        (signal("judge").skipped | signal("judge").failed, False),  # not ok: None
        (signal("judge").skipped | signal("tokens").failed, True),  # two signals
        (signal("judge").skipped | signal("judge").ok, True),
        (signal("situated").detail("conflict").eq(True), True),
        (signal("judge").ok | signal("situated").detail("conflict").eq(True), True),
        (~signal("judge").skipped, True),
        (signal("judge").ok & (signal("tokens").confidence > 0.5), False),
    ],
)
def test_a_condition_says_whether_confidences_alone_can_settle_it(
    cond: Condition, needs: bool
) -> None:
    assert cond.needs_record() is needs
