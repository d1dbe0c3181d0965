"""Metrics: checked against scikit-learn, brute force, and values computed by hand."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, roc_auc_score

from confguard.evaluation import (
    auprc,
    aurc,
    auroc,
    brier,
    ece,
    reliability,
    risk_coverage,
    selective,
    summarize,
)
from confguard.exceptions import InputError

CONF = [0.95, 0.9, 0.8, 0.7, 0.6, 0.4, 0.3, 0.1]
RIGHT = [True, True, False, True, False, True, False, False]


def test_auroc_counts_the_pairs_ranked_right() -> None:
    # 4 right x 4 wrong = 16 pairs; misordered: 0.8(wrong) above 0.7 and 0.4 (right),
    # 0.6(wrong) above 0.4(right): 3 misordered -> 13/16.
    assert auroc(CONF, RIGHT) == pytest.approx(13 / 16)
    assert auroc(CONF, RIGHT) == pytest.approx(roc_auc_score(RIGHT, CONF))


def test_auroc_gives_ties_half_credit() -> None:
    assert auroc([0.5, 0.5], [True, False]) == pytest.approx(0.5)


def test_auroc_and_auprc_are_none_with_one_class() -> None:
    assert auroc([0.2, 0.9], [True, True]) is None
    assert auprc([0.2, 0.9], [False, False]) is None


def test_auprc_matches_scikit_learn_and_a_hand_count() -> None:
    # Ranked: R R W R W R W W; precision at each right: 1, 1, 3/4, 4/6.
    expected = (1 + 1 + 3 / 4 + 4 / 6) / 4
    assert auprc(CONF, RIGHT) == pytest.approx(expected)
    assert auprc(CONF, RIGHT) == pytest.approx(average_precision_score(RIGHT, CONF))


def test_brier_is_the_mean_squared_gap() -> None:
    # (0.1^2 + 0.6^2 + 0.2^2) / 3 = 0.41 / 3
    assert brier([0.9, 0.6, 0.2], [True, False, False]) == pytest.approx(0.41 / 3)


def test_risk_coverage_is_the_error_rate_among_the_top_k() -> None:
    curve = risk_coverage(CONF, RIGHT)
    assert curve.coverage == pytest.approx([k / 8 for k in range(1, 9)])
    assert curve.risk == pytest.approx([0, 0, 1 / 3, 1 / 4, 2 / 5, 2 / 6, 3 / 7, 4 / 8])


def test_aurc_is_the_mean_risk_over_coverages() -> None:
    expected = (0 + 0 + 1 / 3 + 1 / 4 + 2 / 5 + 2 / 6 + 3 / 7 + 4 / 8) / 8
    assert aurc(CONF, RIGHT) == pytest.approx(expected)


def test_aurc_averages_over_every_order_of_a_tie() -> None:
    conf = [0.9, 0.5, 0.5, 0.5, 0.1]
    right = [True, True, False, False, True]
    brute = []
    for perm in itertools.permutations([1, 2, 3]):
        order = [0, *perm, 4]
        wrong = np.cumsum([not right[i] for i in order])
        brute.append(np.mean(wrong / np.arange(1, 6)))
    assert aurc(conf, right) == pytest.approx(np.mean(brute))


def test_perfect_ranking_has_the_lowest_aurc() -> None:
    right = [True, True, False, False]
    best = aurc([0.9, 0.8, 0.2, 0.1], right)
    worst = aurc([0.1, 0.2, 0.8, 0.9], right)
    assert best == pytest.approx((0 + 0 + 1 / 3 + 2 / 4) / 4)
    assert worst == pytest.approx((1 + 1 + 2 / 3 + 2 / 4) / 4)


def test_reliability_bins_hold_equal_mass() -> None:
    bins = reliability(CONF, RIGHT, bins=4)
    assert [b.count for b in bins] == [2, 2, 2, 2]
    # Lowest pair: 0.1 (wrong) and 0.3 (wrong).
    assert (bins[0].confidence, bins[0].accuracy) == pytest.approx((0.2, 0.0))
    assert (bins[3].confidence, bins[3].accuracy) == pytest.approx((0.925, 1.0))


def test_reliability_bin_sizes_differ_by_at_most_one() -> None:
    bins = reliability([i / 10 for i in range(10)], [True] * 10, bins=3)
    assert [b.count for b in bins] == [4, 3, 3]


def test_ece_weighs_each_bin_gap_by_its_share() -> None:
    # Bins of two: (0.1,0.3) acc 0 gap 0.2; (0.4,0.6) acc .5 gap 0;
    # (0.7,0.8) acc .5 gap .25; (0.9,0.95) acc 1 gap .075. Mean: 0.525 / 4.
    assert ece(CONF, RIGHT, bins=4) == pytest.approx(0.525 / 4)


def test_a_perfectly_calibrated_score_has_zero_ece() -> None:
    assert ece([0.5, 0.5, 1.0, 1.0], [True, False, True, True], bins=2) == 0.0


def test_selective_reports_coverage_and_risk_at_a_threshold() -> None:
    at = selective(CONF, RIGHT, 0.7)
    assert (at.accepted, at.errors, at.coverage) == (4, 1, 0.5)
    assert at.risk == pytest.approx(0.25)
    assert selective(CONF, RIGHT, 0.99).risk is None


def test_summarize_collects_every_metric() -> None:
    summary = summarize(CONF, RIGHT, bins=4)
    assert summary.n == 8
    assert summary.accuracy == 0.5
    assert summary.auroc == pytest.approx(13 / 16)
    assert summary.ece == pytest.approx(0.525 / 4)
    assert summary.brier == pytest.approx(brier(CONF, RIGHT))


def test_metrics_refuse_mismatched_empty_or_out_of_range_input() -> None:
    with pytest.raises(InputError, match="3 confidences but 2"):
        auroc([0.1, 0.2, 0.3], [True, False])
    with pytest.raises(InputError, match="no samples"):
        brier([], [])
    with pytest.raises(InputError, match=r"in \[0, 1\]"):
        ece([1.5, 0.2], [True, False])
    with pytest.raises(InputError, match="booleans"):
        aurc([0.5, 0.2], [2, 0])  # type: ignore[list-item]
