"""Calibrating a policy whose combiner is stratified refits it in its own shape."""

from __future__ import annotations

import numpy as np

from confguard.evaluation.calibrate import calibrate_policy
from confguard.policy import Policy
from confguard.scoring.aggregate import LogisticCombiner
from confguard.scoring.calibration import LabelledSample
from confguard.scoring.stratified import StratifiedCombiner


def side(*names: str) -> LogisticCombiner:
    return LogisticCombiner(
        intercept=0.0,
        coefficients=dict.fromkeys(names, 1.0),
        fill=dict.fromkeys(names, 0.5),
    )


SHIPPED = StratifiedCombiner(
    by="retrieval",
    when_ok=side("support", "retrieval"),
    otherwise=side("support", "rcr"),
)


def stratified_policy() -> Policy:
    return Policy.from_dict(
        {
            "thresholds": {"accept": 0.8, "annotate": 0.2},
            "on_missing_evidence": "ignore",
            "combiner": SHIPPED.model_dump(mode="json"),
        }
    )


def labels(n: int, retrieved_share: float, seed: int = 0) -> list[LabelledSample]:
    """`support` informs both kinds, `rcr` the supplied ones; `noise` nothing."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        retrieved = bool(rng.uniform() < retrieved_share)
        right = bool(rng.uniform() < (0.65 if retrieved else 0.45))
        signals: dict[str, float | None] = {
            "support": float(np.clip(rng.normal(0.7 if right else 0.4, 0.15), 0, 1)),
            "rcr": float(np.clip(rng.normal(0.6 if right else 0.4, 0.15), 0, 1)),
            "noise": float(rng.uniform()),
            "retrieval": float(rng.uniform(0.3, 0.9)) if retrieved else None,
        }
        out.append(LabelledSample(signals=signals, correct=right))
    return out


def test_a_stratified_combiner_is_refitted_per_side_over_its_own_signals() -> None:
    done = calibrate_policy(labels(1500, 0.5), stratified_policy(), target_risk=0.5,
                            delta=0.1)  # fmt: skip
    assert done.fallback is None
    assert done.comparison is not None
    assert done.comparison.fitted.name == "fitted stratified + isotonic"
    assert done.comparison.kept == "fitted"  # the shipped fits were never trained
    refit = done.policy.combiner
    assert isinstance(refit, StratifiedCombiner) and refit.by == "retrieval"
    assert sorted(refit.when_ok.coefficients) == ["retrieval", "support"]
    assert sorted(refit.otherwise.coefficients) == ["rcr", "support"]  # no noise


def test_a_side_with_too_few_labels_falls_back_on_one_pooled_fit_and_says_why() -> None:
    done = calibrate_policy(labels(1500, 0.02), stratified_policy(), target_risk=0.5,
                            delta=0.1)  # fmt: skip
    assert done.fallback is not None and done.fallback.wanted == "stratified"
    assert done.fallback.summary().startswith(
        "no stratified fit: the requests with 'retrieval' ok ("
    )
    said = done.fallback.summary()
    assert said.endswith("; one logistic fit over every request instead")
    assert done.comparison is not None
    assert done.comparison.fitted.name == "fitted logistic + isotonic"


def test_a_shipped_signal_never_ok_on_a_sides_labels_is_left_out_of_its_refit() -> None:
    samples = [
        s.model_copy(update={"signals": {**s.signals, "rcr": None}})
        for s in labels(1500, 0.5)
    ]
    done = calibrate_policy(samples, stratified_policy(), target_risk=0.5, delta=0.1,
                            calibrator=None)  # fmt: skip
    assert done.comparison is not None and done.comparison.kept == "fitted"
    refit = done.policy.combiner
    assert isinstance(refit, StratifiedCombiner)
    assert sorted(refit.otherwise.coefficients) == ["support"]


def test_labels_with_no_request_of_one_side_fall_back_on_one_pooled_fit() -> None:
    # Every request retrieved (an eval over a corpus, say): the other side has
    # nothing to be refitted on.
    done = calibrate_policy(labels(1500, 1.0), stratified_policy(), target_risk=0.5,
                            delta=0.1)  # fmt: skip
    assert done.fallback is not None and done.fallback.wanted == "stratified"
    assert done.fallback.summary().startswith(
        "no stratified fit: the requests with 'retrieval' not ok (0 in the fit "
        "split) are too few for their own fit: there are no labelled answers"
    )
    assert done.comparison is not None
    assert done.comparison.fitted.name == "fitted logistic + isotonic"
