"""A named stratum can be calibrated to a target risk of its own."""

from __future__ import annotations

from pathlib import Path

import pytest

from confguard.cli import main
from confguard.evaluation.calibrate import calibrate_policy
from confguard.evaluation.targets import group_targets, parse_targets
from confguard.exceptions import InputError
from confguard.policy import Policy
from tests.test_calibration_guarded import write_samples
from tests.test_calibration_strata import (
    DELTA,
    RETRIEVED,
    TARGET,
    certified_at,
    realised_risk,
    stratified,
    two_kinds,
)

STRICT = 0.15  # the retrieved stratum's own target, below TARGET


def test_a_stratum_holds_its_own_target_and_the_rest_the_common_one() -> None:
    train, fresh = two_kinds(3000, seed=0), two_kinds(8000, seed=99)
    own = calibrate_policy(train, stratified(), target_risk=TARGET, delta=DELTA,
                           stratum_risk={"retrieved": STRICT})  # fmt: skip
    common = calibrate_policy(train, stratified(), target_risk=TARGET, delta=DELTA)
    stratum, rest = (g.control for g in own.groups)
    assert stratum is not None and rest is not None
    assert (stratum.target_risk, rest.target_risk) == (STRICT, TARGET)
    assert own.policy.strata[0].risk_control == stratum
    held = realised_risk(own.policy, fresh)
    assert held[True] <= STRICT and held[False] <= TARGET
    looser = common.groups[0].control
    assert looser is not None and stratum.threshold > looser.threshold
    assert realised_risk(common.policy, fresh)[True] > STRICT  # so it was needed


def test_a_stratum_too_small_to_test_is_judged_at_its_own_target() -> None:
    samples = two_kinds(3000, seed=1, retrieved_share=0.005)
    done = calibrate_policy(samples, stratified(), target_risk=TARGET, delta=DELTA,
                            stratum_risk={"retrieved": STRICT})  # fmt: skip
    why = done.groups[0].why
    assert why is not None and f"certifying risk <= {STRICT:g} at delta" in why


@pytest.mark.parametrize(
    ("stratum_risk", "outcome"),
    [
        ({}, "closed"),  # the old 0.3 certificate is weaker than the common 0.25
        ({"retrieved": 0.3}, "kept"),  # as strong as the stratum's own target
        # A looser target needs fewer held-out answers: its 30 are now enough.
        ({"retrieved": 0.35}, "certified"),
    ],
)
def test_an_uncertified_stratum_keeps_its_cut_only_if_as_strong_as_its_own_target(
    stratum_risk: dict[str, float], outcome: str
) -> None:
    base = stratified(risk_control=certified_at(0.3, 0.05))
    samples = two_kinds(3000, seed=1, retrieved_share=0.01)
    done = calibrate_policy(samples, base, target_risk=TARGET, delta=DELTA,
                            stratum_risk=stratum_risk, combiner="policy",
                            calibrator=None)  # fmt: skip
    assert done.groups[0].outcome == outcome


def two_strata() -> Policy:
    """The retrieved stratum, then one with no name."""
    named = {"name": "retrieved", "when": RETRIEVED, "thresholds": {"accept": 0.5}}
    unnamed = {"when": {"signal": "good", "confidence": {"lt": 0.1}},
               "thresholds": {"annotate": 0.5}}  # fmt: skip
    return Policy.from_dict({"thresholds": {"accept": 0.8}, "strata": [named, unnamed]})


@pytest.mark.parametrize(
    ("stratum_risk", "targets"),
    [
        (None, (0.25, 0.25, 0.25)),
        ({}, (0.25, 0.25, 0.25)),
        ({"retrieved": 0.1}, (0.1, 0.25, 0.25)),  # the unnamed one and the rest
    ],
)
def test_each_group_gets_its_named_target_or_the_common_one(
    stratum_risk: dict[str, float] | None, targets: tuple[float, ...]
) -> None:
    assert group_targets(two_strata(), 0.25, stratum_risk) == targets


@pytest.mark.parametrize(
    ("policy", "stratum_risk", "said"),
    [
        (two_strata(), {"nosuch": 0.2}, "no stratum named 'nosuch'; its named "
         "strata: 'retrieved'"),
        (Policy(), {"retrieved": 0.2}, "only a stratum with a name can be given"),
        (two_strata(), {"retrieved": 1.0}, "stratum 'retrieved''s target risk must "
         "be in (0, 1), got 1"),
        (two_strata(), {"retrieved": 0.0}, "must be in (0, 1), got 0"),
    ],
)  # fmt: skip
def test_a_target_for_a_missing_stratum_or_out_of_range_is_refused(
    policy: Policy, stratum_risk: dict[str, float], said: str
) -> None:
    with pytest.raises(InputError) as caught:
        group_targets(policy, 0.25, stratum_risk)
    assert said in str(caught.value)


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ("", {}),
        ("  ", {}),
        ("retrieved=0.5", {"retrieved": 0.5}),
        (" retrieved = 0.5 , conflict=0.3,", {"retrieved": 0.5, "conflict": 0.3}),
    ],
)
def test_targets_are_written_name_equals_risk(
    text: str, parsed: dict[str, float]
) -> None:
    assert parse_targets(text) == parsed


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("retrieved", "expected a stratum's target as name=risk, got 'retrieved'"),
        ("=0.5", "expected a stratum's target as name=risk, got '=0.5'"),
        ("retrieved=half", "stratum 'retrieved': expected a target risk, got 'half'"),
        ("a=0.1,a=0.2", "stratum 'a' is given a target twice"),
    ],
)
def test_a_malformed_target_is_refused_saying_what_was_wrong(
    text: str, said: str
) -> None:
    with pytest.raises(InputError) as caught:
        parse_targets(text)
    assert said in str(caught.value)


def cli(tmp_path: Path, *more: str) -> int:
    samples, policy = tmp_path / "samples.jsonl", tmp_path / "base.yaml"
    write_samples(samples, two_kinds(3000, seed=0))
    policy.write_text(stratified().to_yaml())
    return main(
        [
            "calibrate", "--samples", str(samples), "--policy", str(policy),
            "--target-risk", "0.25", "--delta", "0.1",
            "--out", str(tmp_path / "policy.yaml"), *more,
        ]
    )  # fmt: skip


def test_the_cli_certifies_a_stratum_at_the_target_given_for_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli(tmp_path, "--stratum-risk", f"retrieved={STRICT}") == 0
    lines = capsys.readouterr().out.splitlines()
    assert any(
        line.startswith("stratum 'retrieved': accept >= ")
        and f"error rate among accepted answers <= {STRICT:g} " in line
        for line in lines
    )
    written = Policy.from_yaml(tmp_path / "policy.yaml")
    control = written.strata[0].risk_control
    assert control is not None and control.target_risk == STRICT
    assert written.risk_control is not None and written.risk_control.target_risk == 0.25
    assert written.strata[0].when.to_data() == RETRIEVED


def test_the_cli_refuses_a_target_for_a_stratum_the_policy_lacks(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli(tmp_path, "--stratum-risk", "nosuch=0.2") == 2
    assert "error: the policy has no stratum named 'nosuch'" in capsys.readouterr().out
    assert not (tmp_path / "policy.yaml").exists()


def test_the_cli_refuses_a_target_for_a_missing_stratum_before_reading_labels(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    policy = tmp_path / "base.yaml"
    policy.write_text(stratified().to_yaml())
    code = main(
        [
            "calibrate", "--samples", str(tmp_path / "missing.jsonl"),
            "--policy", str(policy), "--target-risk", "0.25",
            "--stratum-risk", "nosuch=0.2",
        ]
    )  # fmt: skip
    assert code == 2
    assert "no stratum named 'nosuch'" in capsys.readouterr().out  # not the file
