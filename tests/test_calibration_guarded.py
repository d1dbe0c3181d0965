"""Fitting never makes the gate worse: the fit is compared, kept or dropped, said."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from confguard.cli import main
from confguard.evaluation import fallback as fallback_module
from confguard.evaluation.calibrate import calibrate_policy, final_scores, split
from confguard.evaluation.compare import Candidate, ranking_auroc, verdict
from confguard.evaluation.groups import OWN, Certificate
from confguard.policy import Policy
from confguard.scoring.aggregate import LogisticCombiner
from confguard.scoring.calibration import LabelledSample
from confguard.scoring.thresholds import RiskControl


def labelled(n: int, noise: int, seed: int) -> list[LabelledSample]:
    """One signal that tells right from wrong, and `noise` that carry nothing."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        right = bool(rng.uniform() < 0.5)
        good = float(np.clip(rng.normal(0.7 if right else 0.3, 0.12), 0.0, 1.0))
        signals = {"good": good}
        signals |= {f"noise{k}": float(rng.uniform()) for k in range(noise)}
        out.append(LabelledSample(signals=signals, correct=right))
    return out


def expert(noise: int) -> Policy:
    """A hand-set policy that already weighs only the informative signal."""
    weights = {"good": 1.0} | {f"noise{k}": 0.0 for k in range(noise)}
    return Policy.from_dict(
        {"thresholds": {"accept": 0.9}, "combiner": "weighted", "weights": weights}
    )


def test_a_logistic_fit_that_overfits_small_data_is_dropped_and_said(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The events-per-signal rule off, so the logistic really fits 9 signals on 80.
    monkeypatch.setattr(fallback_module, "EVENTS_PER_SIGNAL", 0)
    base = expert(8)
    done = calibrate_policy(
        labelled(160, 8, seed=5), base, target_risk=0.3, delta=0.2, calibrator=None
    )
    comparison = done.comparison
    assert comparison is not None and done.fallback is None
    assert comparison.kept == "current"
    assert comparison.fitted.name == "fitted logistic"
    assert comparison.current.name == "policy's weighted"
    fitted_auroc, current_auroc = comparison.fitted.auroc, comparison.current.auroc
    assert fitted_auroc is not None and current_auroc is not None
    assert fitted_auroc < current_auroc
    assert comparison.auroc_gain == pytest.approx(current_auroc - fitted_auroc)
    # The policy keeps its own combiner, under the current pair's certified threshold.
    assert done.policy.combiner == "weighted"
    assert done.policy.weights == base.weights
    assert done.control is not None and done.control == comparison.current.control
    assert done.policy.thresholds.accept == done.control.threshold
    line = comparison.summary()
    assert line.startswith("kept the policy's weighted over the fitted logistic: ")
    assert "the fitted one ranks worse on the 80 held-out samples" in line
    assert f"AUROC {current_auroc:.3f} vs {fitted_auroc:.3f}" in line


def test_with_plenty_of_data_the_better_fit_is_kept_and_by_how_much() -> None:
    plain = Policy.from_dict({"thresholds": {"accept": 0.9}})  # the plain mean
    done = calibrate_policy(labelled(2000, 3, seed=1), plain, target_risk=0.45,
                            delta=0.05)  # fmt: skip
    comparison = done.comparison
    assert comparison is not None and done.fallback is None
    assert comparison.kept == "fitted"
    assert comparison.current.control is not None  # both certified: a real contest
    gain = comparison.auroc_gain
    assert gain is not None and gain > 0.2  # the mean dilutes 'good' with noise
    assert isinstance(done.policy.combiner, LogisticCombiner)
    assert done.policy.combiner.coefficients["good"] > 0
    assert done.policy.calibrator is not None
    assert done.control == comparison.fitted.control
    line = comparison.summary()
    assert line.startswith("kept the fitted logistic + isotonic over the policy's mean")
    assert f"({gain:+.3f})" in line


def test_each_compared_pair_is_certified_at_half_the_delta() -> None:
    done = calibrate_policy(labelled(2000, 3, seed=1), Policy(), target_risk=0.45,
                            delta=0.05)  # fmt: skip
    assert done.control is not None and done.control.delta == pytest.approx(0.025)
    assert "Bonferroni" in done.control.method
    assert done.delta == 0.05


def test_too_few_labels_for_a_logistic_fit_fall_back_to_a_weighted_mean() -> None:
    plain = Policy.from_dict({"thresholds": {"accept": 0.9}})
    done = calibrate_policy(labelled(160, 8, seed=0), plain, target_risk=0.3,
                            delta=0.2)  # fmt: skip
    fell_back = done.fallback
    assert fell_back is not None
    # 80 fitted on, about 40 of each class: a fit over 9 signals wants 90.
    assert fell_back.reason.startswith("over 9 signals it needs 90 ")
    got = int(fell_back.reason.rsplit("(10 per signal); got ", 1)[1])
    assert 30 <= got < 50  # about half of the 80
    assert max(fell_back.weights, key=fell_back.weights.__getitem__) == "good"
    assert fell_back.weights["good"] > 0.8
    assert fell_back.summary().startswith("no logistic fit: over 9 signals")
    comparison = done.comparison
    assert comparison is not None and comparison.kept == "fitted"
    assert comparison.fitted.name == "fitted weighted + isotonic"
    assert done.policy.combiner == "weighted"
    assert done.policy.weights == fell_back.weights


def test_a_fit_split_that_would_be_large_enough_fits_the_logistic() -> None:
    done = calibrate_policy(labelled(600, 1, seed=0), Policy(), target_risk=0.3,
                            delta=0.2)  # fmt: skip
    assert done.fallback is None
    assert done.comparison is not None
    assert done.comparison.fitted.name == "fitted logistic + isotonic"


def control(risk: float, coverage: float) -> RiskControl:
    return RiskControl(
        target_risk=0.3, delta=0.025, threshold=0.5, upper_bound=0.29,
        empirical_risk=risk, coverage=coverage, accepted=40, errors=int(40 * risk),
        n=64,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("fitted", "current", "kept"),
    [
        ((0.80, 0.10, 0.5), (0.70, 0.10, 0.5), "fitted"),  # ranks better
        ((0.80, 0.10, 0.5), (0.80, 0.10, 0.5), "fitted"),  # a tie keeps the fit
        ((0.69, 0.05, 0.9), (0.70, 0.10, 0.5), "current"),  # ranks worse
        ((0.80, 0.20, 0.5), (0.70, 0.10, 0.5), "current"),  # errs more, no more kept
        ((0.80, 0.20, 0.6), (0.70, 0.10, 0.5), "fitted"),  # errs more, keeps more
        ((0.90, None, None), (0.70, 0.10, 0.5), "current"),  # certifies nothing
        ((0.60, 0.10, 0.5), (0.90, None, None), "fitted"),  # the current certifies none
    ],
)
def test_the_rule_for_better(
    fitted: tuple[float, float | None, float | None],
    current: tuple[float, float | None, float | None],
    kept: str,
) -> None:
    def candidate(
        name: str, spec: tuple[float, float | None, float | None]
    ) -> Candidate:
        auroc, risk, coverage = spec
        c = None if risk is None or coverage is None else control(risk, coverage)
        own = Certificate(group=OWN, held_out=80, target_risk=0.3, control=c)
        return Candidate(name=name, auroc=auroc, certificates=(own,))

    assert verdict(candidate("f", fitted), candidate("c", current))[0] == kept


def write_samples(path: Path, samples: list[LabelledSample]) -> None:
    lines = []
    for i, s in enumerate(samples):
        lines.append(
            json.dumps(
                {
                    "id": str(i),
                    "question": "Q?",
                    "answer": "A",
                    "gold": ["A"],
                    "exact_match": s.correct,
                    "f1": float(s.correct),
                    "correct": s.correct,
                    "signals": s.signals,
                    "confidence": None,
                    "action": "accept",
                    "llm_calls": 0,
                }
            )
        )
    path.write_text("\n".join(lines) + "\n")


def test_the_cli_says_in_one_line_which_was_kept_and_why(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    samples = tmp_path / "samples.jsonl"
    write_samples(samples, labelled(160, 8, seed=0))
    out = tmp_path / "policy.yaml"
    code = main(
        [
            "calibrate", "--samples", str(samples), "--target-risk", "0.3",
            "--delta", "0.2", "--out", str(out),
        ]
    )  # fmt: skip
    assert code == 0
    lines = capsys.readouterr().out.splitlines()
    assert any(line.startswith("no logistic fit: over 9 signals") for line in lines)
    kept = [line for line in lines if line.startswith("kept the ")]
    assert len(kept) == 1
    assert kept[0].startswith("kept the fitted weighted + isotonic over the policy's")
    assert "on the 80 held-out samples (AUROC " in kept[0]
    assert any("with probability >= 0.8 " in line for line in lines)
    assert Policy.from_yaml(out).combiner == "weighted"


def test_a_policy_without_strata_has_nothing_to_say_of_them() -> None:
    done = calibrate_policy(labelled(2000, 0, seed=2), Policy(), target_risk=0.45,
                            delta=0.05)  # fmt: skip
    assert len(done.groups) == 1 and done.strata_lines() == ()


@pytest.mark.parametrize(
    ("fitted", "current", "kept"),
    [
        ((0.80, 0.15), (0.80, 0.20), "fitted"),  # ranks the same, predicts better
        ((0.80, 0.25), (0.80, 0.20), "current"),  # ranks the same, predicts worse
        ((0.81, 0.25), (0.80, 0.20), "fitted"),  # ranks better: ranking comes first
        ((0.80, 0.25), (0.80, None), "fitted"),  # nothing to compare it with
    ],
)
def test_a_tie_in_ranking_is_broken_by_how_well_each_predicts_correctness(
    fitted: tuple[float, float], current: tuple[float, float | None], kept: str
) -> None:
    def candidate(name: str, spec: tuple[float, float | None]) -> Candidate:
        own = Certificate(
            group=OWN, held_out=80, target_risk=0.3, control=control(0.1, 0.5)
        )
        return Candidate(name=name, auroc=spec[0], brier=spec[1], certificates=(own,))

    assert verdict(candidate("f", fitted), candidate("c", current))[0] == kept


def test_recalibrating_with_isotonic_is_not_lost_to_its_ties() -> None:
    # The policy's own calibrator is far off; isotonic, refitted on the labels,
    # fixes that, but its steps tie answers the off one told apart.
    off = {"kind": "platt", "slope": 2.0, "intercept": 3.0, "n": 100}
    base = Policy.from_dict({"thresholds": {"accept": 0.9}, "calibrator": off})
    samples = labelled(2000, 0, seed=1)
    done = calibrate_policy(samples, base, target_risk=0.45, delta=0.05,
                            combiner="policy", calibrator="isotonic")  # fmt: skip
    comparison = done.comparison
    assert comparison is not None and comparison.kept == "fitted"
    fitted, current = comparison.fitted, comparison.current
    assert fitted.auroc == current.auroc  # one combination, ranked before calibration
    assert fitted.brier is not None and current.brier is not None
    assert fitted.brier < current.brier / 5
    assert "Brier" in comparison.summary()
    # Ranked after the calibrator, the ties would have lost it the contest.
    hold = split(samples, 0.5, 0)[1]
    correct = [s.correct for s in hold]
    combiner = base.build_combiner()
    tied, smooth = (
        ranking_auroc(final_scores(hold, combiner, calibrator, base), correct)
        for calibrator in (done.policy.calibrator, base.calibrator)
    )
    assert tied is not None and smooth is not None and tied < smooth
