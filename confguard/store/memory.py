"""An in-process store: for tests, notebooks and apps that need no durable log."""

from __future__ import annotations

import threading
from collections.abc import Callable

from confguard.store.base import (
    AuditRecord,
    BaseStore,
    ReviewItem,
    ReviewRequest,
    ReviewStatus,
)


class InMemoryStore(BaseStore):
    """Keeps decisions and reviews in lists guarded by a lock; lost at exit."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._records: list[AuditRecord] = []
        self._reviews: dict[str, ReviewItem] = {}

    def record(self, record: AuditRecord) -> None:
        with self._lock:
            self._records.append(record)

    async def arecord(self, record: AuditRecord) -> None:
        self.record(record)

    def _add_review(self, item: ReviewItem) -> None:
        with self._lock:
            self._reviews[item.id] = item

    async def aenqueue_review(self, request: ReviewRequest) -> str:
        return self.enqueue_review(request)

    def pending_reviews(self, limit: int = 100) -> list[ReviewItem]:
        return self.reviews("pending")[:limit]

    def _change_review(
        self, review_id: str, change: Callable[[ReviewItem], ReviewItem]
    ) -> ReviewItem:
        with self._lock:
            if review_id not in self._reviews:
                raise KeyError(f"no review with id {review_id!r}")
            item = self._reviews[review_id] = change(self._reviews[review_id])
        return item

    def decisions(
        self, request_id: str | None = None, limit: int = 1000
    ) -> list[AuditRecord]:
        with self._lock:
            rows = [r for r in self._records if request_id in (None, r.request_id)]
        return rows[:limit]

    def reviews(self, status: ReviewStatus | None = None) -> list[ReviewItem]:
        with self._lock:
            items = list(self._reviews.values())
        return [i for i in items if status in (None, i.status)]
