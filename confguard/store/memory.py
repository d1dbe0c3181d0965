"""An in-process store: for tests, notebooks and apps that need no durable log."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from datetime import datetime

from confguard.exceptions import UnknownReviewError
from confguard.store import outbox
from confguard.store.base import (
    AuditRecord,
    BaseStore,
    Reviewed,
    ReviewEvent,
    ReviewItem,
    ReviewStatus,
    utcnow,
)
from confguard.store.outbox import DEFAULT_BACKOFF, Backoff, DeliveryState, Escalation


class InMemoryStore(BaseStore):
    """Keeps decisions and reviews in lists guarded by a lock; lost at exit.

    Example:
        >>> store = InMemoryStore(store_answers=True)  # keep answer texts too
    """

    def __init__(self, *, store_answers: bool = False) -> None:
        self.store_answers = store_answers
        """Whether answers are kept in full (always as a digest)."""
        self._lock = threading.Lock()
        self._records: list[AuditRecord] = []
        self._reviews: dict[str, ReviewItem] = {}
        self._events: list[ReviewEvent] = []
        self._outbox: dict[str, Escalation] = {}

    def __repr__(self) -> str:
        return "InMemoryStore()"

    def record(self, record: AuditRecord) -> None:
        """Append one decision to the log."""
        record = self._kept(record)
        with self._lock:
            self._records.append(record)

    def record_escalation(self, record: AuditRecord, escalation: Escalation) -> None:
        """Append the escalate decision and its outbox entry, as one step."""
        record = self._kept(record)
        with self._lock:
            self._records.append(record)
            self._outbox[escalation.id] = escalation

    async def arecord_escalation(
        self, record: AuditRecord, escalation: Escalation
    ) -> None:
        """Async twin of `record_escalation`."""
        self.record_escalation(record, escalation)

    def claim_escalations(
        self, owner: str, *, limit: int = 50, lease_seconds: float = 60.0
    ) -> list[Escalation]:
        """Lease up to `limit` due pending entries to `owner`, oldest due first."""
        now = utcnow()
        with self._lock:
            due = [e for e in self._outbox.values() if outbox.claimable(e, now)]
            due.sort(key=lambda e: e.next_try_at)
            claimed = [outbox.lease_for(e, owner, lease_seconds, now) for e in due]
            for item in claimed[:limit]:
                self._outbox[item.id] = item
        return claimed[:limit]

    def delivered(self, escalation_id: str) -> Escalation | None:
        """Mark an entry delivered (once: None if it was not pending)."""
        return self._settle(escalation_id, outbox.delivery_update, utcnow())

    def delivery_failed(
        self, escalation_id: str, error: str, backoff: Backoff = DEFAULT_BACKOFF
    ) -> Escalation | None:
        """Count a failed try: pending again later, or failed (None if not pending)."""

        def update(attempts: int, now: datetime) -> dict[str, object]:
            return outbox.failure_update(attempts, error, backoff, now)

        return self._settle(escalation_id, update, utcnow())

    def escalations(self, state: DeliveryState | None = None) -> list[Escalation]:
        """Outbox entries, oldest first, optionally in one state only."""
        with self._lock:
            items = list(self._outbox.values())
        return [e for e in items if state in (None, e.state)]

    def _settle(
        self,
        escalation_id: str,
        update: Callable[[int, datetime], Mapping[str, object]],
        now: datetime,
    ) -> Escalation | None:
        with self._lock:
            item = self._outbox.get(escalation_id)
            if item is None or item.state != "pending":
                return None
            item = item.model_copy(update=dict(update(item.attempts, now)))
            self._outbox[escalation_id] = item
        return item

    def _kept(self, record: AuditRecord) -> AuditRecord:
        if not self.store_answers and record.answer is not None:
            return record.model_copy(update={"answer": None})
        return record

    async def arecord(self, record: AuditRecord) -> None:
        """Append one decision to the log."""
        self.record(record)

    def _add_review(self, item: ReviewItem) -> None:
        with self._lock:
            self._reviews[item.id] = item

    def pending_reviews(self, limit: int = 100) -> list[ReviewItem]:
        """The oldest `limit` cases still waiting for a reviewer."""
        return self.reviews("pending")[:limit]

    def _resolve(self, event: ReviewEvent) -> ReviewItem:
        with self._lock:  # the check and the change are one step
            item = self._reviews.get(event.review_id)
            if item is None:
                raise UnknownReviewError(event.review_id, repr(self))
            if item.status != "pending":
                raise item.conflict()
            item = self._reviews[item.id] = item.resolved_by(event)
            self._events.append(event)
        return item

    def review_history(self, review_id: str) -> list[ReviewEvent]:
        """Every verdict given on `review_id`, oldest first (append-only)."""
        with self._lock:
            return [e for e in self._events if e.review_id == review_id]

    def decisions(
        self, request_id: str | None = None, limit: int = 1000
    ) -> list[AuditRecord]:
        """Logged decisions, oldest first, optionally of one request only."""
        with self._lock:
            rows = [r for r in self._records if request_id in (None, r.request_id)]
        return rows[:limit]

    def reviews(self, status: ReviewStatus | None = None) -> list[ReviewItem]:
        """Review queue entries, oldest first, optionally with one status only."""
        with self._lock:
            items = list(self._reviews.values())
        return [i for i in items if status in (None, i.status)]

    def reviewed(self) -> list[Reviewed]:
        """Every resolved review, oldest first, with its request's last decision."""
        with self._lock:
            last = {r.request_id: r for r in self._records}  # later attempts win
            items = [i for i in self._reviews.values() if i.status != "pending"]
        return [Reviewed(item=i, decision=last.get(i.request_id)) for i in items]
