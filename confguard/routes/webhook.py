"""A route that POSTs the case as JSON, retrying transient failures with tenacity.

One deadline bounds a delivery: every connect and read is given at most what
remains of it, and no wait between tries sleeps past it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from tenacity import AsyncRetrying, Retrying, retry_if_exception, wait_exponential

from confguard.exceptions import ConfigurationError, EscalationError
from confguard.routes.base import BaseRoute, EscalationRequest, RouteOutcome
from confguard.routes.retrying import Retries, RetryRule, checked

if TYPE_CHECKING:
    import httpx


class _BadStatus(Exception):
    def __init__(self, status: int) -> None:
        super().__init__(f"HTTP {status}")
        self.status = status


class _DeadlinePassed(Exception):
    def __init__(self, deadline: float) -> None:
        super().__init__(f"the delivery deadline of {deadline:g} s passed")


def _transient(exc: BaseException) -> bool:
    import httpx

    if isinstance(exc, _BadStatus):
        return exc.status >= 500 or exc.status == 429
    return isinstance(exc, httpx.TransportError)


class WebhookRoute(BaseRoute):
    """POSTs the case as JSON; a JSON reply may carry ``{"answer": ...}``.

    Connection errors, timeouts, 429 and 5xx are retried with tenacity (`retries`:
    attempts in all, or a Retrying); other 4xx fail at once. `deadline` (seconds,
    default 10) bounds the whole delivery, tries and waits included; `timeout`
    bounds each connect and read within it. A case with an escalation id is sent
    with an ``Idempotency-Key`` header equal to it, the same on every redelivery.
    Failure raises `EscalationError` naming the route and the URL.

    Example:
        >>> route = WebhookRoute("https://oncall.example/hooks/confguard", deadline=5)
    """

    def __init__(
        self,
        url: str,
        *,
        timeout: float = 10.0,
        retries: Retries = 3,
        headers: Mapping[str, str] | None = None,
        backoff_seconds: float = 0.5,
        deadline: float = 10.0,
    ) -> None:
        if not deadline > 0:
            raise ConfigurationError(f"deadline must be > 0 seconds, got {deadline!r}")
        self.url = url
        self.timeout = timeout
        self.deadline = deadline
        self.retries = checked(retries)
        self.headers = dict(headers or {})
        self.backoff_seconds = backoff_seconds
        self._rule = RetryRule(
            retry_if_exception(_transient),
            wait_exponential(multiplier=backoff_seconds, max=30),
            {"reraise": True},
        )

    def escalate(self, request: EscalationRequest) -> RouteOutcome:
        """POST the case, retrying transient failures."""
        import httpx

        end = time.monotonic() + self.deadline
        retrying = self._retrying(Retrying, sleep=_capped_sleep(end))
        try:
            with httpx.Client(headers=_headers(self.headers, request)) as client:
                response = retrying(self._post, client, request.payload(), end)
        except (httpx.HTTPError, _BadStatus, _DeadlinePassed) as exc:
            raise self._failure(request.route, exc, retrying) from exc
        return _webhook_reply(request.route, response)

    async def aescalate(self, request: EscalationRequest) -> RouteOutcome:
        """Async twin of `escalate`."""
        import httpx

        end = time.monotonic() + self.deadline
        retrying = self._retrying(AsyncRetrying, sleep=_capped_asleep(end))
        headers = _headers(self.headers, request)
        try:
            async with httpx.AsyncClient(headers=headers) as client:
                response = await retrying(self._apost, client, request.payload(), end)
        except (httpx.HTTPError, _BadStatus, _DeadlinePassed) as exc:
            raise self._failure(request.route, exc, retrying) from exc
        return _webhook_reply(request.route, response)

    def _retrying(
        self, cls: type[Retrying] | type[AsyncRetrying], sleep: Callable[..., Any]
    ) -> Any:
        rule = self._rule
        options = {**rule.options, "sleep": sleep}  # no wait sleeps past the deadline
        return RetryRule(rule.retry, rule.wait, options).build(self.retries, cls)

    def _post(
        self, client: httpx.Client, body: dict[str, Any], end: float
    ) -> httpx.Response:
        timeout = self._time_left(end)
        return _checked(client.post(self.url, json=body, timeout=timeout))

    async def _apost(
        self, client: httpx.AsyncClient, body: dict[str, Any], end: float
    ) -> httpx.Response:
        timeout = self._time_left(end)
        return _checked(await client.post(self.url, json=body, timeout=timeout))

    def _time_left(self, end: float) -> float:
        left = end - time.monotonic()
        if left <= 0:
            raise _DeadlinePassed(self.deadline)
        return min(self.timeout, left)

    def _failure(self, route: str, exc: Exception, retrying: Any) -> EscalationError:
        attempts = retrying.statistics.get("attempt_number", 1)
        plain = isinstance(exc, _BadStatus | _DeadlinePassed)
        detail = str(exc) if plain else f"{type(exc).__name__}: {exc}"
        return EscalationError(
            route, f"POST {self.url} failed after {attempts} attempt(s): {detail}"
        )


def _headers(headers: Mapping[str, str], request: EscalationRequest) -> dict[str, str]:
    if request.escalation_id is None:
        return dict(headers)
    return {**headers, "Idempotency-Key": request.escalation_id}


def _capped_sleep(end: float) -> Callable[[float], None]:
    def sleep(seconds: float) -> None:
        time.sleep(max(0.0, min(seconds, end - time.monotonic())))

    return sleep


def _capped_asleep(end: float) -> Callable[[float], Any]:
    async def sleep(seconds: float) -> None:
        await asyncio.sleep(max(0.0, min(seconds, end - time.monotonic())))

    return sleep


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


__all__ = ["WebhookRoute"]
