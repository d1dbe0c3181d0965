"""Strata: thresholds, and their guarantee, for the requests a condition picks out.

One accept threshold must hold its certified risk on every kind of request it sees;
when kinds differ (questions answered from retrieved passages, and ones answered
from supplied context that may contradict the model), the hardest kind sets it for
all. A stratum gives the requests its condition picks out their own thresholds and
their own `risk_control`: the first stratum whose condition holds bands the
confidence, and requests no stratum picks use the policy's own thresholds.

YAML (a `policy:` section):

    strata:
    - name: retrieved
      when: {signal: retrieval, status: ok}
      thresholds: {accept: 0.53, annotate: 0.38}
      risk_control: {...}          # optional: as `confguard calibrate` writes it

Conditions are the rules' conditions (`confguard.policy.conditions`); an unknown
outcome (a signal not reported) counts as false in `decide`, and keeps the cascade
from skipping anything until the signal has run.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from confguard.exceptions import PolicyError
from confguard.policy.conditions import Condition, Results
from confguard.policy.rules import (
    _error,
    _known,
    _mapping,
    _text,
    parse_condition,
    unique_names,
)
from confguard.scoring.thresholds import RiskControl

if TYPE_CHECKING:
    from confguard.policy.model import Thresholds

STRATUM_FIELDS = ("name", "when", "thresholds", "risk_control")


@dataclass(frozen=True)
class Stratum:
    """The thresholds in force when `when` holds (built by `Policy`, from YAML or
    ``Stratum(when=signal("retrieval").ok, thresholds=Thresholds(accept=0.5))``)."""

    when: Condition
    thresholds: Thresholds
    name: str | None = None
    """Named in the decision's reason (else the condition's rendering)."""
    risk_control: RiskControl | None = None
    """The guarantee behind this stratum's accept threshold, when certified."""

    @property
    def label(self) -> str:
        """How a decision's reason names the stratum."""
        return repr(self.name) if self.name else self.when.render()

    def to_data(self) -> dict[str, Any]:
        """The plain-data (YAML) form the policy reads back."""
        data: dict[str, Any] = {} if self.name is None else {"name": self.name}
        data["when"] = self.when.to_data()
        data["thresholds"] = self.thresholds.model_dump(
            mode="json", exclude_defaults=True
        )
        if self.risk_control is not None:
            data["risk_control"] = self.risk_control.model_dump(mode="json")
        return data


def stratum_for(strata: Sequence[Stratum], results: Results) -> Stratum | None:
    """The first stratum whose condition holds on the final results (None: none
    does, and the policy's own thresholds apply)."""
    for stratum in strata:
        if stratum.when.holds(results):
            return stratum
    return None


def settled_stratum(
    strata: Sequence[Stratum], results: Results
) -> tuple[bool, Stratum | None]:
    """(settled, stratum) on partial results: not settled while a condition before
    the first that holds depends on a signal still to run."""
    for stratum in strata:
        holds = stratum.when.holds(results)
        if holds is None:
            return False, None
        if holds:
            return True, stratum
    return True, None


def parse_strata(value: object, path: str = "strata") -> tuple[Stratum, ...]:
    """A list of strata (mappings or `Stratum`s), each checked, names unique."""
    if not isinstance(value, list | tuple):
        raise _error(path, f"expected a list of strata, got {type(value).__name__}")
    strata = tuple(parse_stratum(item, f"{path}[{i}]") for i, item in enumerate(value))
    unique_names([stratum.name for stratum in strata], path)
    return strata


def parse_stratum(value: object, path: str) -> Stratum:
    """One stratum from its mapping; its accept threshold must lie in the range its
    risk_control certified, as the policy's own must."""
    # Imported here: the policy model imports this module for its `strata` field.
    from confguard.policy.model import Thresholds, check_certified, error_text

    data = _mapping(value.to_data() if isinstance(value, Stratum) else value, path)
    _known(data, STRATUM_FIELDS, path)
    for key in ("when", "thresholds"):
        if key not in data:
            raise _error(f"{path}.{key}", "required")
    thresholds = Thresholds.model_validate(
        data["thresholds"], context={"section": f"{path}.thresholds"}
    )
    if not thresholds.set_bands():
        raise _error(f"{path}.thresholds", "set at least one threshold")
    control = _risk_control(
        data.get("risk_control"), f"{path}.risk_control", error_text
    )
    check_certified(control, thresholds.accept, f"{path}.thresholds.accept")
    return Stratum(
        when=parse_condition(data["when"], f"{path}.when"),
        thresholds=thresholds,
        name=_text(data, "name", path),
        risk_control=control,
    )


def _risk_control(
    value: object, path: str, describe: Callable[[Any], str]
) -> RiskControl | None:
    if value is None or isinstance(value, RiskControl):
        return value
    try:
        return RiskControl.model_validate(_mapping(value, path))
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join([path, *map(str, first["loc"])])
        raise PolicyError(f"{field}: {describe(first)}", field=field) from None


def strata_data(strata: tuple[Stratum, ...]) -> list[dict[str, Any]]:
    """Every stratum's plain-data form."""
    return [stratum.to_data() for stratum in strata]


__all__ = [
    "STRATUM_FIELDS",
    "Stratum",
    "parse_strata",
    "parse_stratum",
    "settled_stratum",
    "strata_data",
    "stratum_for",
]
