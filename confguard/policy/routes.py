"""Escalation routes: where a case goes when the policy escalates.

Each route has `escalate(request)` and its async twin `aescalate(request)`, and returns
a `RouteOutcome`: an answer, an Observation for the guard to check in its turn, a
review id, or nothing (the user then gets the policy's pending message). A route that
fails raises `EscalationError`; the guard records the decision before calling it.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict
from tenacity import AsyncRetrying, Retrying, retry_if_exception, wait_exponential

from confguard.exceptions import EscalationError, ObservationError
from confguard.observation import Observation
from confguard.policy.pipeline import Pipeline, acall_pipeline, call_pipeline
from confguard.policy.retrying import Retries, build_retrying
from confguard.results import Attempt, SignalResult
from confguard.store.base import AuditStore, ReviewRequest

if TYPE_CHECKING:
    import httpx


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class EscalationRequest(_Frozen):
    """The case handed to a route: what was asked, answered, measured and why."""

    request_id: str
    route: str
    question: str
    answer: str
    confidence: float | None
    reason: str
    signals: tuple[SignalResult, ...] = ()
    attempt: Attempt
    """The attempt a route's own pipeline runs as (next number, this route)."""
    observation: Observation

    def payload(self) -> dict[str, Any]:
        """The JSON-safe case a webhook receives."""
        fields = {"request_id", "route", "question", "answer", "confidence", "reason"}
        body = self.model_dump(mode="json", include=fields)
        body["signals"] = [_signal(s) for s in self.signals]
        return body


def _signal(result: SignalResult) -> dict[str, Any]:
    keep = {"name", "status", "confidence", "reason"}
    return result.model_dump(mode="json", include=keep)


class RouteOutcome(_Frozen):
    """What a route produced; all None means "pending" (e.g. a human will reply)."""

    answer: str | None = None
    observation: Observation | None = None
    """An answer to be checked by the guard in its turn (e.g. a stronger model)."""
    review_id: str | None = None
    response: dict[str, Any] | None = None


@runtime_checkable
class Route(Protocol):
    """Anything that takes an escalated case, sync and async."""

    def escalate(self, request: EscalationRequest) -> RouteOutcome:
        """Take the case; raise EscalationError if that fails."""
        ...

    async def aescalate(self, request: EscalationRequest) -> RouteOutcome:
        """Async twin of `escalate`."""
        ...


RouteReply = str | Observation | None


class CallableRoute:
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
            value = await _guarded(request.route, value)
        return _reply(request.route, value)

    def _call(self, request: EscalationRequest) -> Any:
        try:
            return self.fn(request)
        except Exception as exc:
            raise _failed(request.route, exc) from exc


async def _guarded(route: str, value: Any) -> Any:
    try:
        return await value
    except Exception as exc:
        raise _failed(route, exc) from exc


def _failed(route: str, exc: Exception) -> EscalationError:
    return EscalationError(route, f"{type(exc).__name__}: {exc}")


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


class PipelineRoute:
    """Runs another pipeline (e.g. a stronger model); the guard checks its answer.

    The escalated attempt gets its own decision; it cannot escalate again.

    Example:
        >>> route = PipelineRoute(strong_pipeline)  # (question, attempt) -> Observation
    """

    def __init__(self, pipeline: Pipeline) -> None:
        self.pipeline = pipeline

    def escalate(self, request: EscalationRequest) -> RouteOutcome:
        """Run the pipeline on the question."""
        try:
            obs = call_pipeline(self.pipeline, request.question, request.attempt)
        except ObservationError as exc:
            raise EscalationError(request.route, str(exc)) from exc
        return RouteOutcome(observation=obs)

    async def aescalate(self, request: EscalationRequest) -> RouteOutcome:
        """Async twin of `escalate`."""
        try:
            obs = await acall_pipeline(self.pipeline, request.question, request.attempt)
        except ObservationError as exc:
            raise EscalationError(request.route, str(exc)) from exc
        return RouteOutcome(observation=obs)


class ReviewQueueRoute:
    """Puts the case in the store's review queue; the user gets the pending message.

    Example:
        >>> routes = {"review": ReviewQueueRoute(store)}
        >>> guard = Guard(signals, policy, store=store, routes=routes)
    """

    def __init__(self, store: AuditStore) -> None:
        self.store = store

    def escalate(self, request: EscalationRequest) -> RouteOutcome:
        """Enqueue the case for review."""
        try:
            review_id = self.store.enqueue_review(_review(request))
        except Exception as exc:
            raise _failed(request.route, exc) from exc
        return RouteOutcome(review_id=review_id)

    async def aescalate(self, request: EscalationRequest) -> RouteOutcome:
        """Async twin of `escalate`."""
        try:
            review_id = await self.store.aenqueue_review(_review(request))
        except Exception as exc:
            raise _failed(request.route, exc) from exc
        return RouteOutcome(review_id=review_id)


def _review(request: EscalationRequest) -> ReviewRequest:
    return ReviewRequest(
        request_id=request.request_id,
        question=request.question,
        answer=request.answer,
        confidence=request.confidence,
        reason=request.reason,
        metadata={"route": request.route, "signals": request.payload()["signals"]},
    )


class _BadStatus(Exception):
    def __init__(self, status: int) -> None:
        super().__init__(f"HTTP {status}")
        self.status = status


def _transient(exc: BaseException) -> bool:
    import httpx

    if isinstance(exc, _BadStatus):
        return exc.status >= 500 or exc.status == 429
    return isinstance(exc, httpx.TransportError)


class WebhookRoute:
    """POSTs the case as JSON; a JSON reply may carry ``{"answer": ...}``.

    Connection errors, timeouts, 429 and 5xx are retried with tenacity (`retries`:
    attempts in all, or a Retrying); other 4xx fail at once. Failure raises
    `EscalationError` naming the route and the URL.

    Example:
        >>> route = WebhookRoute("https://oncall.example/hooks/confguard", timeout=5)
    """

    def __init__(
        self,
        url: str,
        *,
        timeout: float = 10.0,
        retries: Retries = 3,
        headers: Mapping[str, str] | None = None,
        backoff_seconds: float = 0.5,
    ) -> None:
        self.url = url
        self.timeout = timeout
        self.retries = retries
        self.headers = dict(headers or {})
        self.backoff_seconds = backoff_seconds

    def escalate(self, request: EscalationRequest) -> RouteOutcome:
        """POST the case, retrying transient failures."""
        import httpx

        retrying = self._retrying(Retrying)
        try:
            with httpx.Client(timeout=self.timeout, headers=self.headers) as client:
                response = retrying(self._post, client, request.payload())
        except (httpx.HTTPError, _BadStatus) as exc:
            raise self._failure(request.route, exc, retrying) from exc
        return _webhook_reply(request.route, response)

    async def aescalate(self, request: EscalationRequest) -> RouteOutcome:
        """Async twin of `escalate`."""
        import httpx

        retrying = self._retrying(AsyncRetrying)
        try:
            async with httpx.AsyncClient(
                timeout=self.timeout, headers=self.headers
            ) as client:
                response = await retrying(self._apost, client, request.payload())
        except (httpx.HTTPError, _BadStatus) as exc:
            raise self._failure(request.route, exc, retrying) from exc
        return _webhook_reply(request.route, response)

    def _retrying(self, cls: type[Retrying] | type[AsyncRetrying]) -> Any:
        wait = wait_exponential(multiplier=self.backoff_seconds, max=30)
        return build_retrying(
            self.retries,
            cls,
            retry=retry_if_exception(_transient),
            wait=wait,
            reraise=True,
        )

    def _post(self, client: httpx.Client, body: dict[str, Any]) -> httpx.Response:
        return _checked(client.post(self.url, json=body))

    async def _apost(
        self, client: httpx.AsyncClient, body: dict[str, Any]
    ) -> httpx.Response:
        return _checked(await client.post(self.url, json=body))

    def _failure(self, route: str, exc: Exception, retrying: Any) -> EscalationError:
        attempts = retrying.statistics.get("attempt_number", 1)
        detail = (
            str(exc) if isinstance(exc, _BadStatus) else f"{type(exc).__name__}: {exc}"
        )
        return EscalationError(
            route, f"POST {self.url} failed after {attempts} attempt(s): {detail}"
        )


def _checked(response: httpx.Response) -> httpx.Response:
    if not response.is_success:
        raise _BadStatus(response.status_code)
    return response


def _webhook_reply(route: str, response: httpx.Response) -> RouteOutcome:
    try:
        data = response.json() if response.content else None
    except ValueError:  # a plain-text acknowledgement carries no answer
        data = None
    if not isinstance(data, dict):
        return RouteOutcome(response=None if data is None else {"reply": data})
    answer = data.get("answer")
    if answer is not None and not isinstance(answer, str):
        raise EscalationError(
            route, f"reply field 'answer' must be a string, got {type(answer).__name__}"
        )
    return RouteOutcome(answer=answer, response=data)


__all__ = [
    "CallableRoute",
    "EscalationRequest",
    "PipelineRoute",
    "ReviewQueueRoute",
    "Route",
    "RouteOutcome",
    "WebhookRoute",
]
