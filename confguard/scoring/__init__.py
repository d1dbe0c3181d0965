"""Scoring: combine signal results into one confidence, then calibrate it."""

from confguard.scoring.aggregate import (
    Calibrator,
    Combiner,
    assess,
    combiner_from_name,
    combiner_names,
    mean,
    minimum,
    weighted,
)

__all__ = [
    "Calibrator",
    "Combiner",
    "assess",
    "combiner_from_name",
    "combiner_names",
    "mean",
    "minimum",
    "weighted",
]
