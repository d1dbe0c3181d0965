"""Too few labels for a logistic fit: a weighted mean chosen on the fit split instead.

A logistic regression over k signals wants about ten samples of the rarer class per
coefficient (Peduzzi et al., 1996, "events per variable"); below that its
coefficients chase noise, as the issue's 50-sample fit did. The fallback has nothing
to overfit but one weight per signal: each signal weighs what its AUROC on the fit
split exceeds chance (2 * AUROC - 1, floored at 0), so evidence that carries no
information (a signal that is 0.8 for every answer) drops out, and the best signal
weighs most without silencing the rest.
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict

from confguard.evaluation.compare import ranking_auroc
from confguard.scoring.calibration import LabelledSample

EVENTS_PER_SIGNAL = 10
"""Samples of the rarer class a logistic fit needs per signal it weighs."""


class Fallback(BaseModel):
    """Why the fit asked for was skipped, and the simpler combiner used instead."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    weights: dict[str, float]
    """The weighted mean's weights; empty when the policy's own combiner stands."""
    reason: str
    """Why no logistic fit."""
    used: str
    """What stood in for it."""
    wanted: str = "logistic"
    """The fit that was asked for and skipped."""

    def summary(self) -> str:
        """One line for the CLI."""
        return f"no {self.wanted} fit: {self.reason}; {self.used}"


def too_few_for_logistic(fit: Sequence[LabelledSample]) -> str | None:
    """Why `fit` is too small for a logistic fit, or None when it is large enough.

    Example:
        >>> too_few_for_logistic(fifty_samples_five_signals)
        'over 5 signals it needs 50 wrong answers to fit on (10 per signal); got 12'
    """
    names = {n for s in fit for n in s.signals}
    if not fit or not names:  # nothing to fit, whatever the rule per signal says
        return "there are no labelled answers with a signal to fit on"
    right = sum(s.correct for s in fit)
    rarer, kind = min((right, "right"), (len(fit) - right, "wrong"))
    needed = EVENTS_PER_SIGNAL * len(names)
    if rarer >= needed:
        return None
    return (
        f"over {len(names)} signals it needs {needed} {kind} answers to fit on "
        f"({EVENTS_PER_SIGNAL} per signal); got {rarer}"
    )


def signal_weights(fit: Sequence[LabelledSample]) -> dict[str, float]:
    """Each signal's weight: 2 * AUROC - 1 on the fit split where it is ok, >= 0."""
    weights = {}
    for name in sorted({n for s in fit for n in s.signals}):
        pairs = [
            (s.signals[name], s.correct) for s in fit if s.signals.get(name) is not None
        ]
        auroc = ranking_auroc([p for p, _ in pairs], [c for _, c in pairs])
        weights[name] = 0.0 if auroc is None else round(max(0.0, 2 * auroc - 1), 4)
    return weights


def fallback(fit: Sequence[LabelledSample], reason: str) -> Fallback:
    """The weighted mean for `fit`, or the policy's combiner if no signal informs."""
    weights = signal_weights(fit)
    if not any(weights.values()):
        used = "no signal ranks better than chance on the fit split, so the "
        return Fallback(weights={}, reason=reason, used=used + "policy's combiner")
    return Fallback(
        weights=weights,
        reason=reason,
        used="a weighted mean instead, each signal weighing 2 * AUROC - 1 on the "
        "fit split",
    )


__all__ = [
    "EVENTS_PER_SIGNAL",
    "Fallback",
    "fallback",
    "signal_weights",
    "too_few_for_logistic",
]
