"""Scoring: combine signal results into one confidence, then calibrate it."""

from confguard.scoring.aggregate import (
    COMBINERS,
    Calibrator,
    Combiner,
    assess,
    combiner_from_name,
    mean,
    minimum,
    weighted,
)

__all__ = [
    "COMBINERS",
    "Calibrator",
    "Combiner",
    "assess",
    "combiner_from_name",
    "mean",
    "minimum",
    "weighted",
]
