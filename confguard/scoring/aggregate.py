"""Combine signal results into one confidence: named constructors, by registry name.

Only results with status ``ok`` count; the others are listed in the reasons so that
nothing is dropped silently. Calibration plugs in through the `Calibrator` hook.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from confguard import registry
from confguard.exceptions import ConfigurationError, UnknownComponentError
from confguard.results import Assessment, SignalResult

Combined = tuple[float | None, tuple[str, ...]]
Span = tuple[float, float]
"""The lowest and highest confidence a combination can still reach."""


@runtime_checkable
class Combiner(Protocol):
    """Turns signal results into one confidence (None when no result is ok)."""

    @property
    def name(self) -> str:
        """The name shown in assessments and audit rows."""
        ...

    def combine(self, results: Sequence[SignalResult]) -> Combined:
        """(confidence or None, reasons) from the ok results."""
        ...


@runtime_checkable
class Calibrator(Protocol):
    """Maps a raw combined confidence to a calibrated probability."""

    def calibrate(self, p: float) -> float:
        """The calibrated probability of a raw confidence `p`."""
        ...


def _ok(results: Sequence[SignalResult]) -> list[SignalResult]:
    return [r for r in results if r.ok]


def _ignored(results: Sequence[SignalResult]) -> tuple[str, ...]:
    return tuple(
        f"ignored {r.name!r} ({r.status.value}: {r.reason})"
        for r in results
        if not r.ok
    )


def _no_evidence(results: Sequence[SignalResult]) -> Combined:
    return None, ("no signal produced a confidence", *_ignored(results))


def _listed(results: Sequence[SignalResult]) -> str:
    return ", ".join(f"{r.name!r} {_conf(r):.2f}" for r in results)


def _conf(result: SignalResult) -> float:
    # Callers pass ok results only, which always carry a confidence.
    return result.confidence if result.confidence is not None else 0.0


@dataclass(frozen=True)
class MeanCombiner:
    """The unweighted mean of the ok signals' confidences."""

    name: str = "mean"

    def combine(self, results: Sequence[SignalResult]) -> Combined:
        """Average the ok confidences."""
        ok = _ok(results)
        if not ok:
            return _no_evidence(results)
        value = math.fsum(_conf(r) for r in ok) / len(ok)
        reason = f"mean of {len(ok)} signal(s) [{_listed(ok)}] = {value:.2f}"
        return value, (reason, *_ignored(results))

    def span(self, results: Sequence[SignalResult], pending: Sequence[str]) -> Span:
        """Where the mean can end once `pending` signals report anything in [0, 1]."""
        ok = _ok(results)
        total, m = math.fsum(_conf(r) for r in ok), len(pending)
        return _ratio_span(total, float(len(ok)), float(m))


@dataclass(frozen=True)
class WeightedCombiner:
    """A weighted mean; signals missing from `weights` weigh `default`."""

    weights: Mapping[str, float] = field(default_factory=dict)
    default: float = 1.0
    name: str = "weighted"

    def __post_init__(self) -> None:
        for key, weight in {**self.weights, "(default)": self.default}.items():
            if not math.isfinite(weight) or weight < 0:
                raise ConfigurationError(
                    f"weight of {key!r} must be a finite number >= 0, got {weight!r}"
                )

    def weight(self, name: str) -> float:
        """The weight of the signal called `name`."""
        return self.weights.get(name, self.default)

    def combine(self, results: Sequence[SignalResult]) -> Combined:
        """Weighted average of the ok confidences."""
        ok = _ok(results)
        total = math.fsum(self.weight(r.name) for r in ok)
        if total == 0:
            return _no_evidence(results) if not ok else _zero_weights(ok, results)
        value = math.fsum(self.weight(r.name) * _conf(r) for r in ok) / total
        parts = ", ".join(
            f"{r.name!r} {_conf(r):.2f} x{self.weight(r.name):g}" for r in ok
        )
        reason = f"weighted mean [{parts}] = {value:.2f}"
        return value, (reason, *_ignored(results))

    def span(self, results: Sequence[SignalResult], pending: Sequence[str]) -> Span:
        """Where the weighted mean can end once `pending` signals report."""
        ok = _ok(results)
        total = math.fsum(self.weight(r.name) * _conf(r) for r in ok)
        weight = math.fsum(self.weight(r.name) for r in ok)
        return _ratio_span(total, weight, math.fsum(self.weight(n) for n in pending))


def _ratio_span(total: float, weight: float, extra: float) -> Span:
    # Adding weight `extra` of values in [0, 1] to a mean: all zeros or all ones are
    # the extremes (a pending signal that fails adds nothing, which lies between).
    if weight == 0:  # no evidence yet: anything is still possible
        return 0.0, 1.0
    return total / (weight + extra), (total + extra) / (weight + extra)


def _zero_weights(ok: list[SignalResult], results: Sequence[SignalResult]) -> Combined:
    names = ", ".join(repr(r.name) for r in ok)
    return None, (f"all ok signals weigh 0 ({names})", *_ignored(results))


@dataclass(frozen=True)
class MinimumCombiner:
    """The lowest ok confidence: the answer is as good as its weakest evidence."""

    name: str = "minimum"

    def combine(self, results: Sequence[SignalResult]) -> Combined:
        """Take the smallest ok confidence."""
        ok = _ok(results)
        if not ok:
            return _no_evidence(results)
        weakest = min(ok, key=_conf)
        reason = (
            f"minimum over [{_listed(ok)}] = {_conf(weakest):.2f} ({weakest.name!r})"
        )
        return _conf(weakest), (reason, *_ignored(results))

    def span(self, results: Sequence[SignalResult], pending: Sequence[str]) -> Span:
        """A pending signal can only lower the minimum, down to 0."""
        ok = _ok(results)
        if not ok:
            return 0.0, 1.0
        weakest = min(_conf(r) for r in ok)
        return (0.0 if pending else weakest), weakest


def _sigmoid(z: float) -> float:
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


class LinearImputer(BaseModel):
    """Predicts a missing signal from the others: a linear fit, clipped to [0, 1]."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    intercept: float
    coefficients: dict[str, float]

    def predict(self, known: Mapping[str, float], fill: Mapping[str, float]) -> float:
        """The prediction; a predictor that is itself missing enters at its fill."""
        terms = (c * known.get(n, fill[n]) for n, c in self.coefficients.items())
        return min(1.0, max(0.0, self.intercept + math.fsum(terms)))


class LogisticCombiner(BaseModel):
    """A logistic regression over signal confidences, fitted on labelled answers.

    A signal of the model that is not ok enters at the value its `imputers` entry
    predicts from the ok signals, or else at its `fill` value (its mean on the
    fitting data); the reasons say which. Whether missing evidence is acceptable at
    all is the policy's call (`on_missing_evidence`), made before this runs. Fit one
    with `confguard.scoring.calibration.fit_logistic`.

    Example:
        >>> combiner = LogisticCombiner(
        ...     intercept=-1.0, coefficients={"a": 2.0}, fill={"a": 0.5}
        ... )
        >>> round(combiner.combine([SignalResult(name="a", confidence=1.0)])[0], 3)
        0.731
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["logistic"] = "logistic"
    intercept: float
    coefficients: dict[str, float] = Field(min_length=1)
    fill: dict[str, float]
    """The value a not-ok signal enters at (its mean on the fitting data)."""
    imputers: dict[str, LinearImputer] = Field(default_factory=dict)
    """Per signal, a better guess than `fill` from the signals that are ok."""

    @field_validator("intercept")
    @classmethod
    def _finite(cls, value: float) -> float:
        if not math.isfinite(value):
            raise ValueError(f"must be finite, got {value}")
        return value

    @model_validator(mode="after")
    def _complete(self) -> LogisticCombiner:
        for name, coef in self.coefficients.items():
            if not math.isfinite(coef):
                raise ValueError(f"coefficient of {name!r} must be finite, got {coef}")
            value = self.fill.get(name)
            if value is None or not 0.0 <= value <= 1.0:
                raise ValueError(f"fill of {name!r} must be in [0, 1], got {value}")
        extra = sorted(set(self.fill) - set(self.coefficients))
        if extra:
            raise ValueError(f"fill names signals without a coefficient: {extra}")
        for name, imputer in self.imputers.items():
            unknown = sorted({name, *imputer.coefficients} - set(self.coefficients))
            if unknown:
                raise ValueError(f"imputer of {name!r} names unknown signals {unknown}")
        return self

    @property
    def name(self) -> str:
        """The name shown in assessments."""
        return "logistic"

    def signal_names(self) -> list[str]:
        """The signals the fit reads."""
        return list(self.coefficients)

    def combine(self, results: Sequence[SignalResult]) -> Combined:
        """sigmoid(intercept + sum coef * confidence), filling signals not ok."""
        if not self._evidence(results):
            return _no_evidence(results)
        inputs = self._inputs(results)
        value = _sigmoid(self._z(inputs))
        parts = ", ".join(f"{n!r} {x:.2f}{note}" for n, (x, note) in inputs.items())
        unknown = [
            f"ignored {r.name!r} (not in the fitted model)"
            for r in results
            if r.ok and r.name not in self.coefficients
        ]
        reason = f"logistic [{parts}] = {value:.2f}"
        return value, (reason, *unknown, *_ignored(results))

    def _evidence(self, results: Sequence[SignalResult]) -> bool:
        return any(r.ok and r.name in self.coefficients for r in results)

    def _inputs(self, results: Sequence[SignalResult]) -> dict[str, tuple[float, str]]:
        ok = {r.name: _conf(r) for r in results if r.ok}
        return {n: self._input(n, ok) for n in self.coefficients}

    def _input(self, name: str, ok: Mapping[str, float]) -> tuple[float, str]:
        if name in ok:
            return ok[name], ""
        imputer = self.imputers.get(name)
        if imputer is None:
            return self.fill[name], " (filled)"
        return imputer.predict(ok, self.fill), " (imputed)"

    def _free(
        self, results: Sequence[SignalResult], pending: Sequence[str]
    ) -> set[str]:
        """Signals whose value is still open: pending ones, and missing ones whose
        imputation reads a pending one."""
        waiting = {n for n in pending if n in self.coefficients}
        ok = {r.name for r in results if r.ok}
        for name, imputer in self.imputers.items():
            if name not in ok and waiting & set(imputer.coefficients):
                waiting.add(name)
        return waiting

    def _z(self, inputs: Mapping[str, tuple[float, str]]) -> float:
        terms = (self.coefficients[n] * x for n, (x, _) in inputs.items())
        return self.intercept + math.fsum(terms)

    def span(self, results: Sequence[SignalResult], pending: Sequence[str]) -> Span:
        """Where the output can end once `pending` signals report anything in [0, 1]."""
        waiting = self._free(results, pending)
        if not self._evidence(results) and waiting:
            return 0.0, 1.0
        inputs = {n: v for n, v in self._inputs(results).items() if n not in waiting}
        z = self._z(inputs)
        coefs = [self.coefficients[n] for n in waiting]
        low = z + math.fsum(min(0.0, c) for c in coefs)
        high = z + math.fsum(max(0.0, c) for c in coefs)
        return _sigmoid(low), _sigmoid(high)


def mean() -> MeanCombiner:
    """Combine by the unweighted mean.

    Example:
        >>> mean().combine([SignalResult(name="a", confidence=0.5)])[0]
        0.5
    """
    return MeanCombiner()


def weighted(weights: Mapping[str, float], default: float = 1.0) -> WeightedCombiner:
    """Combine by a weighted mean, e.g. ``weighted({"judge": 2.0, "logprob": 1.0})``."""
    return WeightedCombiner(weights=MappingProxyType(dict(weights)), default=default)


def minimum() -> MinimumCombiner:
    """Combine by the minimum (the most cautious combiner)."""
    return MinimumCombiner()


def combiner_names() -> list[str]:
    """The combiners a policy can name by a bare string: those built from weights.

    A fitted combiner such as ``logistic`` is registered too, but needs its fitted
    parameters, so a policy gives it as a mapping instead.

    Example:
        >>> combiner_names()
        ['mean', 'minimum', 'weighted']
    """
    return [n for n in registry.names("combiner") if _from_weights(n)]


def _from_weights(name: str) -> bool:
    parameters = registry.entry("combiner", name).parameters()
    return all(p.name == "weights" for p in parameters if p.required)


def combiner_from_name(
    name: str, weights: Mapping[str, float] | None = None
) -> Combiner:
    """Build the combiner registered as `name` (e.g. from a policy file).

    `weights` reach only combiners that take them (``weighted``).

    Example:
        >>> combiner_from_name("weighted", {"judge": 2.0}).name
        'weighted'
    """
    known = combiner_names()
    if name not in known:
        raise UnknownComponentError("combiner", name, known)
    built: Combiner = registry.create("combiner", name, weights=dict(weights or {}))
    return built


def assess(
    results: Sequence[SignalResult],
    combiner: Combiner,
    calibrator: Calibrator | None = None,
) -> Assessment:
    """Combine signal results, then calibrate, into an Assessment.

    Example:
        >>> assess([SignalResult(name="a", confidence=0.8)], mean()).confidence
        0.8
    """
    value, reasons = combiner.combine(results)
    calibrated = calibrator is not None and value is not None
    if calibrator is not None and value is not None:
        raw, value = value, _calibrated(calibrator, value)
        reasons = (*reasons, f"calibrated {raw:.2f} -> {value:.2f}")
    return Assessment(
        confidence=value,
        signals=tuple(results),
        reasons=reasons,
        combiner=combiner.name,
        calibrated=calibrated,
    )


def _calibrated(calibrator: Calibrator, p: float) -> float:
    value = float(calibrator.calibrate(p))
    if not (math.isfinite(value) and 0.0 <= value <= 1.0):
        name = type(calibrator).__name__
        raise ConfigurationError(
            f"calibrator {name} mapped {p:.4f} to {value!r}; expected a value in [0, 1]"
        )
    return value


__all__ = [
    "Calibrator",
    "Combiner",
    "LinearImputer",
    "LogisticCombiner",
    "MeanCombiner",
    "MinimumCombiner",
    "Span",
    "WeightedCombiner",
    "assess",
    "combiner_from_name",
    "combiner_names",
    "mean",
    "minimum",
    "weighted",
]
