"""Calibrating a policy with strata certifies each stratum on its own answers."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from confguard.cli import main
from confguard.evaluation.calibrate import calibrate_policy
from confguard.evaluation.compare import (
    Candidate,
    ranking_auroc,
    verdict,
    within_auroc,
)
from confguard.evaluation.groups import OWN, Certificate, Groups, grouped
from confguard.evaluation.replay import replay
from confguard.exceptions import CalibrationError
from confguard.policy import Policy
from confguard.policy.decide import decide
from confguard.results import Accept, SignalResult
from confguard.scoring.aggregate import assess
from confguard.scoring.calibration import LabelledSample
from confguard.scoring.thresholds import RiskControl
from tests.test_calibration_guarded import write_samples

TARGET, DELTA = 0.25, 0.1


def two_kinds(n: int, seed: int, retrieved_share: float = 0.5) -> list[LabelledSample]:
    """Retrieved requests (retrieval >= 0.5): mostly right and well ranked by `good`;
    the rest: barely more right than wrong, and ranked less well."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        if rng.uniform() < retrieved_share:
            right = bool(rng.uniform() < 0.7)
            good = rng.normal(0.75 if right else 0.35, 0.12)
            retrieval = rng.uniform(0.5, 1.0)
        else:
            right = bool(rng.uniform() < 0.55)
            good = rng.normal(0.62 if right else 0.42, 0.12)
            retrieval = rng.uniform(0.0, 0.5)
        signals = {"good": float(np.clip(good, 0, 1)), "retrieval": float(retrieval)}
        out.append(LabelledSample(signals=signals, correct=right))
    return out


def retrieved(sample: LabelledSample) -> bool:
    return (sample.signals["retrieval"] or 0.0) >= 0.5


RETRIEVED = {"signal": "retrieval", "confidence": {"ge": 0.5}}


def stratified(**stratum: object) -> Policy:
    entry = {
        "name": "retrieved",
        "when": RETRIEVED,
        "thresholds": {"accept": 0.5, "annotate": 0.3},
    }
    return Policy.from_dict(
        {"thresholds": {"accept": 0.8, "annotate": 0.2}, "strata": [entry | stratum]}
    )


def realised_risk(policy: Policy, fresh: list[LabelledSample]) -> dict[bool, float]:
    """The error among answers `decide` accepts, by kind (retrieved or not)."""
    combiner = policy.build_combiner()
    accepted = {True: 0, False: 0}
    wrong = {True: 0, False: 0}
    for sample in fresh:
        decision = decide(policy, assess(sample.results(), combiner, policy.calibrator))
        if isinstance(decision, Accept):
            accepted[retrieved(sample)] += 1
            wrong[retrieved(sample)] += not sample.correct
    assert min(accepted.values()) > 100  # both kinds really accepted answers
    return {kind: wrong[kind] / accepted[kind] for kind in accepted}


def test_each_stratum_holds_its_risk_on_fresh_answers_where_one_cut_does_not() -> None:
    train, fresh = two_kinds(3000, seed=0), two_kinds(8000, seed=99)
    by_strata = calibrate_policy(train, stratified(), target_risk=TARGET, delta=DELTA)
    unstratified = Policy.from_dict({"thresholds": {"accept": 0.8, "annotate": 0.2}})
    pooled = calibrate_policy(train, unstratified, target_risk=TARGET, delta=DELTA)
    held = realised_risk(by_strata.policy, fresh)
    assert all(r <= TARGET for r in held.values())
    replayed = replay(by_strata.policy, fresh)  # the library's count agrees
    assert [r.risk for r in replayed] == pytest.approx([held[True], held[False]])
    assert realised_risk(pooled.policy, fresh)[False] > TARGET  # the rest pay for it


def test_each_group_is_certified_on_its_own_held_out_answers() -> None:
    done = calibrate_policy(two_kinds(3000, seed=0), stratified(), target_risk=TARGET,
                            delta=DELTA)  # fmt: skip
    stratum, own = done.groups
    assert (stratum.group, own.group) == ("'retrieved'", OWN)
    assert stratum.outcome == own.outcome == "certified"
    assert stratum.held_out + own.held_out == done.certified_on
    for group in done.groups:
        assert group.control is not None
        assert group.control.n + group.control.n_plan == group.held_out
        assert group.control.delta == pytest.approx(DELTA / 4)  # 2 pairs x 2 groups
        assert "2 candidates and 2 groups of requests (Bonferroni)" in (
            group.control.method
        )
    assert stratum.control is not None and own.control is not None
    written = done.policy.strata[0]
    assert written.risk_control == stratum.control
    assert written.thresholds.accept == stratum.control.threshold
    assert written.thresholds.annotate == min(0.3, stratum.control.threshold)
    assert done.policy.risk_control == own.control == done.control
    assert done.policy.thresholds.accept == own.control.threshold
    assert written.when.to_data() == RETRIEVED


def test_a_group_too_small_to_test_costs_the_others_no_share_of_delta() -> None:
    samples = two_kinds(3000, seed=1, retrieved_share=0.005)
    done = calibrate_policy(samples, stratified(), target_risk=TARGET, delta=DELTA)
    stratum, own = done.groups
    assert stratum.control is None and stratum.why is not None
    assert "held-out labels; certifying risk <= 0.25" in stratum.why
    assert own.control is not None and own.control.delta == pytest.approx(DELTA / 2)


def certified_at(target_risk: float, delta: float) -> dict[str, object]:
    """A stratum's earlier certificate at accept 0.5, as a policy file holds it."""
    return RiskControl(
        target_risk=target_risk, delta=delta, threshold=0.5, upper_bound=0.19,
        empirical_risk=0.15, coverage=0.4, accepted=80, errors=12, n=200,
    ).model_dump()  # fmt: skip


def test_an_uncertified_stratum_keeps_a_cut_as_strong_as_asked_under_its_scoring() -> (
    None
):
    base = stratified(risk_control=certified_at(0.2, 0.05))  # stronger than asked
    samples = two_kinds(3000, seed=1, retrieved_share=0.01)
    done = calibrate_policy(samples, base, target_risk=TARGET, delta=DELTA,
                            combiner="policy", calibrator=None)  # fmt: skip
    assert done.groups[0].outcome == "kept"
    assert done.policy.strata[0] == base.strata[0]  # thresholds and certificate
    assert done.strata_lines()[0].startswith("stratum 'retrieved': kept as it was")


@pytest.mark.parametrize(
    ("certificate", "said"),
    [
        (certified_at(0.3, 0.05), "(risk <= 0.3 at delta 0.05) is weaker than"),
        (certified_at(0.2, 0.2), "(risk <= 0.2 at delta 0.2) is weaker than"),
        (None, "its thresholds were never certified"),
    ],
)
def test_an_uncertified_stratum_whose_old_cut_is_weaker_than_asked_is_closed(
    certificate: dict[str, object] | None, said: str
) -> None:
    base = stratified(risk_control=certificate)
    samples = two_kinds(3000, seed=1, retrieved_share=0.01)
    done = calibrate_policy(samples, base, target_risk=TARGET, delta=DELTA,
                            combiner="policy", calibrator=None)  # fmt: skip
    stratum = done.groups[0]
    assert stratum.outcome == "closed" and stratum.why is not None
    assert said in stratum.why
    assert done.policy.strata[0].thresholds.accept is None


def test_an_uncertified_stratum_is_closed_when_a_fit_replaces_the_scoring() -> None:
    samples = two_kinds(3000, seed=1, retrieved_share=0.01)
    done = calibrate_policy(samples, stratified(), target_risk=TARGET, delta=DELTA)
    assert done.comparison is not None and done.comparison.kept == "fitted"
    assert done.groups[0].outcome == "closed"
    written = done.policy.strata[0]
    assert written.thresholds.accept is None and written.thresholds.annotate == 0.3
    assert written.risk_control is None
    assert done.strata_lines()[0].startswith("stratum 'retrieved': closed")


def test_closing_a_stratum_with_no_band_below_accept_is_refused() -> None:
    samples = two_kinds(3000, seed=1, retrieved_share=0.01)
    base = stratified(thresholds={"accept": 0.5})
    with pytest.raises(CalibrationError, match="stratum 'retrieved' cannot be"):
        calibrate_policy(samples, base, target_risk=TARGET, delta=DELTA)


def test_a_stratum_whose_answers_are_all_right_is_certified() -> None:
    samples = [
        s.model_copy(update={"correct": True}) if retrieved(s) else s
        for s in two_kinds(3000, seed=0)
    ]
    done = calibrate_policy(samples, stratified(), target_risk=TARGET, delta=DELTA)
    control = done.groups[0].control
    assert control is not None and control.errors == 0


def conflict_policy() -> Policy:
    when = {"signal": "situated", "detail": {"key": "conflict", "eq": True}}
    return Policy.from_dict(
        {
            "thresholds": {"accept": 0.8, "annotate": 0.2},
            "strata": [{"name": "conflict", "when": when,
                        "thresholds": {"accept": 0.9, "annotate": 0.5}}],
        }
    )  # fmt: skip


def with_conflict(sample: LabelledSample, conflict: bool) -> LabelledSample:
    confidence = sample.signals["good"]
    recorded = (
        SignalResult(name="good", confidence=confidence),
        SignalResult(name="situated", confidence=0.5, details={"conflict": conflict}),
    )
    signals = {"good": confidence, "situated": 0.5}
    return sample.model_copy(update={"signals": signals, "recorded": recorded})


def test_a_stratum_read_by_a_detail_needs_the_recorded_results() -> None:
    bare = two_kinds(400, seed=0)
    with pytest.raises(CalibrationError, match="stratum 'conflict' is picked by"):
        calibrate_policy(bare, conflict_policy(), target_risk=TARGET, delta=DELTA)
    recorded = [with_conflict(s, i % 3 == 0) for i, s in enumerate(bare)]
    groups = grouped(conflict_policy(), recorded)
    assert groups.of == tuple(0 if i % 3 == 0 else 1 for i in range(400))


def test_the_cli_prints_each_groups_guarantee_and_writes_the_strata(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    samples, policy = tmp_path / "samples.jsonl", tmp_path / "base.yaml"
    write_samples(samples, two_kinds(3000, seed=0))
    policy.write_text(stratified().to_yaml())
    out = tmp_path / "policy.yaml"
    code = main(
        [
            "calibrate", "--samples", str(samples), "--policy", str(policy),
            "--target-risk", "0.25", "--delta", "0.1", "--out", str(out),
        ]
    )  # fmt: skip
    assert code == 0
    lines = capsys.readouterr().out.splitlines()
    assert any(line.startswith("stratum 'retrieved': accept >= ") for line in lines)
    assert any(line.startswith(f"{OWN}: accept >= ") for line in lines)
    written = Policy.from_yaml(out).strata
    assert len(written) == 1 and written[0].risk_control is not None


def certificate(group: str, risk: float | None) -> Certificate:
    if risk is None:
        return Certificate(
            group=group, held_out=100, target_risk=0.3, refusal="too few"
        )
    control = RiskControl(
        target_risk=0.3, delta=0.0125, threshold=0.5, upper_bound=0.29,
        empirical_risk=risk, coverage=0.5, accepted=40, errors=int(40 * risk),
        n=80, n_plan=20,
    )  # fmt: skip
    return Certificate(group=group, held_out=100, target_risk=0.3, control=control)


def candidate(name: str, stratum: float | None, own: float | None) -> Candidate:
    certificates = (certificate("'s'", stratum), certificate(OWN, own))
    return Candidate(name=name, auroc=0.8, certificates=certificates)


@pytest.mark.parametrize(
    ("fitted", "current", "kept"),
    [
        ((None, 0.1), (0.05, 0.1), "current"),  # same own cut, one stratum fewer
        ((0.05, 0.1), (None, 0.1), "fitted"),
        ((0.1, 0.1), (0.05, 0.1), "current"),  # errs more over both, keeps no more
        ((None, None), (0.05, 0.1), "current"),
        ((0.2, None), (None, None), "fitted"),  # certified a stratum only: still one
    ],
)
def test_the_rule_for_better_pools_every_group_certified(
    fitted: tuple[float | None, float | None],
    current: tuple[float | None, float | None],
    kept: str,
) -> None:
    assert verdict(candidate("f", *fitted), candidate("c", *current))[0] == kept


def test_ranking_is_judged_inside_each_group_of_requests() -> None:
    # Inside each group the ranking is perfect; pooled, the high group's wrong
    # answers outrank the low group's right ones.
    scores = [0.9, 0.8, 0.2, 0.1]
    correct = [True, False, True, False]
    two = Groups(labels=("'s'", OWN), of=(0, 0, 1, 1))
    assert within_auroc(scores, correct, two) == 1.0
    one = Groups(labels=(OWN,), of=(0, 0, 0, 0))
    assert within_auroc(scores, correct, one) == ranking_auroc(scores, correct) == 0.75


def test_a_refusal_under_strata_counts_the_labels_needed_in_all() -> None:
    # 20 labels, about half of each kind: each group is short of the 12 it needs to
    # be tested at all, so labelling 12 in all would still be short.
    samples = two_kinds(20, seed=3)
    rest = sum(not retrieved(s) for s in samples)
    assert 0 < rest < 12 and 0 < 20 - rest < 12
    with pytest.raises(CalibrationError) as caught:
        calibrate_policy(samples, stratified(), target_risk=TARGET, delta=DELTA,
                         combiner="policy", calibrator=None)  # fmt: skip
    assert "needs at least 12" in str(caught.value)
    assert caught.value.have == 20  # every label, not the last group's
    # At this mix, enough for the larger group, the nearer to certifying.
    assert caught.value.needed == math.ceil(12 * 20 / max(rest, 20 - rest))


def test_a_group_with_no_held_out_labels_does_not_hide_what_another_needs() -> None:
    # Every request retrieved: the rest has nothing held out and cannot say what
    # it needs; the refusal gives what the retrieved stratum needs instead.
    samples = two_kinds(20, seed=3, retrieved_share=1.0)
    with pytest.raises(CalibrationError) as caught:
        calibrate_policy(samples, stratified(), target_risk=TARGET, delta=DELTA,
                         combiner="policy", calibrator=None)  # fmt: skip
    said, needed = str(caught.value), caught.value.needed
    assert said.startswith("no threshold certifies risk <= 0.25 at delta 0.1 with 20")
    assert caught.value.have == 20 and needed is not None and needed > 20
