"""Routes to a function, to another pipeline, or to the store's human review queue."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable
from typing import Any

from confguard.exceptions import EscalationError
from confguard.observation import Observation
from confguard.routes.base import (
    BaseRoute,
    EscalationRequest,
    RouteOutcome,
    failures_named,
)
from confguard.routes.pipeline import Pipeline, acall_pipeline, call_pipeline
from confguard.store.base import AuditStore, ReviewRequest


class CallableRoute(BaseRoute):
    """Calls `fn(request) -> str | Observation | None` (a coroutine function in async).

    Example:
        >>> route = CallableRoute(lambda req: f"(escalated) {req.question}")
    """

    def __init__(self, fn: Callable[[EscalationRequest], Any]) -> None:
        self.fn = fn

    def escalate(self, request: EscalationRequest) -> RouteOutcome:
        """Call the function and wrap its reply."""
        value = self._call(request)
        if inspect.isawaitable(value):
            getattr(value, "close", lambda: None)()
            raise EscalationError(
                request.route, "the function is async; use AsyncGuard (aescalate)"
            )
        return _reply(request.route, value)

    async def aescalate(self, request: EscalationRequest) -> RouteOutcome:
        """Async twin: coroutine functions are awaited, others run in a thread."""
        if inspect.iscoroutinefunction(self.fn):
            value = self._call(request)
        else:
            value = await asyncio.to_thread(self._call, request)
        if inspect.isawaitable(value):
            with failures_named(request.route):
                value = await value
        return _reply(request.route, value)

    def _call(self, request: EscalationRequest) -> Any:
        with failures_named(request.route):
            return self.fn(request)


def _reply(route: str, value: object) -> RouteOutcome:
    if value is None:
        return RouteOutcome()
    if isinstance(value, str):
        return RouteOutcome(answer=value)
    if isinstance(value, Observation):
        return RouteOutcome(observation=value)
    raise EscalationError(
        route, f"returned {type(value).__name__}; expected str, Observation or None"
    )


class PipelineRoute(BaseRoute):
    """Runs another pipeline (e.g. a stronger model); the guard checks its answer.

    The escalated attempt gets its own decision; it cannot escalate again.

    Example:
        >>> route = PipelineRoute(strong_pipeline)  # (question, attempt) -> Observation
    """

    def __init__(self, pipeline: Pipeline) -> None:
        self.pipeline = pipeline

    def escalate(self, request: EscalationRequest) -> RouteOutcome:
        """Run the pipeline on the question."""
        with failures_named(request.route):
            obs = call_pipeline(self.pipeline, request.question, request.attempt)
        return RouteOutcome(observation=obs)

    async def aescalate(self, request: EscalationRequest) -> RouteOutcome:
        """Async twin of `escalate`."""
        with failures_named(request.route):
            obs = await acall_pipeline(self.pipeline, request.question, request.attempt)
        return RouteOutcome(observation=obs)


class ReviewQueueRoute(BaseRoute):
    """Puts the case in the store's review queue; the user gets the pending message.

    Example:
        >>> routes = {"review": ReviewQueueRoute(store)}
        >>> guard = Guard(signals, policy, store=store, routes=routes)
    """

    def __init__(self, store: AuditStore) -> None:
        self.store = store

    def escalate(self, request: EscalationRequest) -> RouteOutcome:
        """Enqueue the case for review."""
        with failures_named(request.route):
            review_id = self.store.enqueue_review(_review(request))
        return RouteOutcome(review_id=review_id)

    async def aescalate(self, request: EscalationRequest) -> RouteOutcome:
        """Async twin of `escalate` (the store's own async write)."""
        with failures_named(request.route):
            review_id = await self.store.aenqueue_review(_review(request))
        return RouteOutcome(review_id=review_id)


def _review(request: EscalationRequest) -> ReviewRequest:
    return ReviewRequest.model_validate(request.case())


__all__ = ["CallableRoute", "PipelineRoute", "ReviewQueueRoute"]
