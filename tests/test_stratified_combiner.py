"""A stratified combiner: one logistic fit per kind of request, picked by a signal."""

from __future__ import annotations

import math
import textwrap
from pathlib import Path

import pytest

from confguard import Guard
from confguard.exceptions import ConfigurationError, PolicyError, UnknownComponentError
from confguard.observation import Observation
from confguard.policy import Policy
from confguard.results import SignalResult
from confguard.scoring.aggregate import LogisticCombiner
from confguard.scoring.stratified import StratifiedCombiner
from confguard.signals.base import FunctionSignal

RETRIEVED = LogisticCombiner(
    intercept=-1.0, coefficients={"tokens": 4.0}, fill={"tokens": 0.5}
)
SUPPLIED = LogisticCombiner(
    intercept=0.0,
    coefficients={"tokens": -1.0, "conflict": 3.0},
    fill={"tokens": 0.5, "conflict": 0.5},
)
COMBINER = StratifiedCombiner(by="retrieval", when_ok=RETRIEVED, otherwise=SUPPLIED)


def ok(name: str, value: float) -> SignalResult:
    return SignalResult(name=name, confidence=value)


def sigmoid(z: float) -> float:
    return 1 / (1 + math.exp(-z))


def test_the_fit_of_the_requests_kind_combines_it() -> None:
    retrieved = [ok("retrieval", 0.7), ok("tokens", 0.9), ok("conflict", 0.1)]
    value, reasons = COMBINER.combine(retrieved)
    assert value == pytest.approx(sigmoid(-1.0 + 4.0 * 0.9))
    assert reasons[0] == "stratum: 'retrieval' ok"
    assert reasons[1].startswith("logistic ['tokens' 0.90]")


@pytest.mark.parametrize(
    "selector",
    [[], [SignalResult.skipped("retrieval", "contexts carry no retrieval scores")]],
    ids=["absent", "skipped"],
)
def test_without_the_picking_signal_ok_the_other_fit_is_used(
    selector: list[SignalResult],
) -> None:
    value, reasons = COMBINER.combine([*selector, ok("tokens", 0.9), ok("conflict", 1)])
    assert value == pytest.approx(sigmoid(-0.9 + 3.0))
    assert reasons[0] == "stratum: 'retrieval' not ok"


def test_its_span_covers_both_fits_until_the_picking_signal_reports() -> None:
    done = [ok("tokens", 0.9)]
    low, high = COMBINER.span(done, ["retrieval", "conflict"])
    retrieved = RETRIEVED.span(done, ["conflict"])
    supplied = SUPPLIED.span(done, ["conflict"])
    assert (low, high) == (
        min(retrieved[0], supplied[0]),
        max(retrieved[1], supplied[1]),
    )
    assert COMBINER.span([*done, ok("retrieval", 0.5)], ["conflict"]) == retrieved


def test_it_names_the_signals_of_both_fits_and_the_picking_one() -> None:
    assert COMBINER.signal_names() == ["tokens", "conflict", "retrieval"]


def test_a_policy_carries_it_and_reads_it_back() -> None:
    policy = Policy.from_dict(
        {"thresholds": {"accept": 0.6}, "combiner": COMBINER.model_dump(mode="json")}
    )
    assert policy.combiner == COMBINER
    assert Policy.from_yaml(policy.to_yaml()) == policy


def test_a_fitted_combiner_of_unknown_kind_is_refused() -> None:
    data = COMBINER.model_dump(mode="json") | {"kind": "forest"}
    with pytest.raises(PolicyError, match="combiner"):
        Policy.from_dict({"thresholds": {"accept": 0.6}, "combiner": data})


def test_a_stratum_without_its_fit_is_refused() -> None:
    data = COMBINER.model_dump(mode="json")
    del data["otherwise"]
    with pytest.raises(PolicyError, match="otherwise"):
        Policy.from_dict({"thresholds": {"accept": 0.6}, "combiner": data})


def fixed(name: str, value: float | None) -> FunctionSignal:
    return FunctionSignal(
        lambda obs: (
            ok(name, value)
            if value is not None
            else SignalResult.skipped(name, "no retrieval scores")
        ),
        name,
    )


def guard(retrieval: float | None) -> Guard:
    policy = Policy.from_dict(
        {
            "thresholds": {"accept": 0.6},
            "on_missing_evidence": "ignore",
            "combiner": COMBINER.model_dump(mode="json"),
        }
    )
    signals = [
        fixed("retrieval", retrieval),
        fixed("tokens", 0.9),
        fixed("conflict", 0.0),
    ]
    return Guard(signals, policy)


def test_a_guard_decides_each_request_by_its_own_kinds_fit() -> None:
    obs = Observation(question="Who won?", answer="Denver")
    # Same token evidence: trusted over retrieved passages, not over supplied ones
    # whose conflict signal says the context disagrees.
    assert guard(retrieval=0.8).check(obs).decision.action == "accept"
    assert guard(retrieval=None).check(obs).decision.action != "accept"


def test_a_guard_refuses_a_combiner_reading_a_signal_it_does_not_run() -> None:
    policy = Policy.from_dict(
        {"thresholds": {"accept": 0.6}, "combiner": COMBINER.model_dump(mode="json")}
    )
    with pytest.raises(UnknownComponentError, match="conflict"):
        Guard([fixed("retrieval", 0.5), fixed("tokens", 0.5)], policy)


def test_a_config_file_declares_it_and_an_error_names_the_line(tmp_path: Path) -> None:
    text = textwrap.dedent(
        """
        signals: [min_token_prob, retrieval]
        policy:
          thresholds: {accept: 0.6}
          on_missing_evidence: ignore
          combiner:
            kind: stratified
            by: retrieval
            when_ok: {intercept: 0.0, coefficients: {min_token_prob: 2.0},
                      fill: {min_token_prob: 0.5}}
            otherwise: {intercept: 0.0, coefficients: {min_token_prob: 1.0},
                        fill: {min_token_prob: 0.5}}
        """
    ).lstrip()
    path = tmp_path / "guard.yaml"
    path.write_text(text, encoding="utf-8")
    with Guard.from_config(path) as built:
        assert built.combiner == StratifiedCombiner.model_validate(  # type: ignore[attr-defined]
            built.policy.combiner.model_dump()  # type: ignore[union-attr]
        )
    path.write_text(text.replace("by: retrieval", "by: ''"), encoding="utf-8")
    with pytest.raises(ConfigurationError, match=r"line \d+.*combiner"):
        Guard.from_config(path)
