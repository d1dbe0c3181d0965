"""The sync and async shells of one guard, so any guard serves invoke and ainvoke."""

from __future__ import annotations

from confguard.exceptions import ConfigurationError
from confguard.guard import AsyncGuard, Guard


def sync_guard(guard: Guard | AsyncGuard) -> Guard:
    """`guard` itself, or a Guard sharing the AsyncGuard's configuration.

    Example:
        >>> sync_guard(AsyncGuard(signals, policy)).policy == policy
        True
    """
    return guard if isinstance(guard, Guard) else guard.as_sync()


def async_guard(guard: Guard | AsyncGuard) -> AsyncGuard:
    """`guard` itself, or an AsyncGuard sharing the Guard's configuration."""
    return guard if isinstance(guard, AsyncGuard) else guard.as_async()


def checked_guard(guard: object) -> Guard | AsyncGuard:
    """`guard` if it is a Guard or AsyncGuard, else a ConfigurationError."""
    if isinstance(guard, Guard | AsyncGuard):
        return guard
    raise ConfigurationError(
        f"guard must be a confguard Guard or AsyncGuard, got {type(guard).__name__}"
    )


__all__ = ["async_guard", "checked_guard", "sync_guard"]
