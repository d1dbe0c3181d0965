"""An in-process store: for tests, notebooks and apps that need no durable log."""

from __future__ import annotations

import threading
import uuid

from confguard.store.base import (
    AuditRecord,
    ReviewItem,
    ReviewRequest,
    ReviewStatus,
    Verdict,
    utcnow,
)


class InMemoryStore:
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

    def enqueue_review(self, request: ReviewRequest) -> str:
        item = ReviewItem(
            id=uuid.uuid4().hex, **request.model_dump(exclude={"metadata"})
        )
        with self._lock:
            self._reviews[item.id] = item
        return item.id

    async def aenqueue_review(self, request: ReviewRequest) -> str:
        return self.enqueue_review(request)

    def pending_reviews(self, limit: int = 100) -> list[ReviewItem]:
        return self.reviews("pending")[:limit]

    def resolve_review(
        self,
        review_id: str,
        verdict: Verdict,
        *,
        edited_answer: str | None = None,
        reviewer: str | None = None,
    ) -> ReviewItem:
        with self._lock:
            if review_id not in self._reviews:
                raise KeyError(f"no review with id {review_id!r}")
            item = self._reviews[review_id].model_copy(
                update={
                    "status": verdict,
                    "edited_answer": edited_answer,
                    "reviewer": reviewer,
                    "resolved_at": utcnow(),
                }
            )
            self._reviews[review_id] = item
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
