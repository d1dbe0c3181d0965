"""`retries: int | tenacity.Retrying` (as instructor accepts it) made a controller.

An int is the number of attempts in all (tenacity's ``stop_after_attempt``). A
Retrying object keeps its stop, wait and callbacks; confguard sets what to retry on.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from tenacity import BaseRetrying, RetryCallState, stop_after_attempt
from tenacity.retry import retry_base

from confguard.exceptions import ConfigurationError

Retries = int | BaseRetrying
"""Attempts in all, or a tenacity Retrying / AsyncRetrying giving stop and wait."""

R = TypeVar("R", bound=BaseRetrying)
Wait = Callable[[RetryCallState], float]


def build_retrying(
    retries: Retries,
    cls: type[R],
    *,
    retry: retry_base,
    wait: Wait,
    **extra: Any,
) -> R:
    """A fresh `cls` controller: `retry` always; stop and wait from `retries` if given.

    Example:
        >>> no_wait = lambda state: 0.0
        >>> r = build_retrying(3, Retrying, retry=retry_if_result(bool), wait=no_wait)
        >>> r.stop.max_attempt_number
        3
    """
    options: dict[str, Any] = {"retry": retry, **extra}
    if isinstance(retries, cls):
        return retries.copy(**options)
    if isinstance(retries, BaseRetrying):  # sync template for async use, or back
        return cls(
            stop=retries.stop,
            wait=retries.wait,
            before=retries.before,
            after=retries.after,
            before_sleep=retries.before_sleep,
            **options,
        )
    if isinstance(retries, bool) or not isinstance(retries, int) or retries < 1:
        raise ConfigurationError(
            f"retries must be an int >= 1 or a tenacity Retrying, got {retries!r}"
        )
    return cls(stop=stop_after_attempt(retries), wait=wait, **options)


__all__ = ["Retries", "build_retrying"]
