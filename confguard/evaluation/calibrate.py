"""Fit a combiner, a calibrator and a risk-controlled threshold into a policy.

The labelled samples are split once (seeded): the fitting part fits the logistic
combiner and the calibrator; the threshold part, which the fits never saw, certifies
the threshold (and `choose_threshold` splits it again into planning and testing).
Fitting and certifying on the same answers would void the guarantee.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from confguard.exceptions import CalibrationError
from confguard.policy import Policy
from confguard.policy.model import BANDS
from confguard.scoring.aggregate import (
    Calibrator,
    Combiner,
    LogisticCombiner,
    combiner_from_name,
)
from confguard.scoring.calibration import (
    CalibratorKind,
    IsotonicCalibrator,
    LabelledSample,
    PlattCalibrator,
    check_labels,
    combined,
    fit_calibrator,
    fit_logistic,
)
from confguard.scoring.thresholds import (
    PLAN_FRACTION,
    RiskControl,
    choose_threshold,
    min_samples,
)

CombinerChoice = Literal["logistic", "policy"]


class Calibrated(BaseModel):
    """What `calibrate_policy` fitted, certified and wrote into the policy."""

    model_config = ConfigDict(frozen=True)

    policy: Policy
    control: RiskControl
    fitted_on: int
    """Samples the combiner and calibrator were fitted on."""
    certified_on: int
    """Samples the threshold was chosen on (planning and testing)."""


def split(
    samples: Sequence[LabelledSample], fit_fraction: float, seed: int
) -> tuple[list[LabelledSample], list[LabelledSample]]:
    """A seeded split into a fitting part and a threshold part."""
    _check_fraction(fit_fraction)
    order = list(range(len(samples)))
    random.Random(seed).shuffle(order)
    cut = round(len(samples) * fit_fraction)
    return [samples[i] for i in order[:cut]], [samples[i] for i in order[cut:]]


def sample_problem(sample: LabelledSample) -> tuple[str, str] | None:
    """The first (field, problem) that makes `sample` unusable for fitting, or None.

    Example:
        >>> sample_problem(LabelledSample(signals={"judge": 7.5}, correct=True))
        ('signals.judge', 'must be in [0, 1], got 7.5')
    """
    values = {f"signals.{name}": v for name, v in sample.signals.items()}
    values["confidence"] = sample.confidence
    for field, value in values.items():
        if value is not None and not (math.isfinite(value) and 0.0 <= value <= 1.0):
            return field, f"must be in [0, 1], got {value}"
    return None


def check_samples(samples: Sequence[LabelledSample]) -> None:
    """Refuse NaN, infinite or out-of-range confidences, naming the first sample."""
    for index, sample in enumerate(samples):
        problem = sample_problem(sample)
        if problem is not None:
            raise CalibrationError(
                f"labelled sample {index}: {problem[0]}: {problem[1]}",
                have=len(samples),
            )


def _check_fraction(fit_fraction: float) -> None:
    if not 0.0 < fit_fraction < 1.0:
        raise ValueError(f"fit_fraction must be in (0, 1), got {fit_fraction}")


def _combiner(
    choice: CombinerChoice, base: Policy, fit: Sequence[LabelledSample]
) -> Combiner:
    if choice == "logistic":
        return fit_logistic(fit)
    if isinstance(base.combiner, str):
        return combiner_from_name(base.combiner, base.weights)
    return base.combiner


def _calibrator(
    kind: CalibratorKind | None, combiner: Combiner, fit: Sequence[LabelledSample]
) -> PlattCalibrator | IsotonicCalibrator | None:
    if kind is None:
        return None
    return fit_calibrator(kind, combined(fit, combiner), [s.correct for s in fit])


def final_scores(
    samples: Sequence[LabelledSample],
    combiner: Combiner,
    calibrator: Calibrator | None,
    policy: Policy,
) -> list[float | None]:
    """Each sample's final confidence; None where the guard would never accept it."""
    out: list[float | None] = []
    for sample, raw in zip(samples, combined(samples, combiner), strict=True):
        closed = policy.on_missing_evidence == "fail_closed" and any(
            v is None for v in sample.signals.values()
        )
        if closed or raw is None:
            out.append(None)
        else:
            out.append(raw if calibrator is None else calibrator.calibrate(raw))
    return out


def _with_fits(
    base: Policy,
    combiner: Combiner,
    calibrator: PlattCalibrator | IsotonicCalibrator | None,
    control: RiskControl,
    cascade: bool | None,
) -> Policy:
    accept = control.threshold
    bands: dict[str, Any] = {"accept": accept}
    for name in BANDS[1:]:
        value = getattr(base.thresholds, name)
        bands[name] = None if value is None else min(value, accept)
    data = policy_data(base)
    data["thresholds"] = bands
    if isinstance(combiner, LogisticCombiner):
        data["combiner"] = combiner.model_dump(mode="json")
        data.pop("weights", None)
    data["calibrator"] = None if calibrator is None else calibrator.model_dump()
    data["risk_control"] = control.model_dump()
    if cascade is not None:
        data["cascade"] = cascade
    return Policy.from_dict(data)


def calibrate_policy(
    samples: Sequence[LabelledSample],
    base: Policy,
    *,
    target_risk: float,
    delta: float,
    combiner: CombinerChoice = "logistic",
    calibrator: CalibratorKind | None = "isotonic",
    fit_fraction: float = 0.5,
    seed: int = 0,
    cascade: bool | None = None,
) -> Calibrated:
    """Fit combiner and calibrator, certify the accept threshold, return the policy.

    With nothing to fit (``combiner="policy"``, ``calibrator=None``) every sample
    certifies and `fit_fraction` is not used (it must still be in (0, 1)).

    Example:
        >>> done = calibrate_policy(samples, demo_policy(), target_risk=0.1, delta=0.05)
        >>> done.policy.thresholds.accept, done.control.upper_bound
    """
    _check_fraction(fit_fraction)  # before _enough divides by 1 - fit_fraction
    check_samples(samples)
    check_labels([s.correct for s in samples], "calibration")
    fits = combiner == "logistic" or calibrator is not None
    _enough(len(samples), target_risk, delta, fit_fraction if fits else 0.0)
    fit, hold = split(samples, fit_fraction, seed) if fits else ([], list(samples))
    combiner_ = _combiner(combiner, base, fit)
    calibrator_ = _calibrator(calibrator, combiner_, fit)
    scores = final_scores(hold, combiner_, calibrator_, base)
    try:
        control = choose_threshold(
            scores,
            [s.correct for s in hold],
            target_risk=target_risk,
            delta=delta,
            seed=seed,
        )
    except CalibrationError as exc:
        raise _in_all(exc, len(samples), len(hold)) from exc
    policy = _with_fits(base, combiner_, calibrator_, control, cascade)
    return Calibrated(
        policy=policy, control=control, fitted_on=len(fit), certified_on=len(hold)
    )


def _in_all(exc: CalibrationError, n: int, held: int) -> CalibrationError:
    """The refusal of the threshold part, restated for all the samples given."""
    if held == n:
        return exc
    needed = None if exc.needed is None else math.ceil(exc.needed * n / held)
    more = "" if needed is None else f"; about {needed} labelled samples in all"
    return CalibrationError(
        f"{exc} (of the {n} samples, {held} were held out to certify the threshold"
        f"{more})",
        have=n,
        needed=needed,
    )


def _enough(n: int, target_risk: float, delta: float, fit_fraction: float) -> None:
    certify = math.ceil(min_samples(target_risk, delta) / (1 - PLAN_FRACTION))
    needed = math.ceil(certify / (1 - fit_fraction))
    if n < needed:
        fitting = f" once {fit_fraction:.0%} went to fitting" if fit_fraction else ""
        raise CalibrationError(
            f"certifying risk <= {target_risk:g} at delta {delta:g} needs at least "
            f"{needed} labelled samples ({certify} to certify the threshold{fitting}), "
            f"and even then only if the accepted answers are all right; got {n}",
            have=n,
            needed=needed,
        )


def policy_data(policy: Policy) -> dict[str, Any]:
    """The policy as plain data: the fields that differ from the defaults, and the
    fitted sections whole (their `kind` says what they are)."""
    data = policy.model_dump(mode="json", exclude_defaults=True)
    for name in ("combiner", "calibrator", "risk_control"):
        value = getattr(policy, name)
        if isinstance(value, BaseModel):
            data[name] = value.model_dump(mode="json")
    return data


def policy_yaml(policy: Policy) -> str:
    """The policy as YAML (it loads back with `Policy.from_yaml`)."""
    import yaml

    return yaml.safe_dump(policy_data(policy), sort_keys=False, allow_unicode=True)


def write_policy(policy: Policy, path: Path) -> None:
    """Write the policy file (it loads back with `Policy.from_yaml`)."""
    path.write_text(policy_yaml(policy), encoding="utf-8")


__all__ = [
    "Calibrated",
    "CombinerChoice",
    "calibrate_policy",
    "check_samples",
    "final_scores",
    "policy_data",
    "policy_yaml",
    "sample_problem",
    "split",
    "write_policy",
]
