"""What a route is given, what it returns, and the base class to write one with.

A route has `escalate(request)` and its async twin `aescalate(request)`, and returns
a `RouteOutcome`: an answer, an Observation for the guard to check in its turn, a
review id, or nothing (the user then gets the policy's pending message). A route that
fails raises `EscalationError`; the guard records the decision before calling it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict

from confguard.exceptions import EscalationError, ObservationError
from confguard.observation import Observation
from confguard.results import Attempt, SignalResult


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


CASE_FIELDS = frozenset({"request_id", "question", "answer", "confidence", "reason"})
"""The fields of a case that every route hands on (the review queue keeps these)."""


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
    escalation_id: str | None = None
    """The outbox entry's id; webhooks send it as their ``Idempotency-Key``."""

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> EscalationRequest:
        """The request a stored `payload()` describes (the delivery worker's input).

        The observation is rebuilt from the question and answer only.
        """
        fields = {k: v for k, v in payload.items() if k != "attempt"}
        attempt = Attempt(number=payload.get("attempt", 2), route=payload["route"])
        observation = Observation(
            question=payload["question"], answer=payload["answer"]
        )
        return cls.model_validate(
            {**fields, "attempt": attempt, "observation": observation}
        )

    def case(self) -> dict[str, Any]:
        """The case itself: id, question, answer, confidence and reason."""
        return self.model_dump(mode="json", include=set(CASE_FIELDS))

    def payload(self) -> dict[str, Any]:
        """The JSON-safe case a webhook receives: the case, the route and signals."""
        body = self.model_dump(
            mode="json", include={*CASE_FIELDS, "route", "escalation_id"}
        )
        body["attempt"] = self.attempt.number
        keep = {"name", "status", "confidence", "reason"}
        body["signals"] = [
            s.model_dump(mode="json", include=keep) for s in self.signals
        ]
        return body


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


class BaseRoute:
    """A route to subclass: implement `escalate`; `aescalate` runs it in a thread.

    Example:
        >>> class Pager(BaseRoute):
        ...     def escalate(self, request):
        ...         page_oncall(request.payload())
        ...         return RouteOutcome()
    """

    def escalate(self, request: EscalationRequest) -> RouteOutcome:
        """Take the case; raise EscalationError if that fails."""
        raise NotImplementedError

    async def aescalate(self, request: EscalationRequest) -> RouteOutcome:
        """Async twin of `escalate`: by default, `escalate` in a worker thread."""
        return await asyncio.to_thread(self.escalate, request)


@contextmanager
def failures_named(route: str) -> Iterator[None]:
    """Any exception inside becomes an EscalationError naming `route`."""
    try:
        yield
    except EscalationError:
        raise
    except ObservationError as exc:  # its message already says what was wrong
        raise EscalationError(route, str(exc)) from exc
    except Exception as exc:
        raise EscalationError(route, f"{type(exc).__name__}: {exc}") from exc


__all__ = [
    "CASE_FIELDS",
    "BaseRoute",
    "EscalationRequest",
    "Route",
    "RouteOutcome",
    "failures_named",
]
