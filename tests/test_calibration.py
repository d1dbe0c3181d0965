"""Calibration and the logistic combiner: fitted like scikit-learn, saved as JSON."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from sklearn.isotonic import IsotonicRegression

from confguard.exceptions import CalibrationError, InputError, UnknownComponentError
from confguard.results import SignalResult
from confguard.scoring import assess, mean
from confguard.scoring.aggregate import LogisticCombiner
from confguard.scoring.calibration import (
    IsotonicCalibrator,
    LabelledSample,
    PlattCalibrator,
    combined,
    fit_calibrator,
    fit_isotonic,
    fit_logistic,
    fit_platt,
    labelled_from_store,
    load_calibrator,
    save_calibrator,
)
from confguard.store import AuditRecord, InMemoryStore, ReviewRequest, digest


def overconfident(n: int = 400, seed: int = 0) -> tuple[list[float], list[bool]]:
    """Scores in [0.5, 1] whose real accuracy is only half of what they claim."""
    rng = np.random.default_rng(seed)
    scores = rng.uniform(0.5, 1.0, size=n)
    right = rng.uniform(size=n) < (scores - 0.5)
    return scores.tolist(), right.tolist()


def test_platt_maps_through_a_sigmoid() -> None:
    platt = PlattCalibrator(slope=4.0, intercept=-2.0, n=10)
    assert platt.calibrate(0.5) == 0.5
    assert platt.calibrate(1.0) == pytest.approx(1 / (1 + math.exp(-2.0)))
    assert platt.calibrate(-300.0) == pytest.approx(0.0)  # no overflow


def test_isotonic_interpolates_between_knots_and_clips_outside() -> None:
    iso = IsotonicCalibrator(x=(0.2, 0.6), y=(0.1, 0.5), n=10)
    assert iso.calibrate(0.4) == pytest.approx(0.3)
    assert (iso.calibrate(0.0), iso.calibrate(1.0)) == (0.1, 0.5)


def test_isotonic_knots_must_be_monotone() -> None:
    with pytest.raises(ValueError, match="y must be non-decreasing"):
        IsotonicCalibrator(x=(0.2, 0.6), y=(0.5, 0.1), n=10)


def test_fitted_isotonic_predicts_exactly_as_scikit_learn() -> None:
    scores, right = overconfident()
    ours = fit_isotonic(scores, right)
    theirs = IsotonicRegression(y_min=0, y_max=1, out_of_bounds="clip")
    theirs.fit(scores, np.asarray(right, dtype=float))
    grid = np.linspace(0.0, 1.0, 101)
    assert [ours.calibrate(p) for p in grid] == pytest.approx(theirs.predict(grid))
    assert ours.n == 400


def test_platt_learns_that_an_overconfident_score_means_less() -> None:
    scores, right = overconfident(2000)
    platt = fit_platt(scores, right)
    assert platt.slope > 0
    # The truth at 0.9 is 0.4 (P(right) = score - 0.5); Platt's sigmoid gets near it.
    assert platt.calibrate(0.9) == pytest.approx(0.4, abs=0.05)
    assert platt.calibrate(0.6) == pytest.approx(0.1, abs=0.05)


def test_platt_uses_smoothed_targets_so_separable_data_stays_finite() -> None:
    scores = [0.1] * 10 + [0.9] * 10
    right = [False] * 10 + [True] * 10
    platt = fit_platt(scores, right)
    # Targets 11/12 and 1/12 bound the fit: it cannot go past them by much.
    assert platt.calibrate(0.9) == pytest.approx(11 / 12, abs=0.02)
    assert platt.calibrate(0.1) == pytest.approx(1 / 12, abs=0.02)


def test_calibrators_save_and_load_as_plain_json(tmp_path: Path) -> None:
    scores, right = overconfident()
    for kind in ("platt", "isotonic"):
        fitted = fit_calibrator(kind, scores, right)
        path = tmp_path / f"{kind}.json"
        save_calibrator(fitted, path)
        assert json.loads(path.read_text())["kind"] == kind
        assert load_calibrator(path) == fitted


def test_loading_a_non_calibrator_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text('{"kind": "magic"}')
    with pytest.raises(InputError, match=r"bad\.json"):
        load_calibrator(path)


def test_an_unknown_calibrator_kind_lists_the_known_ones() -> None:
    with pytest.raises(UnknownComponentError, match="known: isotonic, platt"):
        fit_calibrator("beta", [0.5], [True])  # type: ignore[arg-type]


def test_one_class_only_is_refused() -> None:
    with pytest.raises(CalibrationError, match="all 20 labelled samples are correct"):
        fit_isotonic([0.5] * 20, [True] * 20)


def test_too_few_samples_are_refused_with_the_number_needed() -> None:
    with pytest.raises(CalibrationError, match="at least 10 labelled samples; got 4"):
        fit_platt([0.1, 0.9, 0.2, 0.8], [False, True, False, True])


def test_samples_without_a_score_are_left_out() -> None:
    scores: list[float | None] = [None, *([0.2, 0.8] * 10)]
    fitted = fit_isotonic(scores, [True, *([False, True] * 10)])
    assert fitted.n == 20


def test_a_calibrator_plugs_into_assess() -> None:
    iso = IsotonicCalibrator(x=(0.0, 1.0), y=(0.0, 0.5), n=10)
    assessment = assess([SignalResult(name="a", confidence=0.8)], mean(), iso)
    assert assessment.confidence == pytest.approx(0.4)
    assert assessment.calibrated


# --- the logistic combiner ----------------------------------------------------------


def combiner() -> LogisticCombiner:
    return LogisticCombiner(
        intercept=-1.0, coefficients={"a": 2.0, "b": -1.0}, fill={"a": 0.5, "b": 0.25}
    )


def test_logistic_applies_the_sigmoid_to_the_linear_score() -> None:
    value, reasons = combiner().combine(
        [
            SignalResult(name="a", confidence=0.75),
            SignalResult(name="b", confidence=0.5),
        ]
    )
    # z = -1 + 2 * 0.75 - 1 * 0.5 = 0
    assert value == 0.5
    assert reasons == ("logistic ['a' 0.75, 'b' 0.50] = 0.50",)


def test_logistic_fills_a_missing_signal_with_its_training_mean_and_says_so() -> None:
    value, reasons = combiner().combine(
        [
            SignalResult(name="a", confidence=1.0),
            SignalResult.skipped("b", "no logprobs"),
        ]
    )
    z = -1 + 2 * 1.0 - 1 * 0.25
    assert value == pytest.approx(1 / (1 + math.exp(-z)))
    assert reasons[0] == "logistic ['a' 1.00, 'b' 0.25 (filled)] = 0.68"
    assert reasons[1] == "ignored 'b' (skipped: no logprobs)"


def test_logistic_without_any_of_its_signals_has_no_evidence() -> None:
    value, reasons = combiner().combine([SignalResult(name="c", confidence=0.9)])
    assert value is None
    assert reasons[0] == "no signal produced a confidence"


def test_logistic_says_which_signals_it_does_not_know() -> None:
    _, reasons = combiner().combine(
        [
            SignalResult(name="a", confidence=0.5),
            SignalResult(name="b", confidence=0.5),
            SignalResult(name="c", confidence=0.9),
        ]
    )
    assert reasons[1] == "ignored 'c' (not in the fitted model)"


def test_a_logistic_combiner_needs_a_fill_for_every_coefficient() -> None:
    with pytest.raises(ValueError, match="fill of 'b' must be in"):
        LogisticCombiner(
            intercept=0.0, coefficients={"a": 1.0, "b": 1.0}, fill={"a": 0.5}
        )


def samples(n: int = 300, seed: int = 1) -> list[LabelledSample]:
    """'good' tracks correctness, 'noise' does not; 'good' is missing now and then."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        right = bool(rng.uniform() < 0.5)
        good = float(np.clip(rng.normal(0.7 if right else 0.3, 0.15), 0, 1))
        noise = float(rng.uniform())
        out.append(
            LabelledSample(
                signals={"good": None if i % 10 == 0 else good, "noise": noise},
                correct=right,
            )
        )
    return out


def test_fit_logistic_weighs_the_informative_signal() -> None:
    fitted = fit_logistic(samples())
    assert set(fitted.coefficients) == {"good", "noise"}
    assert fitted.coefficients["good"] > 2.0
    assert abs(fitted.coefficients["noise"]) < 0.5 * fitted.coefficients["good"]
    ok = [s.signals["good"] for s in samples() if s.signals["good"] is not None]
    assert fitted.fill["good"] == pytest.approx(sum(ok) / len(ok))


def test_a_fitted_combiner_round_trips_through_json() -> None:
    fitted = fit_logistic(samples())
    assert LogisticCombiner.model_validate_json(fitted.model_dump_json()) == fitted


def test_combined_applies_the_combiner_to_each_sample() -> None:
    two = [
        LabelledSample(signals={"a": 0.75, "b": 0.5}, correct=True),
        LabelledSample(signals={"c": 0.5}, correct=False),
    ]
    assert combined(two, combiner()) == [0.5, None]


def test_a_signal_never_ok_cannot_be_fitted() -> None:
    broken = [
        LabelledSample(signals={"a": 0.1 * (i % 10), "b": None}, correct=i % 2 == 0)
        for i in range(20)
    ]
    with pytest.raises(CalibrationError, match="signal 'b' is not ok on any"):
        fit_logistic(broken)


# --- labels from the audit store ----------------------------------------------------


def reviewed_store() -> InMemoryStore:
    store = InMemoryStore()
    for i, verdict in enumerate(("approved", "rejected", "edited", None)):
        request = f"req-{i}"
        store.record(
            AuditRecord(
                request_id=request,
                attempt=1,
                question="Q?",
                answer_digest=digest("A"),
                confidence=0.1 * i,
                action="escalate",
                reason="low",
                signals=(SignalResult(name="a", confidence=0.2 * i),),
                latency_seconds=0.0,
            )
        )
        review = store.enqueue_review(
            ReviewRequest(
                request_id=request, question="Q?", answer="A", confidence=0.1 * i,
                reason="low",
            )
        )  # fmt: skip
        if verdict is not None:
            store.resolve_review(review, verdict)  # type: ignore[arg-type]
    return store


def test_reviewer_verdicts_become_labels_with_their_signals() -> None:
    labelled = labelled_from_store(reviewed_store())
    assert [s.correct for s in labelled] == [True, False, False]  # pending left out
    assert [s.signals for s in labelled] == [{"a": 0.0}, {"a": 0.2}, {"a": 0.4}]
    assert [s.confidence for s in labelled] == pytest.approx([0.0, 0.1, 0.2])
    # The decision's own results, so a stratum read by a detail can be told.
    assert [s.recorded for s in labelled] == [
        (SignalResult(name="a", confidence=0.2 * i),) for i in range(3)
    ]


def test_fit_logistic_learns_how_to_impute_each_signal_from_the_others() -> None:
    rng = np.random.default_rng(3)
    rows = []
    for _ in range(200):
        a = float(rng.uniform())
        b = 0.2 + 0.5 * a + float(rng.normal(0, 0.01))
        rows.append(LabelledSample(signals={"a": a, "b": b}, correct=a > 0.5))
    fitted = fit_logistic(rows)
    imputer = fitted.imputers["b"]
    assert imputer.coefficients["a"] == pytest.approx(0.5, abs=0.02)
    assert imputer.intercept == pytest.approx(0.2, abs=0.02)
    _, reasons = fitted.combine([SignalResult(name="a", confidence=0.8)])
    assert "'b' 0.60 (imputed)" in reasons[0]


@pytest.mark.parametrize(
    ("sample", "problem"),
    [
        (
            LabelledSample(signals={"judge": 7.5}, correct=True),
            "labelled sample 3: signals.judge: must be in [0, 1], got 7.5",
        ),
        (
            LabelledSample(signals={"judge": math.nan}, correct=True),
            "labelled sample 3: signals.judge: must be in [0, 1], got nan",
        ),
        (
            LabelledSample(signals={"judge": 0.5}, confidence=-math.inf, correct=True),
            "labelled sample 3: confidence: must be in [0, 1], got -inf",
        ),
    ],
)
def test_calibrate_policy_refuses_a_confidence_outside_0_1_naming_the_sample(
    sample: LabelledSample, problem: str
) -> None:
    from confguard.evaluation.calibrate import calibrate_policy
    from confguard.policy import Policy

    good = [
        LabelledSample(signals={"judge": 0.5}, correct=i % 2 == 0) for i in range(3)
    ]
    with pytest.raises(CalibrationError) as info:
        calibrate_policy([*good, sample, *good], Policy(), target_risk=0.1, delta=0.05)
    assert str(info.value) == problem
    assert info.value.have == 7


def test_a_missing_signal_is_not_a_bad_confidence() -> None:
    from confguard.evaluation.calibrate import sample_problem

    assert sample_problem(LabelledSample(signals={"a": None}, correct=True)) is None
    assert sample_problem(LabelledSample(signals={"a": 1.0}, correct=False)) is None


@pytest.mark.parametrize("fit_fraction", [0.0, 1.0, 1.5])
def test_a_fit_fraction_outside_0_1_is_refused_before_anything_is_counted(
    fit_fraction: float,
) -> None:
    from confguard.evaluation.calibrate import calibrate_policy
    from confguard.policy import Policy

    samples = [
        LabelledSample(signals={"a": 0.5}, correct=i % 2 == 0) for i in range(20)
    ]
    with pytest.raises(ValueError, match=r"fit_fraction must be in \(0, 1\)"):
        calibrate_policy(
            samples, Policy(), target_risk=0.1, delta=0.05, fit_fraction=fit_fraction
        )
