"""Fitting never makes the gate worse: the fitted pair against the current one.

Both combiner-and-calibrator pairs are scored on the certification split, which no
fit saw, and each gets its own Learn-then-Test threshold there. The fitted pair is
kept unless it ranks worse (lower AUROC) or does worse at its threshold (a higher
realised error among accepted answers while accepting no more of them).

Choosing between two pairs on the same labels and then certifying the chosen one
would spend the guarantee twice. So each is certified at delta / 2: by the union
bound both guarantees hold together with probability >= 1 - delta, and whichever is
kept holds at delta, whatever the choice looked at (Bonferroni).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from pydantic import BaseModel, ConfigDict

from confguard.exceptions import CalibrationError
from confguard.scoring.thresholds import RiskControl, choose_threshold

CANDIDATES = 2
"""The pairs compared; the delta asked for is split evenly over them."""

BONFERRONI = "; delta split over 2 candidates (Bonferroni)"

Kept = Literal["fitted", "current"]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Candidate(_Frozen):
    """One combiner-and-calibrator pair as measured on the certification split."""

    name: str
    """What it is, e.g. "fitted logistic + isotonic" or "policy's mean"."""
    auroc: float | None
    """On the whole certification split; None when that split has one class."""
    control: RiskControl | None
    """Its certified threshold (at delta / 2), or None when it certifies none."""
    refusal: str | None = None
    """Why it certifies no threshold."""

    def at_threshold(self) -> str:
        """Its realised risk and coverage at its threshold, in words."""
        if self.control is None:
            return "no threshold certified"
        c = self.control
        return f"risk {c.empirical_risk:.3f} at coverage {c.coverage:.0%}"


class Comparison(_Frozen):
    """The fitted pair against the current one, and which one the policy keeps."""

    fitted: Candidate
    current: Candidate
    kept: Kept
    why: str
    delta: float
    """The level asked for; each candidate was certified at delta / 2."""
    held_out: int
    """Samples in the certification split both were measured on."""

    @property
    def chosen(self) -> Candidate:
        """The candidate the policy keeps."""
        return self.fitted if self.kept == "fitted" else self.current

    @property
    def other(self) -> Candidate:
        """The candidate the policy drops."""
        return self.current if self.kept == "fitted" else self.fitted

    @property
    def auroc_gain(self) -> float | None:
        """How much higher the kept one's AUROC is than the other's."""
        a, b = self.chosen.auroc, self.other.auroc
        return None if a is None or b is None else a - b

    def summary(self) -> str:
        """One line: which was kept, why, and by how much.

        Example:
            >>> done.comparison.summary()
            'kept the policy's mean over the fitted logistic + isotonic: ...'
        """
        gain = self.auroc_gain
        auroc = "" if gain is None else f"AUROC {_auroc(self)} ({gain:+.3f}); "
        return (
            f"kept the {self.chosen.name} over the {self.other.name}: {self.why} "
            f"on the {self.held_out} held-out samples ({auroc}"
            f"{self.chosen.at_threshold()} vs {self.other.at_threshold()})"
        )


def _auroc(comparison: Comparison) -> str:
    a, b = comparison.chosen.auroc, comparison.other.auroc
    return f"{a:.3f} vs {b:.3f}"


def measure(
    name: str,
    scores: Sequence[float | None],
    correct: Sequence[bool],
    *,
    target_risk: float,
    delta: float,
    seed: int,
) -> tuple[Candidate, CalibrationError | None]:
    """Score one pair on the certification split; its refusal, if any, beside it."""
    auroc = ranking_auroc(scores, correct)
    try:
        control = choose_threshold(
            scores, correct, target_risk=target_risk, delta=delta, seed=seed
        )
    except CalibrationError as exc:
        return Candidate(name=name, auroc=auroc, control=None, refusal=str(exc)), exc
    marked = control.model_copy(update={"method": control.method + BONFERRONI})
    return Candidate(name=name, auroc=auroc, control=marked), None


def ranking_auroc(
    scores: Sequence[float | None], correct: Sequence[bool]
) -> float | None:
    """AUROC with the never-accepted answers (None) ranked below every other."""
    from sklearn.metrics import roc_auc_score

    if len(set(correct)) < 2:
        return None
    ranked = [-1.0 if s is None else s for s in scores]
    return float(roc_auc_score([bool(c) for c in correct], ranked))


def verdict(fitted: Candidate, current: Candidate) -> tuple[Kept, str]:
    """Keep the fit unless it certifies nothing, ranks worse or does worse at its
    threshold; ties keep the fit (it is no worse, and it is what was asked for)."""
    if fitted.control is None:
        return "current", "the fitted one certifies no threshold"
    if current.control is None:
        return "fitted", "the current one certifies no threshold"
    if _lower(fitted.auroc, current.auroc):
        return "current", "the fitted one ranks worse"
    f, c = fitted.control, current.control
    if f.empirical_risk > c.empirical_risk and f.coverage <= c.coverage:
        return "current", "the fitted one errs more at its threshold, accepting no more"
    return "fitted", "it ranks no worse and does no worse at its threshold"


def _lower(a: float | None, b: float | None) -> bool:
    # 1e-12: two perfect rankings are a tie, not a loss by rounding.
    return a is not None and b is not None and a < b - 1e-12


__all__ = [
    "CANDIDATES",
    "Candidate",
    "Comparison",
    "measure",
    "ranking_auroc",
    "verdict",
]
