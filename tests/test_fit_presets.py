"""scripts/fit_presets.py certifies a preset's threshold on each kind of data apart,
and fits a combination per stratum where the strata's signals differ."""

from __future__ import annotations

import random
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))

from fit_presets import DELTA, certify, choose_combination, folds_of

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


def test_the_threshold_holds_on_each_kind_not_only_on_their_mix() -> None:
    easy, hard = kind("squad", 0.2, 600, 1), kind("conflicts", 0.7, 600, 2)
    rows = easy + hard
    conf, correct, kinds = (list(v) for v in zip(*rows, strict=True))
    control, by_kind = certify(conf, correct, kinds, 0.2, seed=0)
    assert control is not None
    assert control.threshold == max(by_kind.values())
    assert by_kind["conflicts"] > by_kind["squad"]
    assert risk_above(hard, control.threshold) <= 0.2
    assert control.delta == DELTA and "per data kind" in control.method
    accepted = sum(c >= control.threshold for c in conf) / len(conf)
    assert control.coverage == pytest.approx(accepted)


def test_an_alpha_one_kind_cannot_reach_moves_up_the_grid() -> None:
    rare = [(c, r and c > 0.95, k) for c, r, k in kind("conflicts", 0.5, 400, 3)]
    rows = kind("squad", 0.2, 400, 4) + rare
    conf, correct, kinds = (list(v) for v in zip(*rows, strict=True))
    control, by_kind = certify(conf, correct, kinds, 0.1, seed=0)
    assert control is not None and control.target_risk > 0.1
    assert control.threshold == by_kind["conflicts"] > by_kind["squad"]


def test_a_kind_with_no_right_answer_certifies_nothing() -> None:
    never = [(c, False, k) for c, _, k in kind("conflicts", 0.5, 300, 5)]
    rows = kind("squad", 0.2, 300, 6) + never
    conf, correct, kinds = (list(v) for v in zip(*rows, strict=True))
    assert certify(conf, correct, kinds, 0.1, seed=0) == (None, {})


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
