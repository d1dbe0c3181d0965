"""The resolved view of a config: every default filled in, every secret masked.

This is what `confguard config show` prints: registry names with all the parameters
their factories take (given or default), the whole policy as `Policy` fills it in,
and the guard options. Values read from the environment print as ``***``, and a
store URL's password is masked as the store itself masks it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from confguard import registry
from confguard.config.build import MEMORY_URL
from confguard.config.load import FieldPath, LoadedConfig
from confguard.config.model import Component, GuardConfig
from confguard.llm.workers import DEFAULT_MAX_WORKERS
from confguard.policy.model import Policy

MASK = "***"
"""What a secret prints as."""


def resolved(loaded: LoadedConfig) -> dict[str, Any]:
    """The config with defaults filled in and secrets masked, as plain data.

    Example:
        >>> resolved(load("examples/guard.yaml"))["signals"][0]
        {'type': 'min_token_prob', 'params': {'name': None}}
    """
    config = loaded.config
    view: dict[str, Any] = {
        "signals": [_component("signal", s) for s in config.signals],
        "combiner": _optional("combiner", config.combiner),
        "calibrator": _optional("calibrator", config.calibrator),
        "policy": _policy(config),
        "routes": {n: _component("route", r) for n, r in config.routes.items()},
        "store": _store(config),
        **_options(config),
    }
    masked: dict[str, Any] = _masked(view, (), loaded.secrets)
    return masked


def _policy(config: GuardConfig) -> dict[str, Any]:
    view = Policy.from_dict(dict(config.policy)).model_dump(mode="json")
    for kind in ("combiner", "calibrator"):
        if getattr(config, kind) is not None:  # the top-level one is used instead
            view[kind] = f"(the {kind} above)"
    return view


def _component(kind: str, spec: Component) -> dict[str, Any]:
    params = {
        p.name: _plain(spec.params[p.name]) if p.name in spec.params else _default(p)
        for p in registry.entry(kind, spec.type).parameters()
    }
    extra = {k: _plain(v) for k, v in spec.params.items() if k not in params}
    return {"type": spec.type, "params": params | extra}


def _optional(kind: str, spec: Component | None) -> dict[str, Any] | str:
    return _component(kind, spec) if spec is not None else "(the policy's)"


def _default(p: registry.Parameter) -> Any:
    if not p.required:
        return _plain(p.default)
    return "<the audit store>" if p.name == "store" else f"<{p.name}: given in code>"


def _plain(value: Any) -> Any:
    """`value` if YAML can print it plainly, else its type's name in brackets."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    return f"<{type(value).__name__}>"


def _store(config: GuardConfig) -> dict[str, Any] | None:
    if config.store is None:
        return None
    view = config.store.model_dump()
    if config.store.url != MEMORY_URL:
        from confguard.store.engine import masked  # SQLAlchemy only when wanted

        view["url"] = masked(config.store.url)
    return view


def _options(config: GuardConfig) -> dict[str, Any]:
    timeout: object = config.signal_timeout
    if "signal_timeout" not in config.model_fields_set:
        timeout = "(each signal's own)"
    return {
        "signal_timeout": timeout,
        "max_workers": config.max_workers or DEFAULT_MAX_WORKERS,
        "on_store_error": config.on_store_error,
        "spool": config.spool or "(the store's own)",
        "strategies": list(config.strategies),
    }


def _masked(value: Any, at: FieldPath, secrets: frozenset[FieldPath]) -> Any:
    if at in secrets:
        return MASK
    if isinstance(value, dict):
        return {k: _masked(v, (*at, k), secrets) for k, v in value.items()}
    if isinstance(value, list):
        return [_masked(v, (*at, i), secrets) for i, v in enumerate(value)]
    return value


__all__ = ["MASK", "resolved"]
