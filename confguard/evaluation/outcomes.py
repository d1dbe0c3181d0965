"""What a refit writes for each group of requests: certified, kept, or closed.

A group whose threshold was certified gets it (and its `risk_control`). A group that
could not be certified (too few held-out answers of its kind, or too many wrong):

- keeps its thresholds and certificate as they were when the policy's own combiner
  and calibrator are kept (the scores they were cut for have not changed) and that
  certificate is at least as strong as the one asked for (its target risk and delta
  no higher);
- is *closed* otherwise: its old cut means nothing on new scores, and a cut with a
  weaker guarantee (or none) would accept answers at a risk above the target. It
  loses its accept band and falls back on the bands below (annotate, retry,
  escalate) until enough of its requests are labelled to certify one. A group with
  no band below accept cannot be closed, and the refit refuses.

So every group of the written policy either holds a certificate at the target risk
asked of it (its own, under per-stratum targets) and the delta asked for, or a
stronger one, or accepts nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from confguard.evaluation.groups import Certificate, group_name
from confguard.exceptions import CalibrationError
from confguard.policy import Policy
from confguard.policy.model import BANDS, Thresholds
from confguard.scoring.thresholds import RiskControl

Outcome = Literal["certified", "kept", "closed"]


class GroupOutcome(BaseModel):
    """One group's thresholds in the refitted policy, and why."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    group: str
    """The stratum's label, or the policy's own thresholds."""
    held_out: int
    """Held-out answers of this group the threshold was (or would be) tested on."""
    outcome: Outcome
    control: RiskControl | None = None
    """The new certificate (certified only)."""
    why: str | None = None
    """Why it was not certified (kept and closed)."""

    @property
    def name(self) -> str:
        """How the CLI and console name the group."""
        return group_name(self.group)

    def summary(self) -> str:
        """One line, e.g. "stratum 'retrieved': accept >= 0.530 certified for risk
        <= 0.5 on 139 held-out answers (bound 0.482, coverage 31%)"."""
        name = self.name
        c = self.control
        if c is not None:
            return (
                f"{name}: accept >= {c.threshold:.3f} certified for risk <= "
                f"{c.target_risk:g} on {self.held_out} held-out answers (bound "
                f"{c.upper_bound:.3f}, coverage {c.coverage:.0%})"
            )
        if self.outcome == "kept":
            return f"{name}: kept as it was, not recertified ({self.why})"
        return (
            f"{name}: closed, accepts nothing until it can be certified; its "
            f"requests fall to the bands below accept ({self.why})"
        )


def outcomes(
    certificates: Sequence[Certificate],
    base: Policy,
    *,
    refitted: bool,
    delta: float,
) -> tuple[GroupOutcome, ...]:
    """Each group's outcome; `refitted`: a fitted combination replaces the policy's."""
    existing = (*(s.risk_control for s in base.strata), base.risk_control)
    out = []
    for c, old in zip(certificates, existing, strict=True):
        why = c.refusal
        if c.control is not None:
            outcome: Outcome = "certified"
        elif refitted:
            outcome = "closed"
        elif old is None or old.target_risk > c.target_risk or old.delta > delta:
            outcome = "closed"
            why = f"{why}; {_weaker(old, c.target_risk, delta)}"
        else:
            outcome = "kept"
        out.append(
            GroupOutcome(
                group=c.group,
                held_out=c.held_out,
                outcome=outcome,
                control=c.control,
                why=why,
            )
        )
    return tuple(out)


def _weaker(old: RiskControl | None, target_risk: float, delta: float) -> str:
    if old is None:
        return "and its thresholds were never certified"
    return (
        f"and its certificate (risk <= {old.target_risk:g} at delta {old.delta:g}) "
        f"is weaker than risk <= {target_risk:g} at delta {delta:g}"
    )


def write_groups(
    data: dict[str, Any], base: Policy, found: Sequence[GroupOutcome]
) -> None:
    """Write every group's thresholds (and certificate) into the policy's data."""
    *strata, own = found
    data["thresholds"] = _bands(base.thresholds, own)
    _write_control(data, own)
    if not strata:
        return
    written = []
    for stratum, outcome in zip(base.strata, strata, strict=True):
        entry = stratum.to_data()
        entry["thresholds"] = _bands(stratum.thresholds, outcome)
        _write_control(entry, outcome)
        written.append(entry)
    data["strata"] = written


def _bands(thresholds: Thresholds, outcome: GroupOutcome) -> dict[str, Any]:
    if outcome.outcome == "kept":
        return thresholds.model_dump(mode="json")
    accept = None if outcome.control is None else outcome.control.threshold
    bands: dict[str, Any] = {"accept": accept}
    for name in BANDS[1:]:
        value = getattr(thresholds, name)
        bands[name] = value if value is None or accept is None else min(value, accept)
    if all(v is None for v in bands.values()):
        raise CalibrationError(
            f"{outcome.name} cannot be certified ({outcome.why}) and has no band "
            "below accept to fall back on; give it an annotate, retry or escalate "
            "band, or label more of its requests",
            have=outcome.held_out,
        )
    return bands


def _write_control(data: dict[str, Any], outcome: GroupOutcome) -> None:
    if outcome.control is not None:
        data["risk_control"] = outcome.control.model_dump(mode="json")
    elif outcome.outcome == "closed":
        data.pop("risk_control", None)


__all__ = ["GroupOutcome", "Outcome", "outcomes", "write_groups"]
