"""Fitting never makes the gate worse: the fitted pair against the current one.

Both combiner-and-calibrator pairs are scored on the certification split, which no
fit saw, and each gets its own Learn-then-Test threshold there. The fitted pair is
kept unless it ranks worse (lower AUROC), does worse at its threshold (a higher
realised error among accepted answers while accepting no more of them), or, ranking
the same, predicts correctness worse (a higher Brier score).

A pair's ranking is its combination's, before the calibrator: a calibrator is
monotone, so it can tie answers but never reorder them. Judged after it, an
isotonic calibrator's steps (ties, each counting half) usually cost a pair's AUROC
a little, so a refit with the default isotonic calibrator would lose to a current
pair calibrated by a smooth curve on ties alone, its combination no worse (a
calibrator-only refit of a preset usually did). What the ties cost the gate shows
where it matters: in the risk and coverage at the certified threshold.

Choosing between two pairs on the same labels and then certifying the chosen one
would spend the guarantee twice. So each is certified at delta / 2: by the union
bound both guarantees hold together with probability >= 1 - delta, and whichever is
kept holds at delta, whatever the choice looked at (Bonferroni).

Under a policy with strata each pair gets a threshold per stratum and one for the
rest (`confguard.evaluation.groups`, which splits its half of delta again over them);
its AUROC is then the one inside each group, and its risk and coverage those pooled
over every threshold it certified.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from pydantic import BaseModel, ConfigDict

from confguard.evaluation.groups import Certificate, Groups, certify_groups
from confguard.evaluation.metrics import brier
from confguard.exceptions import CalibrationError
from confguard.scoring.thresholds import RiskControl

CANDIDATES = 2
"""The pairs compared; the delta asked for is split evenly over them."""

Kept = Literal["fitted", "current"]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Candidate(_Frozen):
    """One combiner-and-calibrator pair as measured on the certification split."""

    name: str
    """What it is, e.g. "fitted logistic + isotonic" or "policy's mean"."""
    auroc: float | None
    """Of its combination (before the calibrator, which can only tie answers),
    inside each group of requests; None when no group has both classes."""
    brier: float | None = None
    """Brier score of its final confidence (an answer never accepted counts as
    0), over every held-out answer: how well it predicts correctness."""
    certificates: tuple[Certificate, ...]
    """One per group of requests (at delta / 2, split over the groups): the
    policy's strata, then the requests no stratum picks out."""

    @property
    def control(self) -> RiskControl | None:
        """The certified threshold of the requests no stratum picks out."""
        return self.certificates[-1].control

    @property
    def refusal(self) -> str | None:
        """Why those requests got no threshold."""
        return self.certificates[-1].refusal

    @property
    def strata(self) -> tuple[Certificate, ...]:
        """The certificates of the policy's strata (none without strata)."""
        return self.certificates[:-1]

    def controls(self) -> tuple[RiskControl, ...]:
        """Every threshold it certified: the strata's, then the policy's own."""
        return tuple(c.control for c in self.certificates if c.control is not None)

    def pooled(self) -> tuple[float, float] | None:
        """(realised risk, held-out answers expected accepted) over all its
        thresholds; None when it certified none."""
        controls = self.controls()
        if not controls:
            return None
        accepted = sum(c.accepted for c in controls)
        risk = sum(c.errors for c in controls) / accepted
        return risk, sum(c.coverage * (c.n + c.n_plan) for c in controls)

    def at_threshold(self) -> str:
        """Its realised risk and coverage at its threshold(s), in words."""
        pooled = self.pooled()
        if pooled is None:
            return "no threshold certified"
        tested = sum(c.n + c.n_plan for c in self.controls())
        said = f"risk {pooled[0]:.3f} at coverage {pooled[1] / tested:.0%}"
        if not self.strata:
            return said
        groups = f"{len(self.controls())} of {len(self.certificates)} groups"
        return f"{said} of the {groups} certified"


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
        a, b = self.chosen.brier, self.other.brier
        brier = "" if a is None or b is None else f"Brier {a:.3f} vs {b:.3f}; "
        return (
            f"kept the {self.chosen.name} over the {self.other.name}: {self.why} "
            f"on the {self.held_out} held-out samples ({auroc}{brier}"
            f"{self.chosen.at_threshold()} vs {self.other.at_threshold()})"
        )


def _auroc(comparison: Comparison) -> str:
    a, b = comparison.chosen.auroc, comparison.other.auroc
    return f"{a:.3f} vs {b:.3f}"


def measure(
    name: str,
    scores: Sequence[float | None],
    correct: Sequence[bool],
    groups: Groups,
    *,
    ranked: Sequence[float | None],
    targets: Sequence[float],
    delta: float,
    seed: int,
) -> tuple[Candidate, CalibrationError | None]:
    """Score one pair on the certification split: its final confidences `scores`
    get a threshold per group of requests (`confguard.evaluation.groups`) at delta /
    CANDIDATES split over the groups, its combination's `ranked` scores (before the
    calibrator) the AUROC; its refusal, if it certified none, beside it."""
    certificates, refused = certify_groups(
        scores,
        correct,
        groups,
        targets=targets,
        delta=delta,
        seed=seed,
        candidates=CANDIDATES,
    )
    auroc = within_auroc(ranked, correct, groups)
    brier_ = brier([0.0 if s is None else s for s in scores], correct)
    candidate = Candidate(
        name=name, auroc=auroc, brier=brier_, certificates=certificates
    )
    return candidate, refused


def within_auroc(
    scores: Sequence[float | None], correct: Sequence[bool], groups: Groups
) -> float | None:
    """AUROC inside each group of requests, weighted by its held-out answers: each
    group is cut by its own threshold, so only the ranking inside it counts (one
    group: the plain AUROC). None when no group has both classes."""
    found = []
    for g in range(len(groups.labels)):
        rows = groups.members(g)
        got = ranking_auroc([scores[i] for i in rows], [correct[i] for i in rows])
        if got is not None:
            found.append((got, len(rows)))
    if not found:
        return None
    return sum(a * n for a, n in found) / sum(n for _, n in found)


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
    """Keep the fit unless it certifies nothing, ranks worse, does worse at its
    threshold, or ranks the same and predicts correctness worse (a calibrator-only
    refit, or a fit that found the same combination); ties keep the fit (it is no
    worse, and it is what was asked for)."""
    f, c = fitted.pooled(), current.pooled()
    if f is None:
        return "current", "the fitted one certifies no threshold"
    if c is None:
        return "fitted", "the current one certifies no threshold"
    if _lower(fitted.auroc, current.auroc):
        return "current", "the fitted one ranks worse"
    if f[0] > c[0] and f[1] <= c[1]:
        return "current", "the fitted one errs more at its threshold, accepting no more"
    same = not _lower(current.auroc, fitted.auroc)  # and not lower either way
    if same and _lower(current.brier, fitted.brier):
        return "current", "it ranks the same and the fitted one predicts worse"
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
    "within_auroc",
]
