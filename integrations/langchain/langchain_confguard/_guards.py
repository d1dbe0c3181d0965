"""The sync and async shells of one guard, so any guard serves invoke and ainvoke."""

from __future__ import annotations

from typing import TypeVar

from confguard.exceptions import ConfigurationError
from confguard.guard import AsyncGuard, Guard

S = TypeVar("S", Guard, AsyncGuard)


def _twin(guard: Guard | AsyncGuard, shell: type[S]) -> S:
    # Guard and AsyncGuard are stateless shells built by one shared __init__ over
    # one GuardCore (confguard/guard.py); the twin shares that configuration (no
    # per-call state lives there). A public Guard <-> AsyncGuard accessor in
    # confguard would make this copy unnecessary.
    twin = shell.__new__(shell)
    twin.__dict__.update(vars(guard))
    return twin


def sync_guard(guard: Guard | AsyncGuard) -> Guard:
    """`guard` itself, or a Guard sharing the AsyncGuard's configuration.

    Example:
        >>> sync_guard(AsyncGuard(signals, policy)).policy == policy
        True
    """
    return guard if isinstance(guard, Guard) else _twin(guard, Guard)


def async_guard(guard: Guard | AsyncGuard) -> AsyncGuard:
    """`guard` itself, or an AsyncGuard sharing the Guard's configuration."""
    return guard if isinstance(guard, AsyncGuard) else _twin(guard, AsyncGuard)


def checked_guard(guard: object) -> Guard | AsyncGuard:
    """`guard` if it is a Guard or AsyncGuard, else a ConfigurationError."""
    if isinstance(guard, Guard | AsyncGuard):
        return guard
    raise ConfigurationError(
        f"guard must be a confguard Guard or AsyncGuard, got {type(guard).__name__}"
    )


__all__ = ["async_guard", "checked_guard", "sync_guard"]
