"""Refit a stratified combiner in its own shape: a logistic fit per kind of request.

Every shipped preset carries a `StratifiedCombiner`: one logistic fit for requests
whose `by` signal is ok and one for the rest, each over the signals cross-validation
chose for it (`scripts/fit_presets.py`). Refitting it as one pooled logistic over
every signal the labels carry would compare the shipped combiner with a different
model, and one that mixes the kinds. So each side is refitted on its own labels over
its own signals; when a side has too few labels for that, the refit says so and
falls back on the pooled fit.
"""

from __future__ import annotations

from collections.abc import Sequence

from confguard.evaluation.fallback import too_few_for_logistic
from confguard.scoring.calibration import LabelledSample, fit_logistic
from confguard.scoring.stratified import StratifiedCombiner, signal_ok


def refit_stratified(
    shipped: StratifiedCombiner, fit: Sequence[LabelledSample]
) -> StratifiedCombiner | str:
    """Each side refitted over its own signals, or why a side cannot be.

    Example:
        >>> refit_stratified(preset_policy("balanced").combiner, fit_split)
        StratifiedCombiner(by='retrieval', when_ok=..., otherwise=...)
    """
    ok = [s for s in fit if signal_ok(s.results(), shipped.by)]
    rest = [s for s in fit if not signal_ok(s.results(), shipped.by)]
    sides = {}
    for side, rows, model in (
        ("when_ok", ok, shipped.when_ok),
        ("otherwise", rest, shipped.otherwise),
    ):
        # A signal never ok on this side's labels has nothing to fit: left out.
        names = [n for n in model.signal_names() if _seen(rows, n)]
        only = [_keeping(s, names) for s in rows]
        short = too_few_for_logistic(only)
        if short is not None:
            kind = "ok" if side == "when_ok" else "not ok"
            return (
                f"the requests with {shipped.by!r} {kind} ({len(rows)} in the fit "
                f"split) are too few for their own fit: {short}"
            )
        sides[side] = fit_logistic(only)
    return StratifiedCombiner(by=shipped.by, **sides)


def _seen(rows: Sequence[LabelledSample], name: str) -> bool:
    return any(s.signals.get(name) is not None for s in rows)


def _keeping(sample: LabelledSample, names: Sequence[str]) -> LabelledSample:
    signals = {n: sample.signals.get(n) for n in names}
    return sample.model_copy(update={"signals": signals, "recorded": ()})


__all__ = ["refit_stratified"]
