"""Build a guard's parts from a loaded config, through the one registry.

Every component is made by `registry.create` from its `type` and `params`; the
policy by `Policy.from_dict`. Errors are located in the file (`LoadedConfig.error`),
so a bad parameter is reported on the line that wrote it.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from confguard import registry
from confguard._core import GuardCore
from confguard._options import GuardOptions
from confguard.config.load import FieldPath, LoadedConfig
from confguard.config.model import Component, StoreSection
from confguard.exceptions import (
    ConfguardError,
    ConfigurationError,
    PolicyError,
    StoreError,
    UnknownComponentError,
)
from confguard.policy.model import Policy
from confguard.signals.base import FunctionSignal, Signal
from confguard.store.base import AuditStore
from confguard.store.memory import InMemoryStore
from confguard.testing import FakeGenerator

MEMORY_URL = "memory://"
"""The store URL of an `InMemoryStore` (records gone when the process is)."""


@dataclass(frozen=True)
class GuardParts:
    """What `Guard(signals, policy, **options)` is called with.

    A frozen dataclass, not a pydantic model: it holds live components (signals,
    routes, an open store), which have nothing to validate or serialise.
    """

    signals: tuple[Signal, ...]
    policy: Policy
    options: dict[str, Any]
    """The `GuardOptions` the config sets (those it leaves out are not here)."""
    needs: tuple[str, ...] = ()
    """In a dry run: the resources a real build must be given, e.g. ``generator``."""

    def guard_options(self) -> GuardOptions:
        """`options`, typed as the guards' keyword options."""
        options: GuardOptions = {**self.options}  # type: ignore[typeddict-item]
        return options


def build(
    loaded: LoadedConfig, *, dry_run: bool = False, **resources: Any
) -> GuardParts:
    """The guard's parts, every component made and checked.

    `resources` (``generator=``, ``embedder=``, …) reach the factories that take
    them, as in `registry.create`. A `dry_run` (`confguard config validate`) opens
    no store (its URL is checked) and stands in for a signal whose resource was not
    given, listing what it needs in `GuardParts.needs`.

    Example:
        >>> parts = build(load("examples/guard.yaml"), dry_run=True)
        >>> Guard(parts.signals, parts.policy, **parts.guard_options())
    """
    config = loaded.config
    _one_place(loaded, "combiner")
    _one_place(loaded, "calibrator")
    needs: list[str] = []
    resources = with_sampler(loaded, resources)
    signals = _signals(loaded, resources, needs if dry_run else None)
    store = _store(loaded, config.store, open_store=not dry_run)
    options: dict[str, Any] = {
        "store": None if dry_run else store,
        "routes": _routes(loaded, store, resources),
        "on_store_error": config.on_store_error,
        "spool": config.spool,
        "strategies": config.strategies,
    }
    for kind in ("combiner", "calibrator"):
        spec = getattr(config, kind)
        if spec is not None:
            options[kind] = _create(loaded, (kind,), kind, spec, resources)
    options |= _limits(loaded, signals)
    parts = GuardParts(signals, config_policy(loaded), options, tuple(needs))
    _dry_run(loaded, parts)
    return parts


def _one_place(loaded: LoadedConfig, kind: str) -> None:
    if getattr(loaded.config, kind) is not None and kind in loaded.config.policy:
        raise loaded.error(
            (kind,), f"give the {kind} here or as policy.{kind}, not both"
        )


def _signals(
    loaded: LoadedConfig, resources: Mapping[str, Any], needs: list[str] | None
) -> tuple[Signal, ...]:
    built: list[Signal] = []
    for i, spec in enumerate(loaded.config.signals):
        signal = _signal(loaded, i, spec, resources, needs)
        if any(s.name == signal.name for s in built):
            raise loaded.error(
                ("signals", i),
                f"a second signal named {signal.name!r}; give one of them params.name",
            )
        built.append(signal)
    return tuple(built)


RESOURCES = ("generator", "embedder", "sampler", "similarity")
"""Parameters a config cannot write: objects passed to `Guard.from_config`."""


def _signal(
    loaded: LoadedConfig,
    i: int,
    spec: Component,
    resources: Mapping[str, Any],
    needs: list[str] | None,
) -> Signal:
    """Signal `i`; in a dry run (`needs` given) a resource not given is stood in for."""
    where: FieldPath = ("signals", i)
    if needs is None:
        return _create(loaded, where, "signal", spec, resources)  # type: ignore[no-any-return]
    needs.extend(
        f"{m}= (signals[{i}] {spec.type})" for m in _missing_resources(spec, resources)
    )
    # A fake generator makes the real signal, so its name and params are the real
    # ones; a resource nothing can fake leaves a stand-in named as the config says.
    given = with_sampler(loaded, {"generator": FakeGenerator(), **resources})
    if _missing_resources(spec, given):
        return _stand_in(loaded, where, spec)
    return _create(loaded, where, "signal", spec, given)  # type: ignore[no-any-return]


def with_sampler(loaded: LoadedConfig, resources: Mapping[str, Any]) -> dict[str, Any]:
    """`resources`, plus the config's `sampler:` built on their generator.

    A sampler given by the caller wins; without a generator there is nothing to
    sample with, and the signals that need one say so.
    """
    out = dict(resources)
    section = loaded.config.sampler
    if section is None or "sampler" in out or "generator" not in out:
        return out
    from confguard.signals.consistency import GeneratorSampler

    out["sampler"] = GeneratorSampler(
        out["generator"],
        k=section.k,
        temperature=section.temperature,
        seed=section.seed,
        max_tokens=section.max_tokens,
    )
    return out


def _missing_resources(spec: Component, resources: Mapping[str, Any]) -> list[str]:
    try:
        accepted = registry.entry("signal", spec.type).parameters()
    except UnknownComponentError:
        return []  # `_create` reports it, located
    return [
        p.name
        for p in accepted
        if p.required
        and p.name in RESOURCES
        and p.name not in spec.params
        and p.name not in resources
    ]


def _stand_in(loaded: LoadedConfig, where: FieldPath, spec: Component) -> Signal:
    """A signal named as the real one would be, its parameters checked, not built."""
    entry = registry.entry("signal", spec.type)
    _check_params(loaded, where, entry, spec.params, dict.fromkeys(RESOURCES))
    name = spec.params.get("name") or spec.type
    return FunctionSignal(lambda obs: 0.0, name=str(name))


def _create(
    loaded: LoadedConfig,
    where: FieldPath,
    kind: str,
    spec: Component,
    resources: Mapping[str, Any],
) -> Any:
    """`registry.create(kind, spec.type, spec.params)`, its errors located."""
    try:
        entry = registry.entry(kind, spec.type)
    except UnknownComponentError as exc:
        raise loaded.error((*where, "type"), str(exc)) from None
    _check_params(loaded, where, entry, spec.params, resources)
    try:
        return registry.create(kind, spec.type, spec.params, **resources)
    except ConfigurationError as exc:
        raise loaded.error((*where, "params"), _own_words(exc, kind)) from None


def _check_params(
    loaded: LoadedConfig,
    where: FieldPath,
    entry: registry.Entry,
    params: Mapping[str, Any],
    resources: Mapping[str, Any],
) -> None:
    accepted = entry.parameters()
    names = sorted(p.name for p in accepted)
    signature = inspect.signature(entry.load())
    takes_any = any(p.kind is p.VAR_KEYWORD for p in signature.parameters.values())
    for given in params:
        if given not in names and not takes_any:
            listed = ", ".join(names) or "none"
            message = f"unknown parameter of {entry.name!r}; its parameters: {listed}"
            raise loaded.error((*where, "params", given), message)
    for p in accepted:
        if p.required and p.name not in params and p.name not in resources:
            raise loaded.error((*where, "params"), _missing(entry, p.name))


def _missing(entry: registry.Entry, name: str) -> str:
    if name == "store":
        return f"{entry.name!r} needs the audit store: set store.url"
    if name in RESOURCES:
        return (
            f"{entry.name!r} needs a {name}: pass it as "
            f"Guard.from_config(path, {name}=...)"
        )
    return f"{entry.name!r} needs the parameter {name!r}"


def _own_words(exc: ConfigurationError, kind: str) -> str:
    # The registry prefixes "signal 'x': "; the located message names the field.
    text = str(exc)
    head, sep, rest = text.partition(": ")
    return rest if sep and head.startswith(kind) else text


def config_policy(loaded: LoadedConfig) -> Policy:
    """The policy of a loaded config; its errors name the file, line and field."""
    try:
        return Policy.from_dict(dict(loaded.config.policy))
    except PolicyError as exc:
        where = _policy_path(exc.field)
        message = str(exc).removeprefix(f"{exc.field}: ") if exc.field else str(exc)
        raise loaded.error(where, message) from None


def _policy_path(field: str | None) -> FieldPath:
    # The policy names fields dotted (retry.strategies.0) or bracketed (rules[1]).
    parts = re.sub(r"\[(\d+)\]", r".\1", field).split(".") if field else []
    return ("policy", *(int(p) if p.isdigit() else p for p in parts))


def _store(
    loaded: LoadedConfig, section: StoreSection | None, open_store: bool
) -> AuditStore | None:
    if section is None:
        return None
    if section.url == MEMORY_URL:
        return InMemoryStore(store_answers=section.store_answers)
    _check_url(loaded, section.url)
    if not open_store:
        return InMemoryStore()  # a stand-in, so routes that take the store build
    from confguard.store.sql import SQLStore  # SQLAlchemy loads only when wanted

    try:
        return SQLStore(
            section.url,
            store_answers=section.store_answers,
            connect_timeout=section.connect_timeout,
            statement_timeout=section.statement_timeout,
            pool_timeout=section.pool_timeout,
            busy_timeout=section.busy_timeout,
        )
    except StoreError as exc:
        raise loaded.error(("store", "url"), str(exc)) from None


def _check_url(loaded: LoadedConfig, url: str) -> None:
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError

    try:
        parsed = make_url(url)
    except ArgumentError:
        raise loaded.error(
            ("store", "url"),
            "not a database URL; e.g. sqlite:///audit.sqlite, "
            f"postgresql+psycopg://user@host/db or {MEMORY_URL}",
        ) from None
    try:
        parsed.get_dialect()
    except NoSuchModuleError:
        raise loaded.error(
            ("store", "url"),
            f"unknown database {parsed.drivername!r}; use sqlite, "
            f"postgresql+psycopg or {MEMORY_URL}",
        ) from None


def _routes(
    loaded: LoadedConfig, store: AuditStore | None, resources: Mapping[str, Any]
) -> dict[str, Any]:
    given = dict(resources)
    if store is not None:
        given.setdefault("store", store)
    return {
        name: _create(loaded, ("routes", name), "route", spec, given)
        for name, spec in loaded.config.routes.items()
    }


def _limits(loaded: LoadedConfig, signals: tuple[Signal, ...]) -> dict[str, Any]:
    config, options = loaded.config, {}
    if "signal_timeout" in config.model_fields_set:  # left out: each signal's own
        timeouts = config.signal_timeout
        known = [s.name for s in signals]
        for name in timeouts if isinstance(timeouts, dict) else ():
            if name not in known:
                error = UnknownComponentError("signal", name, known)
                raise loaded.error(("signal_timeout", name), str(error))
        options["signal_timeout"] = timeouts
    if config.max_workers is not None:
        options["max_workers"] = config.max_workers
    return options


def _dry_run(loaded: LoadedConfig, parts: GuardParts) -> None:
    """Build the pure core once, so whatever it refuses is refused now, located."""
    try:
        GuardCore(parts.signals, parts.policy, **parts.guard_options())
    except UnknownComponentError as exc:  # the policy names what the config lacks
        raise loaded.error(_named(loaded, exc), str(exc)) from None
    except ConfguardError as exc:
        raise loaded.error((), str(exc)) from None


def _named(loaded: LoadedConfig, exc: UnknownComponentError) -> FieldPath:
    """Where the policy names the unknown signal, route or strategy."""
    if exc.kind == "route":
        return ("policy", "escalate", "route")
    if "weights" in exc.kind:
        return ("policy", "weights", exc.name)
    return _leaf(loaded.config.policy, exc.name, ("policy",)) or ("policy",)


def _leaf(data: Any, value: str, at: FieldPath) -> FieldPath | None:
    # The first place the policy mapping holds `value` (rules, strategies, ...).
    if data == value:
        return at
    if not isinstance(data, dict | list):
        return None
    items = data.items() if isinstance(data, dict) else enumerate(data)
    for key, item in items:
        found = _leaf(item, value, (*at, key))
        if found is not None:
            return found
    return None


__all__ = ["MEMORY_URL", "GuardParts", "build", "config_policy"]
