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


def _listed(value: object) -> object:
    # Strict mode takes only a tuple for a tuple field; YAML gives lists.
    return tuple(value) if isinstance(value, list) else value


class SelectorSection(_Section):
    """Confident RAG's fitted selector (`confguard.rag.selection.FittedSelector`)."""

    weights: dict[StrictStr, float] = Field(min_length=1)
    intercept: float = 0.0
    means: dict[StrictStr, float] = Field(default_factory=dict)
    scales: dict[StrictStr, float] = Field(default_factory=dict)


class PipelineSection(_Section):
    """How a preset answers: one retrieval, or Confident RAG over several embedders.

    Read by `confguard.presets` (and `confguard demo` / `confguard eval`), not by
    the guard: a guard scores whatever answer it is given.
    """

    retrieval: Literal["single", "confident_rag"] = "single"
    embedders: tuple[StrictStr, ...] = Field(default=("minilm",), min_length=1)
    """Registry `embedder` names; `single` uses the first."""
    top_k: StrictInt = Field(default=1, ge=1)
    selector: SelectorSection | None = None
    """Confident RAG's selector; left out, the most confident candidate wins."""

    @field_validator("embedders", mode="before")
    @classmethod
    def _as_tuple(cls, value: object) -> object:
        return _listed(value)


class SamplerSection(_Section):
    """The sampler the consistency signals draw with (`GeneratorSampler`).

    Built from the `generator` given to `Guard.from_config`; one seeded draw is
    shared by every signal that reads it.
    """

    k: StrictInt = Field(default=5, ge=1)
    temperature: float = Field(default=0.7, gt=0.0)
    seed: StrictInt | None = 0
    max_tokens: StrictInt = Field(default=24, ge=1)


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
    pipeline: PipelineSection | None = None
    """How answers are made (presets, `confguard demo`); the guard ignores it."""
    sampler: SamplerSection | None = None
    """The consistency signals' shared sampler, built from the `generator`."""

    @field_validator("signals", mode="before")
    @classmethod
    def _signal_names(cls, value: object) -> object:
        if isinstance(value, list | tuple):
            return tuple(_shorthand(item) for item in value)
        return value

    @field_validator("strategies", mode="before")
    @classmethod
    def _as_tuple(cls, value: object) -> object:
        return _listed(value)

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

__all__ = [
    "FIELDS",
    "Component",
    "GuardConfig",
    "PipelineSection",
    "SamplerSection",
    "SelectorSection",
    "StoreSection",
]
