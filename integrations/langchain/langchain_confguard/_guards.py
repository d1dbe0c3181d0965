"""The sync and async shells of one guard, so any guard serves invoke and ainvoke."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from confguard.exceptions import ConfigurationError, ObservationError
from confguard.guard import AsyncGuard, Guard
from confguard.observation import Observation
from confguard.results import Attempt, GuardResult

Step = Callable[[Attempt], Observation]
AsyncStep = Callable[[Attempt], Awaitable[Observation]]


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


def run_guarded(guard: Guard | AsyncGuard, question: str, step: Step) -> GuardResult:
    """Run `step` once per attempt under the guard's policy.

    What the step raised is raised as it is, not as the guard's ObservationError,
    so a wrapped Runnable's own errors reach the caller unchanged.

    Example:
        >>> run_guarded(guard, "Who won?", lambda attempt: observe(attempt))
    """
    try:
        return sync_guard(guard).run(lambda q, attempt: step(attempt), question)
    except ObservationError as exc:
        failure = _unwrapped(exc)
    raise failure


async def arun_guarded(
    guard: Guard | AsyncGuard, question: str, step: AsyncStep
) -> GuardResult:
    """Async twin of `run_guarded`."""

    async def pipeline(question: str, attempt: Attempt) -> Observation:
        """One attempt, as the guard's async pipeline."""
        return await step(attempt)

    try:
        return await async_guard(guard).arun(pipeline, question)
    except ObservationError as exc:
        failure = _unwrapped(exc)
    raise failure


def _unwrapped(exc: ObservationError) -> Exception:
    # The guard wraps a pipeline's exception in ObservationError `from` it.
    cause = exc.__cause__
    return cause if isinstance(cause, Exception) else exc


__all__ = [
    "arun_guarded",
    "async_guard",
    "checked_guard",
    "run_guarded",
    "sync_guard",
]
