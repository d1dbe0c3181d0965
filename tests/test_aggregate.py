"""Aggregation: combiners count ok signals only, say why, and calibration plugs in."""

from __future__ import annotations

import pytest

from confguard.exceptions import ConfigurationError, UnknownComponentError
from confguard.results import SignalResult
from confguard.scoring import (
    assess,
    combiner_from_name,
    combiner_names,
    mean,
    minimum,
)
from confguard.scoring import weighted as weighted_

A = SignalResult(name="a", confidence=0.9)
B = SignalResult(name="b", confidence=0.3)
SKIPPED = SignalResult.skipped("logprob", "model exposes no logprobs")
FAILED = SignalResult.failed("judge", RuntimeError("boom"))


class Halver:
    """A fake calibrator."""

    def calibrate(self, p: float) -> float:
        return p / 2


class Broken:
    """A calibrator that leaves [0, 1]."""

    def calibrate(self, p: float) -> float:
        return p + 1


def test_mean_averages_only_the_ok_signals_and_lists_the_ignored_ones() -> None:
    value, reasons = mean().combine([A, SKIPPED, B, FAILED])
    assert value == pytest.approx(0.6)
    assert reasons == (
        "mean of 2 signal(s) ['a' 0.90, 'b' 0.30] = 0.60",
        "ignored 'logprob' (skipped: model exposes no logprobs)",
        "ignored 'judge' (failed: RuntimeError: boom)",
    )


def test_weighted_mean_uses_the_given_weights() -> None:
    value, reasons = weighted_({"a": 2.0, "b": 1.0}).combine([A, B])
    assert value == pytest.approx((2 * 0.9 + 0.3) / 3)  # 0.70
    assert reasons == ("weighted mean ['a' 0.90 x2, 'b' 0.30 x1] = 0.70",)


def test_weighted_gives_unlisted_signals_the_default_weight() -> None:
    value, _ = weighted_({"a": 3.0}).combine([A, B])
    assert value == pytest.approx((3 * 0.9 + 0.3) / 4)
    zero_default, _ = weighted_({"a": 3.0}, default=0.0).combine([A, B])
    assert zero_default == pytest.approx(0.9)


def test_weighted_with_every_ok_weight_zero_gives_no_confidence() -> None:
    value, reasons = weighted_({"a": 0.0, "b": 0.0}).combine([A, B])
    assert value is None
    assert reasons == ("all ok signals weigh 0 ('a', 'b')",)


def test_weighted_rejects_a_negative_weight_naming_the_signal() -> None:
    with pytest.raises(ConfigurationError, match="weight of 'a' must be"):
        weighted_({"a": -1.0})


def test_minimum_takes_the_weakest_ok_signal() -> None:
    value, reasons = minimum().combine([A, FAILED, B])
    assert value == pytest.approx(0.3)
    assert reasons[0] == "minimum over ['a' 0.90, 'b' 0.30] = 0.30 ('b')"


@pytest.mark.parametrize("name", ["mean", "weighted", "minimum"])
def test_no_ok_signal_gives_no_confidence_with_the_reasons(name: str) -> None:
    value, reasons = combiner_from_name(name).combine([SKIPPED, FAILED])
    assert value is None
    assert reasons == (
        "no signal produced a confidence",
        "ignored 'logprob' (skipped: model exposes no logprobs)",
        "ignored 'judge' (failed: RuntimeError: boom)",
    )


def test_the_registry_names_the_three_combiners() -> None:
    assert combiner_names() == ["mean", "minimum", "weighted"]
    built = combiner_from_name("weighted", {"a": 2.0})
    assert built.name == "weighted"
    assert built.combine([A, B])[0] == pytest.approx(0.7)


def test_an_unknown_combiner_name_lists_the_known_ones() -> None:
    with pytest.raises(UnknownComponentError) as info:
        combiner_from_name("median")
    assert str(info.value) == (
        "unknown combiner 'median'; known: mean, minimum, weighted"
    )


def test_assess_combines_and_keeps_the_breakdown() -> None:
    assessment = assess([A, B, SKIPPED], minimum())
    assert assessment.confidence == pytest.approx(0.3)
    assert assessment.signals == (A, B, SKIPPED)
    assert assessment.combiner == "minimum"
    assert assessment.calibrated is False


def test_assess_applies_the_calibrator_and_says_so() -> None:
    assessment = assess([A, B], mean(), Halver())
    assert assessment.confidence == pytest.approx(0.3)
    assert assessment.calibrated is True
    assert assessment.reasons[-1] == "calibrated 0.60 -> 0.30"


def test_assess_does_not_calibrate_a_missing_confidence() -> None:
    assessment = assess([SKIPPED], mean(), Halver())
    assert assessment.confidence is None
    assert assessment.calibrated is False


def test_a_calibrator_leaving_the_unit_interval_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match=r"calibrator Broken mapped 0\.6000"):
        assess([A, B], mean(), Broken())
