"""Risk-controlled thresholds: the bound holds on held-out data; refusals are clear."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import binomtest

from confguard.exceptions import CalibrationError, InputError
from confguard.scoring.thresholds import (
    RiskControl,
    choose_threshold,
    clopper_pearson_upper,
    min_samples,
)


def test_min_samples_is_the_fewest_error_free_answers_that_certify() -> None:
    # 0.9 ** 29 = 0.047 <= 0.05 < 0.9 ** 28 = 0.052
    assert min_samples(0.1, 0.05) == 29
    assert min_samples(0.05, 0.1) == 45  # 0.95 ** 45 = 0.0994


def test_clopper_pearson_without_errors_has_a_closed_form() -> None:
    assert clopper_pearson_upper(0, 29, 0.05) == pytest.approx(1 - 0.05 ** (1 / 29))


def test_clopper_pearson_matches_scipys_exact_interval() -> None:
    # A two-sided 90% exact interval has the one-sided 95% bound as its top.
    expected = binomtest(7, 120).proportion_ci(0.90, method="exact").high
    assert clopper_pearson_upper(7, 120, 0.05) == pytest.approx(expected)
    assert clopper_pearson_upper(5, 5, 0.05) == 1.0


def test_the_lowest_threshold_before_the_first_failure_is_chosen() -> None:
    # 60 right answers at 0.9; 40 at 0.5, half of them wrong. Without a planning
    # part the sequence starts at the top: 0.9 down to 0.505 accept the 60 right
    # ones (bound 1 - 0.05 ** (1/60) = 0.049 <= 0.1); 0.5 adds 20 errors and fails.
    scores = [0.9] * 60 + [0.5] * 40
    correct = [True] * 60 + [True, False] * 20
    control = choose_threshold(
        scores, correct, target_risk=0.1, delta=0.05, plan_fraction=0.0
    )
    assert control.threshold == 0.505
    assert (control.accepted, control.errors, control.n) == (60, 0, 100)
    assert control.upper_bound == pytest.approx(1 - 0.05 ** (1 / 60))
    assert control.coverage == 0.6
    assert control.empirical_risk == 0.0


def test_answers_that_are_never_accepted_count_in_coverage_only() -> None:
    scores: list[float | None] = [0.9] * 60 + [None] * 40
    correct = [True] * 60 + [False] * 40
    control = choose_threshold(
        scores, correct, target_risk=0.1, delta=0.05, plan_fraction=0.0
    )
    assert control.threshold == 0.0
    assert (control.accepted, control.errors, control.coverage) == (60, 0, 0.6)


def synthetic(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Confidence ~ Beta(3, 1), right with probability equal to the confidence."""
    scores = rng.beta(3.0, 1.0, size=n)
    return scores, rng.uniform(size=n) < scores


def oracle_threshold(alpha: float) -> float:
    # With s ~ Beta(3,1) (density 3s^2) and P(right | s) = s, the risk above t is
    # E[1 - s | s >= t] = 1 - (3/4)(1 - t^4) / (1 - t^3). Solve risk(t) = alpha.
    def risk(t: float) -> float:
        return 1 - 0.75 * (1 - t**4) / (1 - t**3)

    low, high = 0.0, 0.999
    for _ in range(60):
        mid = (low + high) / 2
        low, high = (mid, high) if risk(mid) > alpha else (low, mid)
    return high


def test_held_out_risk_stays_below_target_in_at_least_one_minus_delta_of_splits() -> (
    None
):
    alpha, delta, splits = 0.1, 0.05, 200
    rng = np.random.default_rng(2024)
    scores, correct = synthetic(rng, 40_000)
    violations, refused, chosen = 0, 0, []
    for split in range(splits):
        order = rng.permutation(scores.size)
        cal, held = order[:2000], order[2000:]
        try:
            control = choose_threshold(
                scores[cal].tolist(),
                correct[cal].tolist(),
                target_risk=alpha,
                delta=delta,
                seed=split,
            )
        except CalibrationError:
            refused += 1
            continue
        accepted = scores[held] >= control.threshold
        violations += int(1.0 - correct[held][accepted].mean() > alpha)
        chosen.append(control.threshold)
    assert violations <= delta * splits
    assert refused <= 0.05 * splits  # 2,000 samples are plenty here: it must answer
    # Not vacuous: close to the oracle threshold 0.782, never below it on average.
    assert oracle_threshold(alpha) == pytest.approx(0.782, abs=0.001)
    assert (
        oracle_threshold(alpha)
        < float(np.mean(chosen))
        < oracle_threshold(alpha) + 0.06
    )


def test_too_few_samples_are_refused_saying_how_many_are_needed() -> None:
    scores = [0.9, 0.2] * 10
    correct = [True, False] * 10
    with pytest.raises(CalibrationError) as info:
        choose_threshold(scores, correct, target_risk=0.1, delta=0.05)
    # 20 samples, 16 testing; 29 are needed in the testing part: 29 * 20 / 16.
    assert info.value.needed == math.ceil(29 * 20 / 16) == 37
    assert info.value.have == 20
    assert "needs at least 29 labelled samples in the test part, about 37" in str(
        info.value
    )


@pytest.mark.parametrize("label", [True, False])
def test_one_class_only_is_refused(label: bool) -> None:
    with pytest.raises(CalibrationError, match="both right and wrong answers"):
        choose_threshold([0.5] * 100, [label] * 100, target_risk=0.1, delta=0.05)


def test_one_class_is_tested_like_any_set_when_told_it_may_be() -> None:
    # A stratum's answers may all be right; the whole set was checked for both.
    control = choose_threshold(
        [0.5] * 100, [True] * 100, target_risk=0.1, delta=0.05, one_class=True
    )
    assert control.errors == 0 and control.threshold <= 0.5
    with pytest.raises(CalibrationError, match="no threshold certifies"):
        choose_threshold(
            [0.5] * 100, [False] * 100, target_risk=0.1, delta=0.05, one_class=True
        )


def test_an_error_rate_above_target_everywhere_is_refused_without_a_count() -> None:
    rng = np.random.default_rng(0)
    scores = rng.uniform(size=500).tolist()
    correct = (rng.uniform(size=500) < 0.5).tolist()  # confidence says nothing
    with pytest.raises(
        CalibrationError, match="above the target for any amount of data"
    ) as info:
        choose_threshold(scores, correct, target_risk=0.1, delta=0.05)
    assert info.value.needed is None


def test_a_marginal_rate_is_refused_with_the_sample_count_that_would_do() -> None:
    # 100 answers at 0.9, 6 of them wrong (6 %), 100 at 0.2 all wrong. With no
    # planning part the test starts at the top: bound(6, 100) = 0.115 > 0.1.
    scores = [0.9] * 100 + [0.2] * 100
    correct = [True] * 94 + [False] * 6 + [False] * 100
    with pytest.raises(CalibrationError, match="about") as info:
        choose_threshold(
            scores, correct, target_risk=0.1, delta=0.05, plan_fraction=0.0
        )
    assert clopper_pearson_upper(6, 100, 0.05) == pytest.approx(0.115, abs=0.001)
    assert info.value.needed is not None and info.value.needed > 200
    assert "accepted 100 answers with 6 wrong (bound 0.115)" in str(info.value)


def test_levels_outside_zero_one_are_refused() -> None:
    with pytest.raises(InputError, match="target risk must be in"):
        choose_threshold([0.5], [True], target_risk=1.5, delta=0.05)
    with pytest.raises(InputError, match="delta must be in"):
        min_samples(0.1, 0.0)


def test_the_guarantee_round_trips_through_json() -> None:
    control = choose_threshold(
        [0.9] * 60 + [0.5] * 40,
        [True] * 60 + [True, False] * 20,
        target_risk=0.1,
        delta=0.05,
        plan_fraction=0.0,
    )
    assert RiskControl.model_validate_json(control.model_dump_json()) == control


def test_a_policy_keeps_its_accept_threshold_inside_the_certified_range() -> None:
    from confguard.exceptions import PolicyError
    from confguard.policy import Policy

    control = choose_threshold(
        [0.9] * 60 + [0.5] * 40,
        [True] * 60 + [True, False] * 20,
        target_risk=0.1,
        delta=0.05,
        plan_fraction=0.0,
    )  # certified from the start 1.0 down to 0.505
    risk = control.model_dump()
    assert (
        Policy.from_dict(
            {"thresholds": {"accept": 0.7}, "risk_control": risk}
        ).risk_control
        == control
    )
    with pytest.raises(
        PolicyError, match=r"outside the certified range \[0.505, 1.0\]"
    ):
        Policy.from_dict({"thresholds": {"accept": 0.5}, "risk_control": risk})
