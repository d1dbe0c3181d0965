"""scripts/fit_presets.py certifies each stratum's threshold on its own answers, and
fits a combination per stratum where the strata's signals differ."""

from __future__ import annotations

import random
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))

from fit_presets import (
    DELTA,
    PLAN_SEEDS,
    calibrator_of,
    certify_strata,
    choose_combination,
    cross_fitted,
    fit_selector,
    folds_of,
    plan_seed_stability,
    preset_policy,
)
from preset_features import Candidates

from confguard.evaluation.datasets import EvalItem
from confguard.scoring.calibration import LabelledSample
from confguard.scoring.stratified import StratifiedCombiner


def kind(name: str, cut: float, n: int, seed: int) -> list[tuple[float, bool, str]]:
    """`n` answers whose confidence is uniform and which are right above `cut`
    (with 10% label noise either way)."""
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        c = rng.random()
        right = (c > cut) != (rng.random() < 0.1)
        rows.append((c, right, name))
    return rows


def risk_above(rows: list[tuple[float, bool, str]], threshold: float) -> float:
    accepted = [r for r in rows if r[0] >= threshold]
    return sum(not r[1] for r in accepted) / len(accepted)


def columns(rows: list[tuple[float, bool, str]]) -> tuple[list, list, list]:
    conf, correct, strata = (list(v) for v in zip(*rows, strict=True))
    return conf, correct, strata


def test_each_stratum_is_certified_on_its_own_answers() -> None:
    easy, hard = kind("ok", 0.2, 600, 1), kind("not ok", 0.7, 600, 2)
    conf, correct, strata = columns(easy + hard)
    controls = certify_strata(conf, correct, strata, {"ok": 0.2, "not ok": 0.2}, 0)
    assert controls["not ok"].threshold > controls["ok"].threshold
    assert risk_above(hard, controls["not ok"].threshold) <= 0.2
    assert risk_above(easy, controls["ok"].threshold) <= 0.2
    assert all(c.delta == DELTA / 2 for c in controls.values()), "both hold at once"
    assert controls["ok"].n + controls["ok"].n_plan == len(easy)
    accepted = sum(c >= controls["ok"].threshold for c, _, _ in easy) / len(easy)
    assert controls["ok"].coverage == pytest.approx(accepted, abs=0.05)


def test_an_alpha_one_stratum_cannot_reach_moves_up_for_that_stratum_alone() -> None:
    rare = [(c, r and c > 0.95, k) for c, r, k in kind("not ok", 0.5, 400, 3)]
    conf, correct, strata = columns(kind("ok", 0.2, 400, 4) + rare)
    controls = certify_strata(conf, correct, strata, {"ok": 0.2, "not ok": 0.2}, 0)
    assert controls["not ok"].target_risk > 0.2
    assert controls["ok"].target_risk == 0.2


def test_a_stratum_with_no_right_answer_certifies_nothing() -> None:
    never = [(c, False, k) for c, _, k in kind("not ok", 0.5, 300, 5)]
    conf, correct, strata = columns(kind("ok", 0.2, 300, 6) + never)
    controls = certify_strata(conf, correct, strata, {"ok": 0.1, "not ok": 0.1}, 0)
    assert controls["not ok"] is None and controls["ok"] is not None


def test_plan_seed_stability_counts_the_planning_splits_that_certify() -> None:
    conf, correct, _ = columns(kind("ok", 0.2, 600, 10))
    easy = plan_seed_stability(conf, correct, 0.3, 0.05)
    assert easy["certified"] == 1.0 and 0.5 < easy["mean_coverage"] <= 1.0
    never = plan_seed_stability(conf, [False] * len(conf), 0.3, 0.05)
    assert never == {"certified": 0.0, "mean_coverage": 0.0}
    assert PLAN_SEEDS >= 20, "enough draws for the share to mean something"


def test_the_retrieved_stratum_gets_its_own_thresholds_and_guarantee() -> None:
    easy, hard = kind("ok", 0.2, 600, 7), kind("not ok", 0.7, 600, 8)
    conf, correct, strata = columns(easy + hard)
    controls = certify_strata(conf, correct, strata, {"ok": 0.2, "not ok": 0.3}, 0)
    policy = preset_policy("fast", "mean", None, controls)
    assert policy.risk_control == controls["not ok"]
    assert policy.thresholds.accept == controls["not ok"].threshold
    (retrieved,) = policy.strata
    assert retrieved.name == "retrieved" and retrieved.risk_control == controls["ok"]
    assert retrieved.thresholds.accept == controls["ok"].threshold
    assert policy.stratum_signals() == ("retrieval",)


def test_one_kind_of_request_alone_sets_the_policy_thresholds() -> None:
    conf, correct, strata = columns(kind("ok", 0.2, 600, 9))
    controls = certify_strata(conf, correct, strata, {"ok": 0.2}, 0)
    policy = preset_policy("fast", "mean", None, controls)
    assert policy.strata == () and policy.risk_control == controls["ok"]


def opposite_strata(n: int, seed: int) -> tuple[list[LabelledSample], list[str]]:
    """Answers where signal `a` tells right from wrong in one stratum and `b` in
    the other, and each is noise where the other counts."""
    rng = random.Random(seed)
    samples, strata = [], []
    for i in range(n):
        stratum = "ok" if i % 2 else "not ok"
        right = rng.random() < 0.5
        telling = min(1.0, max(0.0, (0.7 if right else 0.3) + rng.gauss(0, 0.15)))
        noise = rng.random()
        a, b = (telling, noise) if stratum == "ok" else (noise, telling)
        samples.append(
            LabelledSample(signals={"a": a, "b": b, "retrieval": None}, correct=right)
        )
        strata.append(stratum)
    return samples, strata


def test_strata_whose_signals_differ_get_a_fit_each() -> None:
    samples, strata = opposite_strata(400, seed=7)
    folds = folds_of([str(i) for i in range(len(samples))], seed=0)
    chosen, report = choose_combination(samples, folds, ["a", "b"], (), strata)
    assert report["combination"] == "stratified"
    within = report["cv_auroc_within"]
    assert within["stratified"]["mean"] > within["pooled"]["mean"] + 0.05
    combiner = chosen.combiner
    assert isinstance(combiner, StratifiedCombiner) and combiner.by == "retrieval"
    assert combiner.when_ok.coefficients["a"] > 0 < combiner.otherwise.coefficients["b"]


def test_one_stratum_only_is_fitted_pooled() -> None:
    samples, _ = opposite_strata(200, seed=8)
    folds = folds_of([str(i) for i in range(len(samples))], seed=0)
    chosen, report = choose_combination(samples, folds, ["a", "b"], (), ["ok"] * 200)
    assert report["combination"] == "pooled"
    assert not isinstance(chosen.combiner, StratifiedCombiner)


def toy_candidates(n: int, seed: int) -> list[Candidates]:
    """Questions with three candidates each, the right one with the higher agreement."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        right = [rng.random() < 0.4 for _ in range(3)]
        features = [
            {"agreement": (0.6 if r else 0.4) + rng.gauss(0, 0.2)} for r in right
        ]
        item = EvalItem(id=f"q{i}", question=f"question {i}?", answers=("x",))
        out.append(Candidates(item, (), features, right, right))
    return out


def test_each_question_is_picked_by_a_selector_that_never_saw_it() -> None:
    found = toy_candidates(60, seed=11)
    picks = cross_fitted(found, ["agreement"], 1.0, seed=0)
    assert set(picks) == {f.item.id for f in found}
    flipped = [
        Candidates(f.item, (), f.features, f.exact, [not v for v in f.correct])
        if f.item.id == "q0"
        else f
        for f in found
    ]
    again = cross_fitted(flipped, ["agreement"], 1.0, seed=0)
    assert again["q0"].weights == picks["q0"].weights, "its own labels are unseen"
    seen = [k for k in picks if k != "q0" and again[k].weights != picks[k].weights]
    assert seen, "the other folds' selectors did learn from q0"
    whole = fit_selector(found, ["agreement"], 1.0).weights
    assert fit_selector(flipped, ["agreement"], 1.0).weights != whole


def two_level(high_rate: float, n: int = 200) -> tuple[list[float], list[bool]]:
    """Half the answers at confidence 0.2 (a fifth of them right), half at 0.8
    (`high_rate` of them right), interleaved."""
    conf, correct = [], []
    for i in range(n):
        low = i % 2 == 0
        k = i // 2
        conf.append(0.2 if low else 0.8)
        correct.append(k % 5 == 0 if low else (k % 10) < high_rate * 10)
    return conf, correct


def test_confidences_already_calibrated_ship_without_a_calibrator() -> None:
    conf, correct = two_level(0.8)
    folds = folds_of([str(i) for i in range(len(conf))], seed=0)
    calibrator, kind, eces = calibrator_of(conf, correct, folds)
    assert calibrator is None and kind == "none"
    assert eces["none"] == pytest.approx(0.0, abs=1e-9)


def test_overconfident_confidences_get_the_calibrator_that_fixes_them() -> None:
    conf, correct = two_level(0.5)
    folds = folds_of([str(i) for i in range(len(conf))], seed=0)
    calibrator, kind, eces = calibrator_of(conf, correct, folds)
    assert kind in ("platt", "isotonic") and calibrator is not None
    assert eces[kind] < eces["none"] - 0.05
    assert calibrator.calibrate(0.8) == pytest.approx(0.5, abs=0.1)
