"""The Pipeline protocol and how it is called: `(question, attempt)` or `(question)`.

Sync or async; whatever it returns must be an `Observation`.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable
from typing import Any

from confguard.exceptions import ObservationError
from confguard.observation import Observation
from confguard.results import Attempt

Pipeline = (
    Callable[[str, Attempt], Observation | Awaitable[Observation]]
    | Callable[[str], Observation | Awaitable[Observation]]
)
"""A chain, query engine or agent: returns the Observation of one attempt."""


def wants_attempt(fn: Callable[..., Any]) -> bool:
    """True when `fn` takes a second positional argument (the Attempt)."""
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):  # builtins without a signature
        return True
    kinds = [p.kind for p in params]
    positional = (
        inspect.Parameter.POSITIONAL_ONLY,
        inspect.Parameter.POSITIONAL_OR_KEYWORD,
    )
    if inspect.Parameter.VAR_POSITIONAL in kinds:
        return True
    return sum(kind in positional for kind in kinds) >= 2


def as_observation(value: object, what: str = "pipeline returned") -> Observation:
    """`value` if it is an Observation, else an ObservationError naming its type."""
    if isinstance(value, Observation):
        return value
    raise ObservationError(
        f"{what} {type(value).__name__}, expected confguard.Observation "
        "(build one with Observation(question=..., answer=...))"
    )


def call_pipeline(pipeline: Pipeline, question: str, attempt: Attempt) -> Observation:
    """Run one attempt of a sync pipeline; failures become ObservationError."""
    try:
        value = _invoke(pipeline, question, attempt)
    except Exception as exc:
        raise _raised(exc) from exc
    if inspect.isawaitable(value):
        _close(value)
        raise ObservationError(
            "pipeline returned an awaitable; use AsyncGuard for async pipelines"
        )
    return as_observation(value)


async def acall_pipeline(pipeline: Any, question: str, attempt: Attempt) -> Observation:
    """Run one attempt: coroutine functions awaited, sync ones in a worker thread.

    An object with an async `acall(question, attempt)` method is called through it.
    """
    target = getattr(pipeline, "acall", None) or pipeline
    try:
        if inspect.iscoroutinefunction(target):
            value = await _invoke(target, question, attempt)
        else:
            value = await asyncio.to_thread(_invoke, target, question, attempt)
        if inspect.isawaitable(value):  # e.g. a callable object with async __call__
            value = await value
    except Exception as exc:
        raise _raised(exc) from exc
    return as_observation(value)


def _invoke(fn: Callable[..., Any], question: str, attempt: Attempt) -> Any:
    return fn(question, attempt) if wants_attempt(fn) else fn(question)


def _raised(exc: Exception) -> ObservationError:
    return ObservationError(f"pipeline raised {type(exc).__name__}: {exc}")


def _close(value: object) -> None:
    close = getattr(value, "close", None)
    if callable(close):  # silence "coroutine was never awaited"
        close()


__all__ = ["Pipeline", "acall_pipeline", "as_observation", "call_pipeline"]
