"""The shape of a guard config file, as frozen pydantic models.

Only the config's own fields are checked here. The `policy:` section is kept as a
mapping and handed whole to `Policy.from_dict`, and each component's `params` to its
registry factory, so neither is parsed twice (or differently) in this module.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StrictStr,
    field_validator,
)


class _Section(BaseModel):
    """A config section: immutable, strict, and no field it does not know."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)


def _shorthand(value: object) -> object:
    # `- min_token_prob` is short for `- {type: min_token_prob}`.
    return {"type": value} if isinstance(value, str) else value


class Component(_Section):
    """One registry entry to build: its registered name and its parameters."""

    type: StrictStr
    """The name the registry knows it by (`confguard.registry.names(kind)`)."""
    params: dict[StrictStr, Any] = Field(default_factory=dict)
    """Keyword arguments of its factory; checked by the factory itself."""


class StoreSection(_Section):
    """The audit store: a database URL and the options `SQLStore` takes."""

    url: StrictStr
    """``sqlite:///audit.sqlite``, ``postgresql+psycopg://…`` or ``memory://``."""
    store_answers: StrictBool = False
    connect_timeout: float | None = 5.0
    statement_timeout: float | None = 5.0
    pool_timeout: float | None = 5.0
    busy_timeout: float = 5.0


class GuardConfig(_Section):
    """A whole guard config file: what `Guard.from_config` builds a guard from.

    Example:
        >>> GuardConfig.model_validate({"signals": ["min_token_prob"]}).signals[0].type
        'min_token_prob'
    """

    signals: tuple[Component, ...] = Field(min_length=1)
    combiner: Component | None = None
    """Overrides the policy's combiner (give it in one place only)."""
    calibrator: Component | None = None
    """Overrides the policy's calibrator."""
    policy: dict[StrictStr, Any] = Field(default_factory=dict)
    """The policy, exactly as a policy YAML file has it (`Policy.from_dict`)."""
    routes: dict[StrictStr, Component] = Field(default_factory=dict)
    store: StoreSection | None = None
    signal_timeout: float | dict[StrictStr, float | None] | None = None
    """Seconds a signal may take, or by signal name; left out: each its own."""
    max_workers: StrictInt | None = Field(default=None, ge=1)
    on_store_error: Literal["spool", "raise"] = "spool"
    spool: StrictStr | None = None
    strategies: tuple[StrictStr, ...] = ()
    """Retry strategy names the pipeline understands beyond the built-in ones."""

    @field_validator("signals", mode="before")
    @classmethod
    def _signal_names(cls, value: object) -> object:
        if isinstance(value, list | tuple):
            return tuple(_shorthand(item) for item in value)
        return value

    @field_validator("strategies", mode="before")
    @classmethod
    def _as_tuple(cls, value: object) -> object:
        # Strict mode takes only a tuple for a tuple field; YAML gives lists.
        return tuple(value) if isinstance(value, list) else value

    @field_validator("signal_timeout", mode="before")
    @classmethod
    def _timeout_numbers(cls, value: object) -> object:
        # Checked here so that an error names the signal, not a branch of the union.
        items = value.items() if isinstance(value, dict) else [(None, value)]
        for name, seconds in items:
            if seconds is not None and not _number(seconds):
                where = f" of {name!r}" if name is not None else ""
                raise ValueError(f"the timeout{where} must be seconds, got {seconds!r}")
        return value

    @field_validator("combiner", "calibrator", mode="before")
    @classmethod
    def _component_name(cls, value: object) -> object:
        return _shorthand(value)


def _number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


FIELDS: tuple[str, ...] = tuple(GuardConfig.model_fields)
"""The top-level keys a config file may have."""

__all__ = ["FIELDS", "Component", "GuardConfig", "StoreSection"]
