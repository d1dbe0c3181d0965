"""The closed loop: reviewers' verdicts -> a refitted, certified policy proposal.

`propose` reads the labels from the store (`labelled_from_store`), refits the
combiner and calibrator and certifies the Learn-then-Test threshold
(`calibrate_policy`), and returns the proposal beside the current policy — or a
refusal saying how many more labels it needs. Applying makes a policy version.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from confguard.evaluation.calibrate import Calibrated, calibrate_policy
from confguard.exceptions import CalibrationError
from confguard.policy.model import Policy
from confguard.scoring.calibration import labelled_from_store
from confguard.scoring.thresholds import RiskControl
from confguard.store.policy_versions import PolicyVersion
from confguard.store.sql import SQLStore


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True)


class _Guarantee(_Frozen):
    """An accept threshold and, if certified, its guarantee."""

    threshold: float | None
    upper_bound: float | None = None
    coverage: float | None = None
    target_risk: float | None = None
    delta: float | None = None
    labels: int | None = None
    """Labelled samples behind the guarantee (planning and testing)."""

    @staticmethod
    def values(accept: float | None, control: RiskControl | None) -> dict[str, Any]:
        """The fields for a threshold and its certificate (if any)."""
        if control is None:
            return {"threshold": accept}
        return {
            "threshold": accept,
            "upper_bound": control.upper_bound,
            "coverage": control.coverage,
            "target_risk": control.target_risk,
            "delta": control.delta,
            "labels": control.n + control.n_plan,
        }


class StratumGuarantee(_Guarantee):
    """One stratum's accept threshold and guarantee (`coverage`: of its requests)."""

    stratum: str
    """As decisions name it: "'retrieved'", or its condition when unnamed."""


class Figures(_Guarantee):
    """A policy's accept threshold and, if certified, its guarantee; under strata,
    each stratum's beside it (the policy's own figures are then the rest's)."""

    strata: tuple[StratumGuarantee, ...] = ()

    @classmethod
    def of(cls, policy: Policy) -> Figures:
        """The figures a policy carries (its `risk_control`s, where it has them)."""
        strata = tuple(
            StratumGuarantee(
                stratum=s.label, **cls.values(s.thresholds.accept, s.risk_control)
            )
            for s in policy.strata
        )
        own = cls.values(policy.thresholds.accept, policy.risk_control)
        return cls(**own, strata=strata)


class CurrentPolicy(_Frozen):
    """The policy in force: its version (0: the configured one) and figures."""

    version: int
    figures: Figures
    applied_by: str | None = None
    applied_at: datetime | None = None

    @classmethod
    def of(cls, version: PolicyVersion | None, base: Policy) -> CurrentPolicy:
        """The current version, or the configured policy if none was applied."""
        if version is None:
            return cls(version=0, figures=Figures.of(base))
        recorded = version.summary.get("figures")  # as proposed: the overall delta
        figures = Figures.of(version.policy)
        if recorded:  # a version applied before strata were recorded lacks them
            figures = Figures.model_validate({"strata": figures.strata, **recorded})
        return cls(
            version=version.version,
            figures=figures,
            applied_by=version.applied_by,
            applied_at=version.applied_at,
        )


class Proposal(_Frozen):
    """A refitted policy whose threshold is certified on the reviewers' labels."""

    figures: Figures
    labels: int
    right: int
    wrong: int
    fitted_on: int
    certified_on: int
    accepted: int
    """Test answers accepted, over every threshold certified."""
    errors: int
    comparison: str | None = None
    fallback: str | None = None
    strata: tuple[str, ...] = ()
    """Under a policy with strata, a line each: what each stratum and the rest got
    (certified, kept as it was, or closed; `confguard.evaluation.outcomes`)."""
    policy_yaml: str

    def summary(self) -> dict[str, Any]:
        """What a policy version records of the proposal it came from."""
        return self.model_dump(mode="json", exclude={"policy_yaml"})


class Refusal(_Frozen):
    """Why no threshold could be certified, and how many more labels it needs."""

    message: str
    have: int
    needed: int | None = None
    more: int | None = Field(default=None, ge=0)


def _proposal(done: Calibrated, labels: list[bool]) -> Proposal:
    controls = done.controls()
    figures = _overall(Figures.of(done.policy), done)
    return Proposal(
        figures=figures,
        labels=len(labels),
        right=sum(labels),
        wrong=len(labels) - sum(labels),
        fitted_on=done.fitted_on,
        certified_on=done.certified_on,
        accepted=sum(c.accepted for c in controls),
        errors=sum(c.errors for c in controls),
        comparison=done.comparison.summary() if done.comparison else None,
        fallback=done.fallback.summary() if done.fallback else None,
        strata=done.strata_lines(),
        policy_yaml=done.policy.to_yaml(),
    )


def _overall(figures: Figures, done: Calibrated) -> Figures:
    """The figures with each group certified now at the overall delta (its
    `risk_control.delta` is its share of it); a kept group's stays its own."""
    *strata, own = (g.outcome == "certified" for g in done.groups)
    now = {"delta": done.delta}
    return figures.model_copy(
        update={
            **(now if own else {}),
            "strata": tuple(
                f.model_copy(update=now) if certified else f
                for f, certified in zip(figures.strata, strata, strict=True)
            ),
        }
    )


def propose(
    store: SQLStore,
    base: Policy,
    *,
    target_risk: float,
    delta: float,
    stratum_risk: Mapping[str, float] | None = None,
    seed: int = 0,
    refit: bool = True,
) -> Proposal | Refusal:
    """Refit and certify on every verdict in `store`, starting from `base`.

    With ``refit=False`` nothing is fitted: the base policy's own combination is
    certified on the verdicts, which is what the current policy guarantees on them.
    `stratum_risk` gives named strata targets of their own (`calibrate_policy`); a
    name the policy lacks raises `InputError`.

    Example:
        >>> found = propose(store, demo_policy(), target_risk=0.1, delta=0.05)
        >>> found.figures.threshold if isinstance(found, Proposal) else found.more
    """
    samples = labelled_from_store(store)
    fits: dict[str, Any] = {} if refit else {"combiner": "policy", "calibrator": None}
    try:
        done = calibrate_policy(
            samples,
            base,
            target_risk=target_risk,
            delta=delta,
            stratum_risk=stratum_risk,
            seed=seed,
            **fits,
        )
    except CalibrationError as exc:
        short = exc.needed is not None and exc.needed > exc.have
        more = exc.needed - exc.have if short and exc.needed is not None else None
        return Refusal(message=str(exc), have=exc.have, needed=exc.needed, more=more)
    return _proposal(done, [s.correct for s in samples])


__all__ = [
    "CurrentPolicy",
    "Figures",
    "Proposal",
    "Refusal",
    "StratumGuarantee",
    "propose",
]
