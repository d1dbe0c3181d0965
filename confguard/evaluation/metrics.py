"""How well confidence separates right from wrong answers, and how calibrated it is.

All functions take parallel sequences: `confidence` (floats in [0, 1]) and `correct`
(booleans). AUROC and AUPRC come from scikit-learn; AURC, ECE and selective risk are
computed here, with ties in confidence handled exactly (a tied group is accepted or
refused as one, and the curve inside it is the expectation over tie orders).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field

from confguard.exceptions import InputError

Floats = npt.NDArray[np.float64]
Scores = Sequence[float] | npt.NDArray[np.floating[Any]]
Labels = Sequence[bool] | npt.NDArray[Any]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


def _arrays(confidence: Scores, correct: Labels) -> tuple[Floats, Floats]:
    c = np.asarray(confidence, dtype=np.float64).reshape(-1)
    y = np.asarray(correct, dtype=np.float64).reshape(-1)
    if c.size != y.size:
        raise InputError(f"{c.size} confidences but {y.size} correctness labels")
    if c.size == 0:
        raise InputError("no samples to measure")
    if not np.all(np.isfinite(c)) or c.min() < 0.0 or c.max() > 1.0:
        raise InputError("confidences must be finite and in [0, 1]")
    if not np.all((y == 0.0) | (y == 1.0)):
        raise InputError("correctness labels must be booleans")
    return c, y


def _two_classes(y: Floats) -> bool:
    return 0.0 < float(y.mean()) < 1.0


def auroc(confidence: Scores, correct: Labels) -> float | None:
    """Area under the ROC curve of confidence for correctness; None with one class.

    Example:
        >>> auroc([0.9, 0.8, 0.3], [True, False, False])
        1.0
    """
    from sklearn.metrics import roc_auc_score

    c, y = _arrays(confidence, correct)
    return float(roc_auc_score(y, c)) if _two_classes(y) else None


def auprc(confidence: Scores, correct: Labels) -> float | None:
    """Average precision of confidence for finding correct answers; None with one class.

    Example:
        >>> auprc([0.9, 0.8, 0.3], [True, False, False])
        1.0
    """
    from sklearn.metrics import average_precision_score

    c, y = _arrays(confidence, correct)
    return float(average_precision_score(y, c)) if _two_classes(y) else None


def brier(confidence: Scores, correct: Labels) -> float:
    """Mean squared gap between confidence and the 0/1 outcome.

    Example:
        >>> brier([1.0, 0.5], [True, False])
        0.125
    """
    from sklearn.metrics import brier_score_loss

    c, y = _arrays(confidence, correct)
    return float(brier_score_loss(y, c, pos_label=1.0))


class RiskCoverage(_Frozen):
    """The risk-coverage curve: one point per number of answers accepted (1..n)."""

    coverage: tuple[float, ...]
    risk: tuple[float, ...]


def risk_coverage(confidence: Scores, correct: Labels) -> RiskCoverage:
    """Error rate among the k most confident answers, for every k from 1 to n.

    Inside a group of tied confidences, errors are counted at the group's error rate
    (the expectation over every order of the tie).

    Example:
        >>> risk_coverage([0.9, 0.5], [True, False]).risk
        (0.0, 0.5)
    """
    c, y = _arrays(confidence, correct)
    errors = _expected_errors(c, 1.0 - y)
    k = np.arange(1, c.size + 1, dtype=np.float64)
    return RiskCoverage(
        coverage=tuple((k / c.size).tolist()), risk=tuple((errors / k).tolist())
    )


def _expected_errors(c: Floats, wrong: Floats) -> Floats:
    """Expected errors among the top k, for k = 1..n, ties spread evenly."""
    order = np.argsort(-c, kind="stable")
    c_sorted, w_sorted = c[order], wrong[order]
    _, starts, counts = np.unique(-c_sorted, return_index=True, return_counts=True)
    out = np.empty(c.size, dtype=np.float64)
    before = 0.0
    for start, count in zip(starts, counts, strict=True):
        group = w_sorted[start : start + count].sum()
        out[start : start + count] = before + group * np.arange(1, count + 1) / count
        before += group
    return out


def aurc(confidence: Scores, correct: Labels) -> float:
    """Area under the risk-coverage curve: the mean risk over k = 1..n (lower = better).

    Example:
        >>> aurc([0.9, 0.5], [True, False])  # (0/1 + 1/2) / 2
        0.25
    """
    return float(np.mean(risk_coverage(confidence, correct).risk))


class ReliabilityBin(_Frozen):
    """One equal-mass bin: its size, mean confidence and accuracy."""

    count: int = Field(ge=1)
    confidence: float
    accuracy: float


def reliability(
    confidence: Scores, correct: Labels, bins: int = 10
) -> tuple[ReliabilityBin, ...]:
    """Equal-mass bins of the sorted confidences (sizes differ by at most one).

    Example:
        >>> [b.count for b in reliability([0.1, 0.2, 0.3, 0.4], [0, 0, 1, 1], bins=2)]
        [2, 2]
    """
    if bins < 1:
        raise InputError(f"bins must be >= 1, got {bins}")
    c, y = _arrays(confidence, correct)
    order = np.argsort(c, kind="stable")
    groups = np.array_split(order, min(bins, c.size))
    return tuple(
        ReliabilityBin(
            count=int(g.size),
            confidence=float(c[g].mean()),
            accuracy=float(y[g].mean()),
        )
        for g in groups
    )


def ece(confidence: Scores, correct: Labels, bins: int = 10) -> float:
    """Expected calibration error over equal-mass bins: sum_b (n_b/n)|conf_b - acc_b|.

    Example:
        >>> ece([0.2, 0.4, 0.6, 0.8], [False, False, True, True], bins=2)
        0.3
    """
    table = reliability(confidence, correct, bins)
    n = sum(b.count for b in table)
    return math.fsum(b.count / n * abs(b.confidence - b.accuracy) for b in table)


class Selective(_Frozen):
    """What accepting answers at or above `threshold` gives: coverage and risk."""

    threshold: float
    accepted: int = Field(ge=0)
    errors: int = Field(ge=0)
    coverage: float
    risk: float | None
    """The error rate among accepted answers; None when nothing is accepted."""


def selective(confidence: Scores, correct: Labels, threshold: float) -> Selective:
    """Coverage and error rate among answers with confidence >= `threshold`.

    Example:
        >>> selective([0.9, 0.7, 0.2], [True, False, True], 0.5).risk
        0.5
    """
    c, y = _arrays(confidence, correct)
    accepted = c >= threshold
    n_acc, errors = int(accepted.sum()), int((1.0 - y[accepted]).sum())
    return Selective(
        threshold=threshold,
        accepted=n_acc,
        errors=errors,
        coverage=n_acc / c.size,
        risk=errors / n_acc if n_acc else None,
    )


class MetricSummary(_Frozen):
    """The figures of one confidence score over n labelled samples."""

    n: int = Field(ge=1)
    accuracy: float
    auroc: float | None
    auprc: float | None
    aurc: float
    ece: float
    brier: float


def summarize(confidence: Scores, correct: Labels, bins: int = 10) -> MetricSummary:
    """Every metric of one confidence score at once.

    Example:
        >>> summarize([0.9, 0.2], [True, False]).auroc
        1.0
    """
    c, y = _arrays(confidence, correct)
    return MetricSummary(
        n=int(c.size),
        accuracy=float(y.mean()),
        auroc=auroc(c, y),
        auprc=auprc(c, y),
        aurc=aurc(c, y),
        ece=ece(c, y, bins),
        brier=brier(c, y),
    )


__all__ = [
    "MetricSummary",
    "ReliabilityBin",
    "RiskCoverage",
    "Selective",
    "auprc",
    "aurc",
    "auroc",
    "brier",
    "ece",
    "reliability",
    "risk_coverage",
    "selective",
    "summarize",
]
