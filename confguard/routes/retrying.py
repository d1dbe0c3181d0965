"""`retries: int | tenacity.Retrying` (as instructor accepts it) made a controller.

An int is the number of attempts in all (tenacity's ``stop_after_attempt``). A
Retrying object keeps its stop, wait and callbacks; confguard sets what to retry on.
Both the guard (retrying an attempt) and the webhook route (retrying a POST) build
their controllers from a `RetryRule`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from tenacity import BaseRetrying, RetryCallState, stop_after_attempt
from tenacity.retry import retry_base

from confguard.exceptions import ConfigurationError

Retries = int | BaseRetrying
"""Attempts in all, or a tenacity Retrying / AsyncRetrying giving stop and wait."""

R = TypeVar("R", bound=BaseRetrying)
Wait = Callable[[RetryCallState], float]

_TEMPLATE = ("stop", "wait", "before", "after", "before_sleep")
"""What a user's Retrying contributes when it is rebuilt as the other kind."""


@dataclass(frozen=True)
class RetryRule:
    """What to retry on, the wait when `retries` is an int, and tenacity options.

    Example:
        >>> rule = RetryRule(retry_if_result(bool), wait=lambda state: 0.0)
        >>> rule.build(3, Retrying).stop.max_attempt_number
        3
    """

    retry: retry_base
    wait: Wait
    options: Mapping[str, Any] = field(default_factory=dict)

    def build(self, retries: Retries, cls: type[R]) -> R:
        """A fresh `cls` controller (tenacity keeps statistics on it)."""
        options: dict[str, Any] = {"retry": self.retry, **self.options}
        retries = checked(retries)
        if isinstance(retries, cls):
            return retries.copy(**options)
        if isinstance(retries, BaseRetrying):  # sync template for async use, or back
            template = {name: getattr(retries, name) for name in _TEMPLATE}
            return cls(**template, **options)
        return cls(stop=stop_after_attempt(retries), wait=self.wait, **options)


def checked(retries: object) -> Retries:
    """`retries` if an int >= 1 or a tenacity Retrying; else ConfigurationError."""
    if isinstance(retries, BaseRetrying):
        return retries
    if isinstance(retries, bool) or not isinstance(retries, int) or retries < 1:
        raise ConfigurationError(
            f"retries must be an int >= 1 or a tenacity Retrying, got {retries!r}"
        )
    return retries


__all__ = ["Retries", "RetryRule", "checked"]
