"""A route that POSTs the case as JSON, retrying transient failures with tenacity."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from tenacity import AsyncRetrying, Retrying, retry_if_exception, wait_exponential

from confguard.exceptions import EscalationError
from confguard.routes.base import BaseRoute, EscalationRequest, RouteOutcome
from confguard.routes.retrying import Retries, RetryRule, checked

if TYPE_CHECKING:
    import httpx


class _BadStatus(Exception):
    def __init__(self, status: int) -> None:
        super().__init__(f"HTTP {status}")
        self.status = status


def _transient(exc: BaseException) -> bool:
    import httpx

    if isinstance(exc, _BadStatus):
        return exc.status >= 500 or exc.status == 429
    return isinstance(exc, httpx.TransportError)


class WebhookRoute(BaseRoute):
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
        return self._rule.build(self.retries, cls)

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


__all__ = ["WebhookRoute"]
