"""Calibration: Platt and isotonic maps, and the logistic combiner, fitted on labels.

Fitted models are frozen pydantic objects saved as JSON (never pickle) and carried
by a policy file. Labels come from your own evaluation (`LabelledSample`) or from
the reviewers' verdicts in the audit store (`labelled_from_store`). Fitting needs
scikit-learn (``pip install confguard[eval]``); applying a fitted model does not.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal, Protocol

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, model_validator

from confguard.exceptions import CalibrationError, InputError, UnknownComponentError
from confguard.results import SignalResult
from confguard.scoring.aggregate import Combiner, LinearImputer, LogisticCombiner

MIN_SAMPLES = 10
"""The fewest labelled samples any fit accepts."""


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class PlattCalibrator(_Frozen):
    """Platt scaling: p' = sigmoid(slope * p + intercept).

    Example:
        >>> PlattCalibrator(slope=4.0, intercept=-2.0, n=100).calibrate(0.5)
        0.5
    """

    kind: Literal["platt"] = "platt"
    slope: float
    intercept: float
    n: int = Field(ge=0)
    """How many labelled samples it was fitted on."""

    def calibrate(self, p: float) -> float:
        """The calibrated probability of a raw confidence `p`."""
        z = self.slope * p + self.intercept
        if z >= 0:
            return 1.0 / (1.0 + math.exp(-z))
        return math.exp(z) / (1.0 + math.exp(z))


class IsotonicCalibrator(_Frozen):
    """Isotonic regression: a non-decreasing step map, linear between its knots.

    Example:
        >>> IsotonicCalibrator(x=(0.0, 1.0), y=(0.2, 0.9), n=50).calibrate(0.5)
        0.55
    """

    kind: Literal["isotonic"] = "isotonic"
    x: tuple[float, ...] = Field(min_length=1)
    y: tuple[float, ...] = Field(min_length=1)
    n: int = Field(ge=0)

    @model_validator(mode="after")
    def _monotone(self) -> IsotonicCalibrator:
        if len(self.x) != len(self.y):
            raise ValueError(f"{len(self.x)} knots in x but {len(self.y)} in y")
        if any(b < a for a, b in zip(self.x, self.x[1:], strict=False)):
            raise ValueError("x must be non-decreasing")
        if any(b < a for a, b in zip(self.y, self.y[1:], strict=False)):
            raise ValueError("y must be non-decreasing")
        if not all(0.0 <= v <= 1.0 for v in self.y):
            raise ValueError("y must lie in [0, 1]")
        return self

    def calibrate(self, p: float) -> float:
        """Interpolate between the knots; clip outside them."""
        return float(np.interp(p, self.x, self.y))


FittedCalibrator = Annotated[
    PlattCalibrator | IsotonicCalibrator, Field(discriminator="kind")
]
_CALIBRATOR: TypeAdapter[PlattCalibrator | IsotonicCalibrator] = TypeAdapter(
    FittedCalibrator
)


def save_calibrator(
    calibrator: PlattCalibrator | IsotonicCalibrator, path: Path
) -> None:
    """Write a fitted calibrator as JSON.

    Example:
        >>> save_calibrator(fit_isotonic(scores, labels), Path("cal.json"))
    """
    path.write_text(calibrator.model_dump_json(indent=2), encoding="utf-8")


def load_calibrator(path: Path) -> PlattCalibrator | IsotonicCalibrator:
    """Read a calibrator written by `save_calibrator`.

    Example:
        >>> guard = Guard(signals, policy, calibrator=load_calibrator(Path("cal.json")))
    """
    try:
        return _CALIBRATOR.validate_json(path.read_bytes())
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot load a calibrator from {path}: {exc}") from exc


# --- labelled data -----------------------------------------------------------------


class LabelledSample(_Frozen):
    """One answer with its signals' confidences (None = not ok) and its verdict."""

    signals: dict[str, float | None] = Field(default_factory=dict)
    confidence: float | None = None
    """The final confidence the guard reported, if known."""
    correct: bool
    recorded: tuple[SignalResult, ...] = ()
    """The signal results as the guard recorded them (status and details), when
    known: a policy's strata are told apart by them (`recorded_results`)."""

    def recorded_results(self) -> dict[str, SignalResult]:
        """The results a policy's conditions are tested on, by name: the recorded
        ones, or else the confidences as `results` (ok or skipped)."""
        return {r.name: r for r in (self.recorded or self.results())}

    def results(self) -> tuple[SignalResult, ...]:
        """The signals as results: ok with the confidence, or skipped."""
        return tuple(
            SignalResult(name=n, confidence=c)
            if c is not None
            else SignalResult.skipped(n, "not ok in the labelled data")
            for n, c in self.signals.items()
        )


def combined(
    samples: Sequence[LabelledSample], combiner: Combiner
) -> list[float | None]:
    """The combiner's output for each sample (None where it has no evidence)."""
    return [combiner.combine(s.results())[0] for s in samples]


class _Reviewed(Protocol):
    @property
    def confidence(self) -> float | None: ...
    @property
    def label(self) -> bool | None: ...


class _Decided(Protocol):
    @property
    def signals(self) -> tuple[SignalResult, ...]: ...


class _Case(Protocol):
    @property
    def item(self) -> _Reviewed: ...
    @property
    def decision(self) -> _Decided | None: ...


class ReviewLog(Protocol):
    """What `labelled_from_store` reads: any `confguard.store.AuditStore`."""

    def reviewed(self) -> Sequence[_Case]:
        """Every resolved review with its request's last decision."""
        ...


def labelled_from_store(store: ReviewLog) -> list[LabelledSample]:
    """Reviewed answers from the audit store: approved = right, edited/rejected = wrong.

    Reviews reach only the cases the policy escalated, so they over-represent low
    confidence: fit on them knowing they are not a random sample.

    Example:
        >>> samples = labelled_from_store(SQLStore("sqlite:///audit.sqlite"))
    """
    samples = []
    for case in store.reviewed():
        if case.item.label is None:
            continue
        signals = case.decision.signals if case.decision else ()
        samples.append(
            LabelledSample(
                signals={s.name: s.confidence for s in signals},
                confidence=case.item.confidence,
                correct=case.item.label,
                recorded=tuple(signals),
            )
        )
    return samples


def check_labels(labels: Sequence[bool], what: str, minimum: int = MIN_SAMPLES) -> None:
    """Refuse too few labels, or labels of one class only."""
    n, right = len(labels), sum(bool(v) for v in labels)
    if n < minimum:
        raise CalibrationError(
            f"{what} needs at least {minimum} labelled samples; got {n}",
            have=n,
            needed=minimum,
        )
    if right in (0, n):
        kind = "correct" if right else "wrong"
        raise CalibrationError(
            f"{what} needs both correct and wrong answers; all {n} labelled samples "
            f"are {kind}",
            have=n,
        )


def _paired(
    scores: Sequence[float | None], labels: Sequence[bool]
) -> tuple[np.ndarray[Any, np.dtype[np.float64]], list[bool]]:
    if len(scores) != len(labels):
        raise InputError(f"{len(scores)} scores but {len(labels)} labels")
    kept = [(s, bool(y)) for s, y in zip(scores, labels, strict=True) if s is not None]
    for s, _ in kept:
        if not (math.isfinite(s) and 0.0 <= s <= 1.0):
            raise InputError(f"scores must be confidences in [0, 1], got {s!r}")
    return np.array([s for s, _ in kept], dtype=np.float64), [y for _, y in kept]


# --- fitting -------------------------------------------------------------------------


def fit_platt(
    scores: Sequence[float | None], labels: Sequence[bool]
) -> PlattCalibrator:
    """Platt scaling with Platt's smoothed targets (scikit-learn LogisticRegression).

    Samples whose score is None are left out.

    Example:
        >>> fit_platt([0.2, 0.9, ...], [False, True, ...]).calibrate(0.9)
    """
    from sklearn.linear_model import LogisticRegression

    x, y = _paired(scores, labels)
    check_labels(y, "Platt scaling")
    targets = _platt_targets(np.asarray(y, dtype=bool))
    # Each sample enters twice, as right with weight t and as wrong with weight 1-t.
    features = np.concatenate([x, x]).reshape(-1, 1)
    classes = np.concatenate([np.ones(x.size), np.zeros(x.size)])
    weights = np.concatenate([targets, 1.0 - targets])
    model = LogisticRegression(C=1e4).fit(features, classes, sample_weight=weights)
    return PlattCalibrator(
        slope=float(model.coef_[0, 0]),
        intercept=float(model.intercept_[0]),
        n=int(x.size),
    )


def _platt_targets(y: np.ndarray[Any, np.dtype[np.bool_]]) -> np.ndarray[Any, Any]:
    # Platt (1999): targets (N+ + 1)/(N+ + 2) and 1/(N- + 2) keep a separable set from
    # driving the slope to infinity.
    pos, neg = int(y.sum()), int((~y).sum())
    return np.where(y, (pos + 1.0) / (pos + 2.0), 1.0 / (neg + 2.0))


def fit_isotonic(
    scores: Sequence[float | None], labels: Sequence[bool]
) -> IsotonicCalibrator:
    """Isotonic regression of correctness on score (scikit-learn), clipped at the ends.

    Example:
        >>> fit_isotonic([0.2, 0.9, ...], [False, True, ...]).calibrate(0.9)
    """
    from sklearn.isotonic import IsotonicRegression

    x, y = _paired(scores, labels)
    check_labels(y, "isotonic calibration")
    model = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip")
    model.fit(x, np.asarray(y, dtype=np.float64))
    return IsotonicCalibrator(
        x=tuple(float(v) for v in model.X_thresholds_),
        y=tuple(float(v) for v in model.y_thresholds_),
        n=int(x.size),
    )


CalibratorKind = Literal["platt", "isotonic"]


def fit_calibrator(
    kind: CalibratorKind, scores: Sequence[float | None], labels: Sequence[bool]
) -> PlattCalibrator | IsotonicCalibrator:
    """Fit the calibrator named `kind` ("platt" or "isotonic").

    Example:
        >>> fit_calibrator("isotonic", scores, labels).kind
        'isotonic'
    """
    if kind == "platt":
        return fit_platt(scores, labels)
    if kind == "isotonic":
        return fit_isotonic(scores, labels)
    raise UnknownComponentError("calibrator", kind, ["isotonic", "platt"])


def fit_logistic(
    samples: Sequence[LabelledSample], *, regularization: float = 1.0
) -> LogisticCombiner:
    """A logistic-regression combiner over the signals the samples carry.

    A signal not ok on a sample enters the fit at its mean over the samples where
    it is ok. Each signal also gets a linear imputer from the others (fitted where
    it is ok), which the combiner uses when that signal is missing at run time.

    Example:
        >>> combiner = fit_logistic(samples)
        >>> guard = Guard(signals, policy, combiner=combiner)
    """
    from sklearn.linear_model import LogisticRegression

    labels = [s.correct for s in samples]
    check_labels(labels, "the logistic combiner")
    names = sorted({n for s in samples for n in s.signals})
    fill = _means(samples, names)
    x = np.array([[_value(s, n, fill) for n in names] for s in samples])
    model = LogisticRegression(C=regularization).fit(x, np.asarray(labels, dtype=int))
    return LogisticCombiner(
        intercept=float(model.intercept_[0]),
        coefficients={n: float(c) for n, c in zip(names, model.coef_[0], strict=True)},
        fill=fill,
        imputers=_imputers(samples, names, fill),
    )


def _imputers(
    samples: Sequence[LabelledSample], names: Sequence[str], fill: Mapping[str, float]
) -> dict[str, LinearImputer]:
    from sklearn.linear_model import LinearRegression

    out = {}
    for name in names:
        others = [n for n in names if n != name]
        rows = [s for s in samples if s.signals.get(name) is not None]
        if not others or len(rows) < MIN_SAMPLES:
            continue  # too little to learn from: the plain fill stands
        x = np.array([[_value(s, n, fill) for n in others] for s in rows])
        y = np.array([s.signals[name] for s in rows], dtype=np.float64)
        fit = LinearRegression().fit(x, y)
        coefficients = {n: float(c) for n, c in zip(others, fit.coef_, strict=True)}
        out[name] = LinearImputer(
            intercept=float(fit.intercept_), coefficients=coefficients
        )
    return out


def _means(samples: Sequence[LabelledSample], names: Sequence[str]) -> dict[str, float]:
    means = {}
    for name in names:
        seen = [s.signals.get(name) for s in samples]
        values = [v for v in seen if v is not None]
        if not values:
            raise CalibrationError(
                f"signal {name!r} is not ok on any labelled sample: nothing to fit",
                have=len(samples),
            )
        means[name] = math.fsum(values) / len(values)
    return means


def _value(sample: LabelledSample, name: str, fill: Mapping[str, float]) -> float:
    value = sample.signals.get(name)
    return fill[name] if value is None else value


__all__ = [
    "MIN_SAMPLES",
    "CalibratorKind",
    "FittedCalibrator",
    "IsotonicCalibrator",
    "LabelledSample",
    "PlattCalibrator",
    "ReviewLog",
    "check_labels",
    "combined",
    "fit_calibrator",
    "fit_isotonic",
    "fit_logistic",
    "fit_platt",
    "labelled_from_store",
    "load_calibrator",
    "save_calibrator",
]
