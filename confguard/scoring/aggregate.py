"""Combine signal results into one confidence: named constructors, one registry.

Only results with status ``ok`` count; the others are listed in the reasons so that
nothing is dropped silently. Calibration plugs in through the `Calibrator` hook.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Protocol, runtime_checkable

from confguard.exceptions import ConfigurationError, UnknownComponentError
from confguard.results import Assessment, SignalResult

Combined = tuple[float | None, tuple[str, ...]]


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


CombinerFactory = Callable[[Mapping[str, float]], Combiner]

# The one registry through which a YAML policy names a combiner.
COMBINERS: Mapping[str, CombinerFactory] = MappingProxyType(
    {
        "mean": lambda _weights: mean(),
        "weighted": weighted,
        "minimum": lambda _weights: minimum(),
    }
)


def combiner_from_name(
    name: str, weights: Mapping[str, float] | None = None
) -> Combiner:
    """Build the combiner registered as `name` (e.g. from a policy file)."""
    if name not in COMBINERS:
        raise UnknownComponentError("combiner", name, list(COMBINERS))
    return COMBINERS[name](weights or {})


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
    "COMBINERS",
    "Calibrator",
    "Combiner",
    "MeanCombiner",
    "MinimumCombiner",
    "WeightedCombiner",
    "assess",
    "combiner_from_name",
    "mean",
    "minimum",
    "weighted",
]
