"""Certify one accept threshold per group of requests: each stratum, then the rest.

A policy's strata band the requests their conditions pick out with thresholds of their
own (`confguard.policy.strata`), so each stratum's accept threshold is certified on the
held-out answers it would band, and the policy's own thresholds on those no stratum
picks: the group `decide` would use (`Policy.thresholds_for`). A policy without strata
is one group, certified as before.

Each group is certified at its own target risk: a named stratum's from the
per-stratum targets asked for (`confguard.evaluation.targets`), every other group's
the one target.
All groups hold at once with probability >= 1 - delta by splitting delta evenly over
the groups tested (Bonferroni). Which groups are tested depends only on how many
held-out answers each has and its target, never on their labels: a group too small
to certify even at the whole delta is left out, so it costs the others nothing.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial

from pydantic import BaseModel, ConfigDict

from confguard.exceptions import CalibrationError
from confguard.policy import Policy
from confguard.scoring.calibration import LabelledSample
from confguard.scoring.thresholds import (
    PLAN_FRACTION,
    RiskControl,
    choose_threshold,
    min_samples,
)

OWN = "the policy's own thresholds"
"""The group of requests no stratum picks out."""


def group_name(label: str) -> str:
    """How messages name a group: "stratum 'retrieved'", or `OWN`."""
    return label if label == OWN else f"stratum {label}"


class Certificate(BaseModel):
    """One group's threshold as certified on its held-out answers, or why not."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    group: str
    """The stratum's label (as decisions name it), or `OWN`."""
    held_out: int
    target_risk: float
    """The risk this group's threshold was asked to hold."""
    control: RiskControl | None = None
    refusal: str | None = None


@dataclass(frozen=True)
class Groups:
    """Each held-out sample's group: indices into `labels` (the strata, then OWN)."""

    labels: tuple[str, ...]
    of: tuple[int, ...]

    def members(self, group: int) -> list[int]:
        """The samples of one group, by index."""
        return [i for i, g in enumerate(self.of) if g == group]


def grouped(policy: Policy, samples: Sequence[LabelledSample]) -> Groups:
    """Which group bands each sample, as `decide` would pick it.

    Example:
        >>> grouped(preset_policy("balanced"), hold).labels
        ("'retrieved'", "the policy's own thresholds")
    """
    check_recorded(policy, samples)
    strata = policy.strata
    of = []
    for sample in samples:
        stratum = policy.thresholds_for(sample.recorded_results())[1]
        of.append(len(strata) if stratum is None else strata.index(stratum))
    return Groups(labels=(*(s.label for s in strata), OWN), of=tuple(of))


def check_recorded(policy: Policy, samples: Sequence[LabelledSample]) -> None:
    """Refuse to group samples that kept only confidences by a condition that
    reads more (a detail, or skipped apart from failed)."""
    for stratum in policy.strata:
        if not stratum.when.needs_record():
            continue
        bare = sum(not s.recorded for s in samples)
        if bare:
            raise CalibrationError(
                f"stratum {stratum.label} is picked by {stratum.when.render()}, which "
                f"reads more than a confidence; {bare} of the {len(samples)} labelled "
                "samples kept only their signals' confidences (as samples.jsonl "
                "written before statuses and details were recorded does), so their "
                "stratum is unknown: run the eval again, or calibrate on the "
                "reviewers' verdicts (--store)",
                have=len(samples),
            )


def testable_size(target_risk: float, delta: float) -> int:
    """The fewest held-out answers a group needs to certify at all (at the whole
    delta, with every accepted answer right)."""
    return math.ceil(min_samples(target_risk, delta) / (1 - PLAN_FRACTION))


def certify_groups(
    scores: Sequence[float | None],
    correct: Sequence[bool],
    groups: Groups,
    *,
    targets: Sequence[float],
    delta: float,
    seed: int,
    candidates: int = 1,
) -> tuple[tuple[Certificate, ...], CalibrationError | None]:
    """Every group's certificate at its target (`confguard.evaluation.targets`)
    and delta / candidates, split again over the groups big enough to test; and,
    when none certifies, the refusal of the group nearest to certifying."""
    members = [groups.members(g) for g in range(len(groups.labels))]
    one = len(members) == 1  # no split: the one group is tested whatever its size
    level = delta / candidates
    least = [testable_size(t, level) for t in targets]
    tested = [g for g, rows in enumerate(members) if one or len(rows) >= least[g]]
    share = level / max(1, len(tested))
    note = _split_note(candidates, len(tested))
    out, errors = [], []
    for g, rows in enumerate(members):
        made = partial(
            Certificate,
            group=groups.labels[g],
            held_out=len(rows),
            target_risk=targets[g],
        )
        if g not in tested:
            exc = _too_few(len(rows), least[g], targets[g], level)
            out.append(made(refusal=str(exc)))
            errors.append(_in_group(exc, len(rows), len(scores)))
            continue
        try:
            control = choose_threshold(
                [scores[i] for i in rows],
                [correct[i] for i in rows],
                target_risk=targets[g],
                delta=share,
                seed=seed,
                one_class=not one,  # the whole set holds both (check_labels)
            )
        except CalibrationError as exc:
            out.append(made(refusal=str(exc)))
            errors.append(_in_group(exc, len(rows), len(scores)))
            continue
        if note:
            control = control.model_copy(update={"method": control.method + note})
        out.append(made(control=control))
    certified = any(c.control is not None for c in out)
    return tuple(out), None if certified or not errors else _nearest(errors)


def _nearest(errors: Sequence[CalibrationError]) -> CalibrationError:
    """The refusal of the group nearest to certifying: the fewest labels needed in
    all, among those that can say; else the last (the policy's own group's)."""
    counted = [e for e in errors if e.needed is not None]
    return min(counted, key=lambda e: e.needed or 0) if counted else errors[-1]


def _split_note(candidates: int, groups: int) -> str:
    """What `RiskControl.method` says of the split, e.g. "; delta split over 2
    candidates and 2 groups of requests (Bonferroni)"."""
    parts = [f"{candidates} candidates"] if candidates > 1 else []
    parts += [f"{groups} groups of requests"] if groups > 1 else []
    return f"; delta split over {' and '.join(parts)} (Bonferroni)" if parts else ""


def _in_group(exc: CalibrationError, rows: int, total: int) -> CalibrationError:
    """A group's refusal counted in all the held-out labels: what it needs of its
    own kind scaled by its share of them (assuming the mix of requests stays)."""
    if rows == total:
        return exc
    needed = None if exc.needed is None or not rows else exc.needed * total / rows
    return CalibrationError(
        str(exc), have=total, needed=None if needed is None else math.ceil(needed)
    )


def _too_few(n: int, least: int, target_risk: float, delta: float) -> CalibrationError:
    return CalibrationError(
        f"{n} held-out labels; certifying risk <= {target_risk:g} at delta "
        f"{delta:g} needs at least {least}",
        have=n,
        needed=least,
    )


__all__ = [
    "OWN",
    "Certificate",
    "Groups",
    "certify_groups",
    "check_recorded",
    "group_name",
    "grouped",
    "testable_size",
]
