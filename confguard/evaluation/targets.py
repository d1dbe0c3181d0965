"""Each group of requests' target risk: one for all, or a named stratum's own.

Kinds of request err at different rates, so one target is too loose for the easy
kind or out of reach for the hard one: `confguard calibrate --stratum-risk
retrieved=0.45` (and the console's "Strata's own targets") gives a named stratum a
target of its own, and `group_targets` lays them out in the order
`confguard.evaluation.groups.grouped` numbers the groups.
"""

from __future__ import annotations

from collections.abc import Mapping

from confguard.exceptions import InputError
from confguard.policy import Policy


def parse_targets(text: str) -> dict[str, float]:
    """Per-stratum target risks written "name=risk", comma-separated ("": none).

    Example:
        >>> parse_targets("retrieved=0.5, conflict=0.3")
        {'retrieved': 0.5, 'conflict': 0.3}
    """
    found: dict[str, float] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, eq, value = (v.strip() for v in part.partition("="))
        if not eq or not name:
            raise InputError(f"expected a stratum's target as name=risk, got {part!r}")
        try:
            risk = float(value)
        except ValueError:
            raise InputError(
                f"stratum {name!r}: expected a target risk, got {value!r}"
            ) from None
        if name in found:
            raise InputError(f"stratum {name!r} is given a target twice")
        found[name] = risk
    return found


def group_targets(
    policy: Policy, target_risk: float, stratum_risk: Mapping[str, float] | None = None
) -> tuple[float, ...]:
    """Each group's target risk, in `grouped` order (the strata, then OWN): a named
    stratum's from `stratum_risk`, every other group's `target_risk`.

    Example:
        >>> group_targets(preset_policy("fast"), 0.6, {"retrieved": 0.5})
        (0.5, 0.6)
    """
    given = dict(stratum_risk or {})
    named = [s.name for s in policy.strata if s.name]
    unknown = [name for name in given if name not in named]
    if unknown:
        listed = ", ".join(map(repr, named)) or (
            "none (only a stratum with a name can be given a target of its own)"
        )
        raise InputError(
            f"the policy has no stratum named {', '.join(map(repr, unknown))}; "
            f"its named strata: {listed}"
        )
    for name, risk in {"": target_risk, **given}.items():
        if not 0.0 < risk < 1.0:
            whose = f"stratum {name!r}'s target risk" if name else "target risk"
            raise InputError(f"{whose} must be in (0, 1), got {risk:g}")
    return (*(given.get(s.name or "", target_risk) for s in policy.strata), target_risk)


__all__ = ["group_targets", "parse_targets"]
