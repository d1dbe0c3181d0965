"""Fit a combiner, a calibrator and a risk-controlled threshold into a policy.

The labelled samples are split once (seeded): the fitting part fits the logistic
combiner and the calibrator; the threshold part, which the fits never saw, certifies
the threshold (and `choose_threshold` splits it again into planning and testing).
Fitting and certifying on the same answers would void the guarantee.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict

from confguard.evaluation.compare import (
    CANDIDATES,
    Candidate,
    Comparison,
    measure,
    verdict,
)
from confguard.evaluation.fallback import Fallback, fallback, too_few_for_logistic
from confguard.evaluation.groups import (
    Groups,
    certify_groups,
    group_name,
    grouped,
    testable_size,
)
from confguard.evaluation.outcomes import GroupOutcome, outcomes, write_groups
from confguard.evaluation.stratified_refit import refit_stratified
from confguard.evaluation.targets import group_targets
from confguard.exceptions import CalibrationError
from confguard.policy import Policy
from confguard.scoring.aggregate import (
    Calibrator,
    Combiner,
    combiner_from_name,
)
from confguard.scoring.calibration import (
    CalibratorKind,
    IsotonicCalibrator,
    LabelledSample,
    PlattCalibrator,
    check_labels,
    combined,
    fit_calibrator,
    fit_logistic,
)
from confguard.scoring.stratified import FITTED_TYPES, StratifiedCombiner
from confguard.scoring.thresholds import RiskControl
from confguard.signals.history import History, LabelledCase

if TYPE_CHECKING:
    from confguard.embeddings.base import Embedder

CombinerChoice = Literal["logistic", "policy"]


class Calibrated(BaseModel):
    """What `calibrate_policy` fitted, certified and wrote into the policy."""

    model_config = ConfigDict(frozen=True)

    policy: Policy
    groups: tuple[GroupOutcome, ...]
    """Each of the policy's strata, then the requests no stratum picks out: what
    the written policy holds for them (`confguard.evaluation.outcomes`)."""
    fitted_on: int
    """Samples the combiner and calibrator were fitted on."""
    certified_on: int
    """Samples the thresholds were chosen on (planning and testing)."""
    delta: float
    """The level of the whole procedure, split over candidates and strata."""
    comparison: Comparison | None = None
    """The fitted pair against the policy's own; None when nothing was fitted."""
    fallback: Fallback | None = None
    """Why a simpler combiner stood in for the fit asked for, if one did."""

    @property
    def control(self) -> RiskControl | None:
        """The policy's own accept threshold's new certificate (None: its group
        was kept or closed, which only a policy with strata allows)."""
        return self.groups[-1].control

    def controls(self) -> tuple[RiskControl, ...]:
        """Every certificate the refit made, the strata's first."""
        return tuple(g.control for g in self.groups if g.control is not None)

    def strata_lines(self) -> tuple[str, ...]:
        """What each group of a policy with strata got, a line each (none
        without strata)."""
        if len(self.groups) == 1:
            return ()
        return tuple(g.summary() for g in self.groups)


def split(
    samples: Sequence[LabelledSample], fit_fraction: float, seed: int
) -> tuple[list[LabelledSample], list[LabelledSample]]:
    """A seeded split into a fitting part and a threshold part."""
    _check_fraction(fit_fraction)
    order = list(range(len(samples)))
    random.Random(seed).shuffle(order)
    cut = round(len(samples) * fit_fraction)
    return [samples[i] for i in order[:cut]], [samples[i] for i in order[cut:]]


def sample_problem(sample: LabelledSample) -> tuple[str, str] | None:
    """The first (field, problem) that makes `sample` unusable for fitting, or None.

    Example:
        >>> sample_problem(LabelledSample(signals={"judge": 7.5}, correct=True))
        ('signals.judge', 'must be in [0, 1], got 7.5')
    """
    values = {f"signals.{name}": v for name, v in sample.signals.items()}
    values["confidence"] = sample.confidence
    for field, value in values.items():
        if value is not None and not (math.isfinite(value) and 0.0 <= value <= 1.0):
            return field, f"must be in [0, 1], got {value}"
    return None


def check_samples(samples: Sequence[LabelledSample]) -> None:
    """Refuse NaN, infinite or out-of-range confidences, naming the first sample."""
    for index, sample in enumerate(samples):
        problem = sample_problem(sample)
        if problem is not None:
            raise CalibrationError(
                f"labelled sample {index}: {problem[0]}: {problem[1]}",
                have=len(samples),
            )


def _check_fraction(fit_fraction: float) -> None:
    if not 0.0 < fit_fraction < 1.0:
        raise ValueError(f"fit_fraction must be in (0, 1), got {fit_fraction}")


@dataclass(frozen=True)
class _Pair:
    """A combiner, its calibrator, and what to call them in the comparison."""

    name: str
    combiner: Combiner
    calibrator: PlattCalibrator | IsotonicCalibrator | None


def _combiner(
    choice: CombinerChoice, base: Policy, fit: Sequence[LabelledSample]
) -> tuple[Combiner, Fallback | None]:
    if choice != "logistic":
        return base.build_combiner(), None
    if isinstance(base.combiner, StratifiedCombiner):
        refit = refit_stratified(base.combiner, fit)
        if isinstance(refit, StratifiedCombiner):
            return refit, None
        return _pooled(base, fit, refit)
    short = too_few_for_logistic(fit)
    if short is None:
        return fit_logistic(fit), None
    return _fallen_back(base, fit, short)


def _pooled(
    base: Policy, fit: Sequence[LabelledSample], why: str
) -> tuple[Combiner, Fallback]:
    """One logistic fit over every request, where a stratified one could not be."""
    short = too_few_for_logistic(fit)
    if short is None:
        used = "one logistic fit over every request instead"
        return fit_logistic(fit), Fallback(
            weights={}, reason=why, used=used, wanted="stratified"
        )
    return _fallen_back(base, fit, f"{why}; and over every request, {short}")


def _fallen_back(
    base: Policy, fit: Sequence[LabelledSample], short: str
) -> tuple[Combiner, Fallback]:
    chosen = fallback(fit, short)
    if not chosen.weights:
        return base.build_combiner(), chosen
    # Built as the policy file will build it, so what is measured is what ships.
    return combiner_from_name("weighted", chosen.weights), chosen


def _calibrator(
    kind: CalibratorKind | None, combiner: Combiner, fit: Sequence[LabelledSample]
) -> PlattCalibrator | IsotonicCalibrator | None:
    if kind is None:
        return None
    return fit_calibrator(kind, combined(fit, combiner), [s.correct for s in fit])


def _named(combiner: Combiner, calibrator: object, owner: str) -> str:
    kind = getattr(calibrator, "kind", None)
    return f"{owner} {combiner.name}" + ("" if kind is None else f" + {kind}")


def final_scores(
    samples: Sequence[LabelledSample],
    combiner: Combiner,
    calibrator: Calibrator | None,
    policy: Policy,
) -> list[float | None]:
    """Each sample's final confidence; None where the guard would never accept it."""
    out: list[float | None] = []
    for sample, raw in zip(samples, combined(samples, combiner), strict=True):
        closed = policy.on_missing_evidence == "fail_closed" and any(
            v is None for v in sample.signals.values()
        )
        if closed or raw is None:
            out.append(None)
        else:
            out.append(raw if calibrator is None else calibrator.calibrate(raw))
    return out


def _with_fits(
    base: Policy,
    kept: _Pair | None,
    fell_back: Fallback | None,
    groups: Sequence[GroupOutcome],
    cascade: bool | None,
) -> Policy:
    """The base policy with each group's thresholds, and the fits if `kept`."""
    data = policy_data(base)
    write_groups(data, base, groups)
    if kept is not None:
        _write_fits(data, kept, fell_back)
    if cascade is not None:
        data["cascade"] = cascade
    return Policy.from_dict(data)


def _write_fits(data: dict[str, Any], kept: _Pair, fell_back: Fallback | None) -> None:
    if isinstance(kept.combiner, FITTED_TYPES):
        data["combiner"] = kept.combiner.model_dump(mode="json")
        data.pop("weights", None)
    elif fell_back is not None and fell_back.weights:
        data["combiner"] = "weighted"
        data["weights"] = dict(fell_back.weights)
    data["calibrator"] = (
        None if kept.calibrator is None else kept.calibrator.model_dump()
    )


def calibrate_policy(
    samples: Sequence[LabelledSample],
    base: Policy,
    *,
    target_risk: float,
    delta: float,
    stratum_risk: Mapping[str, float] | None = None,
    combiner: CombinerChoice = "logistic",
    calibrator: CalibratorKind | None = "isotonic",
    fit_fraction: float = 0.5,
    seed: int = 0,
    cascade: bool | None = None,
) -> Calibrated:
    """Fit combiner and calibrator, certify the accept threshold, return the policy.

    Whatever is fitted is compared with the policy's own combiner and calibrator on
    the certification split, and kept only if no worse (`confguard.evaluation.
    compare`); both are then certified at delta / 2. With too few labels for a
    logistic fit, a weighted mean stands in (`confguard.evaluation.fallback`).
    With nothing to fit (``combiner="policy"``, ``calibrator=None``) every sample
    certifies at delta and `fit_fraction` is not used (it must still be in (0, 1)).

    Under a policy with strata, each stratum's accept threshold is certified on the
    held-out answers it bands and the policy's own on the rest, delta split over
    them (`confguard.evaluation.groups`); a group too small or too wrong to certify
    keeps its cut if the policy's own scoring is kept, and is closed (no accept
    band) if a fit replaces it (`confguard.evaluation.outcomes`). Samples must then
    carry `recorded` results if a stratum's condition reads more than confidences.
    `stratum_risk` gives a named stratum a target risk of its own (by name); every
    other group is certified at `target_risk`.

    Example:
        >>> done = calibrate_policy(samples, demo_policy(), target_risk=0.1, delta=0.05)
        >>> done.policy.thresholds.accept, done.comparison.summary()
    """
    _check_fraction(fit_fraction)  # before _enough divides by 1 - fit_fraction
    targets = group_targets(base, target_risk, stratum_risk)  # a typo before labels
    check_samples(samples)
    check_labels([s.correct for s in samples], "calibration")
    fits = combiner == "logistic" or calibrator is not None
    # The most lenient target needs the fewest: below that, no group can certify.
    _enough(len(samples), max(targets), delta, fit_fraction if fits else 0.0)
    fit, hold = split(samples, fit_fraction, seed) if fits else ([], list(samples))
    groups = grouped(base, hold)
    levels = (targets, delta, seed)
    try:
        if not fits:
            found = _certify(_current(base), hold, groups, base, levels)
            return Calibrated(
                policy=_with_fits(base, None, None, found, cascade),
                groups=found,
                fitted_on=0,
                certified_on=len(hold),
                delta=delta,
            )
        fitted, fell_back = _fitted(combiner, calibrator, base, fit)
        comparison = _compare(fitted, _current(base), hold, groups, base, levels)
        kept = fitted if comparison.kept == "fitted" else None
        found = outcomes(
            comparison.chosen.certificates, base, refitted=kept is not None, delta=delta
        )
        policy = _with_fits(base, kept, fell_back, found, cascade)
    except CalibrationError as exc:
        raise _in_all(exc, len(samples), len(hold)) from exc
    return Calibrated(
        policy=policy,
        groups=found,
        fitted_on=len(fit),
        certified_on=len(hold),
        delta=delta,
        comparison=comparison,
        fallback=fell_back,
    )


Levels = tuple[tuple[float, ...], float, int]
"""Each group's target risk (`group_targets`), delta and seed."""


def _fitted(
    choice: CombinerChoice,
    kind: CalibratorKind | None,
    base: Policy,
    fit: Sequence[LabelledSample],
) -> tuple[_Pair, Fallback | None]:
    combiner_, fell_back = _combiner(choice, base, fit)
    calibrator_ = _calibrator(kind, combiner_, fit)
    pair = _Pair(_named(combiner_, calibrator_, "fitted"), combiner_, calibrator_)
    return pair, fell_back


def _current(base: Policy) -> _Pair:
    combiner_ = base.build_combiner()
    name = _named(combiner_, base.calibrator, "policy's")
    return _Pair(name, combiner_, base.calibrator)


def _certify(
    pair: _Pair,
    hold: Sequence[LabelledSample],
    groups: Groups,
    base: Policy,
    levels: Levels,
) -> tuple[GroupOutcome, ...]:
    """The policy's own pair certified per group at the whole delta (nothing was
    fitted, so nothing was compared); groups it cannot certify keep their cut."""
    targets, delta, seed = levels
    certificates, refused = certify_groups(
        final_scores(hold, pair.combiner, pair.calibrator, base),
        [s.correct for s in hold],
        groups,
        targets=targets,
        delta=delta,
        seed=seed,
    )
    if refused is not None:
        raise refused
    return outcomes(certificates, base, refitted=False, delta=delta)


def _compare(
    fitted: _Pair,
    current: _Pair,
    hold: Sequence[LabelledSample],
    groups: Groups,
    base: Policy,
    levels: Levels,
) -> Comparison:
    """Both pairs on the certification split at delta / 2, and the one kept."""
    targets, delta, seed = levels
    correct = [s.correct for s in hold]
    measured = [
        measure(
            pair.name,
            final_scores(hold, pair.combiner, pair.calibrator, base),
            correct,
            groups,
            ranked=final_scores(hold, pair.combiner, None, base),
            targets=targets,
            delta=delta,
            seed=seed,
        )
        for pair in (fitted, current)
    ]
    (fit_, fit_error), (cur_, cur_error) = measured
    if fit_error is not None and cur_error is not None:
        raise _halved(fit_error, fit_, delta)  # neither certifies: the fit's refusal
    kept, why = verdict(fit_, cur_)
    comparison = Comparison(
        fitted=fit_, current=cur_, kept=kept, why=why, delta=delta, held_out=len(hold)
    )
    if not comparison.chosen.controls():  # unreachable: verdict keeps one that did
        raise CalibrationError(comparison.summary(), have=len(hold))
    return comparison


def _halved(exc: CalibrationError, fitted: Candidate, delta: float) -> CalibrationError:
    """The fit's refusal (each group's, under strata), saying why its delta is less
    than the one asked for."""
    said = str(exc)
    split = f"each was tested at delta {delta / CANDIDATES:g}, half of {delta:g}"
    if fitted.strata:
        said = "; ".join(
            f"{group_name(c.group)}: {c.refusal}" for c in fitted.certificates
        )
        split += ", split again over the groups of requests big enough to test"
    return CalibrationError(
        f"{said} (neither the fitted nor the policy's own combination certifies; "
        f"{split}, since two were compared)",
        have=exc.have,
        needed=exc.needed,
    )


def _in_all(exc: CalibrationError, n: int, held: int) -> CalibrationError:
    """The refusal of the threshold part, restated for all the samples given."""
    if held == n:
        return exc
    needed = None if exc.needed is None else math.ceil(exc.needed * n / held)
    more = "" if needed is None else f"; about {needed} labelled samples in all"
    return CalibrationError(
        f"{exc} (of the {n} samples, {held} were held out to certify the threshold"
        f"{more})",
        have=n,
        needed=needed,
    )


def _enough(n: int, target_risk: float, delta: float, fit_fraction: float) -> None:
    certify = testable_size(target_risk, delta)
    needed = math.ceil(certify / (1 - fit_fraction))
    if n < needed:
        fitting = f" once {fit_fraction:.0%} went to fitting" if fit_fraction else ""
        raise CalibrationError(
            f"certifying risk <= {target_risk:g} at delta {delta:g} needs at least "
            f"{needed} labelled samples ({certify} to certify the threshold{fitting}), "
            f"and even then only if the accepted answers are all right; got {n}",
            have=n,
            needed=needed,
        )


def policy_data(policy: Policy) -> dict[str, Any]:
    """The policy as plain data (`Policy.to_dict`)."""
    return policy.to_dict()


def policy_yaml(policy: Policy) -> str:
    """The policy as YAML that loads back with `Policy.from_yaml` (`Policy.to_yaml`)."""
    return policy.to_yaml()


def write_policy(policy: Policy, path: Path) -> None:
    """Write the policy file (it loads back with `Policy.from_yaml`)."""
    path.write_text(policy_yaml(policy), encoding="utf-8")


def refit_history(
    cases: Sequence[LabelledCase], embedder: Embedder, folder: Path
) -> History:
    """A fresh `History` of the labelled questions, saved to `folder`.

    It replaces the old history whole: the labels are the ones just calibrated on,
    so the `history` signal and the policy are refitted from the same answers.

    Example:
        >>> refit_history(eval_cases(Path("ev")), get_embedder("minilm"), Path("h"))
    """
    history = History.build(embedder, cases)
    history.save(folder)
    return history


__all__ = [
    "Calibrated",
    "CombinerChoice",
    "calibrate_policy",
    "check_samples",
    "final_scores",
    "policy_data",
    "policy_yaml",
    "refit_history",
    "sample_problem",
    "split",
    "write_policy",
]
