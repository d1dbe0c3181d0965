"""An in-process store: for tests, notebooks and apps that need no durable log."""

from __future__ import annotations

import threading

from confguard.exceptions import UnknownReviewError
from confguard.store.base import (
    AuditRecord,
    BaseStore,
    ReviewEvent,
    ReviewItem,
    ReviewRequest,
    ReviewStatus,
)


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

    def __repr__(self) -> str:
        return "InMemoryStore()"

    def record(self, record: AuditRecord) -> None:
        """Append one decision to the log."""
        if not self.store_answers and record.answer is not None:
            record = record.model_copy(update={"answer": None})
        with self._lock:
            self._records.append(record)

    async def arecord(self, record: AuditRecord) -> None:
        """Append one decision to the log."""
        self.record(record)

    def _add_review(self, item: ReviewItem) -> None:
        with self._lock:
            self._reviews[item.id] = item

    async def aenqueue_review(self, request: ReviewRequest) -> str:
        """Put a case in the review queue; returns its review id."""
        return self.enqueue_review(request)

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
