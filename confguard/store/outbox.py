"""The escalation outbox: each escalated case, kept with its delivery state.

An escalate decision and its `Escalation` are written in one transaction before any
delivery is tried, so a case is never recorded without being queued. Delivery moves
an entry from ``pending`` to ``delivered``, or, after `Backoff.max_attempts` failed
tries, to ``failed``; between tries it waits `Backoff.delay` (capped doubling). A
lease (owner, until) keeps two deliverers off one entry at a time.
"""

from __future__ import annotations

import os
import socket
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

from confguard.store.base import AuditRecord, utcnow

DeliveryState = Literal["pending", "delivered", "failed"]

IN_PROCESS_LEASE = 120.0
"""Seconds the guard holds a new entry while it delivers in-process; a worker takes
the entry over only after that (e.g. when the process died mid-delivery)."""


class Escalation(BaseModel):
    """One outbox entry: the case for `route`, and how its delivery is going."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    """The escalation id; webhooks receive it as their ``Idempotency-Key``."""
    request_id: str
    route: str
    payload: dict[str, Any]
    """The case as JSON (`EscalationRequest.payload()`)."""
    state: DeliveryState = "pending"
    attempts: int = Field(default=0, ge=0)
    last_error: str | None = None
    next_try_at: datetime = Field(default_factory=utcnow)
    delivered_at: datetime | None = None
    lease_owner: str | None = None
    lease_until: datetime | None = None
    created_at: datetime = Field(default_factory=utcnow)


@dataclass(frozen=True)
class Backoff:
    """When to try a failed delivery again: `first` seconds, doubling up to `cap`.

    Example:
        >>> [Backoff().delay(n) for n in (1, 2, 3, 11)]
        [1.0, 2.0, 4.0, 600.0]
    """

    first: float = 1.0
    cap: float = 600.0
    max_attempts: int = 10
    """Failed tries after which the entry is ``failed`` and no longer retried."""

    def delay(self, attempts: int) -> float:
        """Seconds to wait after the `attempts`-th failed try."""
        return float(min(self.cap, self.first * 2 ** max(0, attempts - 1)))

    def after_failure(self, attempts: int, now: datetime) -> tuple[str, datetime]:
        """The state and next try time after `attempts` failed tries in all."""
        state = "failed" if attempts >= self.max_attempts else "pending"
        return state, now + timedelta(seconds=self.delay(attempts))


DEFAULT_BACKOFF = Backoff()
"""1 s doubling up to 10 minutes; failed after 10 tries."""


_ESCALATION_IDS = uuid.UUID("5d0c3f61-6a43-4f0e-9c55-2f1f7cbe0e12")


def escalation_id(request_id: str, attempt: int) -> str:
    """The id of a request's escalation at `attempt`: the same on every computation.

    Example:
        >>> escalation_id("r1", 2) == escalation_id("r1", 2) != escalation_id("r2", 2)
        True
    """
    return uuid.uuid5(_ESCALATION_IDS, f"{request_id}/{attempt}").hex


def lease_owner(kind: str = "worker") -> str:
    """A lease owner name unique to this process and call: host, pid, random."""
    return f"{kind}:{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


@runtime_checkable
class Outbox(Protocol):
    """A store that keeps escalations (both built-in stores are one)."""

    def record_escalation(self, record: AuditRecord, escalation: Escalation) -> None:
        """Write the escalate decision and its outbox entry in one transaction."""
        ...

    async def arecord_escalation(
        self, record: AuditRecord, escalation: Escalation
    ) -> None:
        """Async twin of `record_escalation`."""
        ...

    def claim_escalations(
        self, owner: str, *, limit: int = 50, lease_seconds: float = 60.0
    ) -> list[Escalation]:
        """Lease up to `limit` due pending entries to `owner`; returns them."""
        ...

    def delivered(self, escalation_id: str) -> Escalation | None:
        """Mark an entry delivered (once: None if it was not pending)."""
        ...

    def delivery_failed(
        self, escalation_id: str, error: str, backoff: Backoff = DEFAULT_BACKOFF
    ) -> Escalation | None:
        """Count a failed try: pending again later, or failed (None if not pending)."""
        ...

    def escalations(self, state: DeliveryState | None = None) -> list[Escalation]:
        """Outbox entries, oldest first, optionally in one state only."""
        ...


def lease_for(
    escalation: Escalation, owner: str, seconds: float, now: datetime
) -> Escalation:
    """`escalation` leased to `owner` for `seconds` from `now`."""
    until = now + timedelta(seconds=seconds)
    return escalation.model_copy(update={"lease_owner": owner, "lease_until": until})


def claimable(escalation: Escalation, now: datetime) -> bool:
    """Pending, due, and not leased to anyone right now."""
    lease = escalation.lease_until
    return (
        escalation.state == "pending"
        and escalation.next_try_at <= now
        and (lease is None or lease <= now)
    )


def failure_update(
    attempts: int, error: str, backoff: Backoff, now: datetime
) -> dict[str, Any]:
    """The fields a failed try changes, given the attempts before it."""
    state, next_try = backoff.after_failure(attempts + 1, now)
    return {
        "state": state,
        "attempts": attempts + 1,
        "last_error": error[:2000],
        "next_try_at": next_try,
        "lease_owner": None,
        "lease_until": None,
    }


def delivery_update(attempts: int, now: datetime) -> dict[str, Any]:
    """The fields a successful delivery changes, given the attempts before it."""
    return {
        "state": "delivered",
        "attempts": attempts + 1,
        "delivered_at": now,
        "lease_owner": None,
        "lease_until": None,
    }


__all__ = [
    "DEFAULT_BACKOFF",
    "IN_PROCESS_LEASE",
    "Backoff",
    "DeliveryState",
    "Escalation",
    "Outbox",
    "claimable",
    "delivery_update",
    "escalation_id",
    "failure_update",
    "lease_for",
    "lease_owner",
]
