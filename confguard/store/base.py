"""What the audit store keeps, and the protocol every store implements."""

from __future__ import annotations

import hashlib
import uuid
from datetime import datetime, timezone
from typing import Any, Literal, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from confguard.exceptions import InputError, ReviewConflictError
from confguard.results import Action, Cost, SignalResult

ReviewStatus = Literal["pending", "approved", "edited", "rejected"]
Verdict = Literal["approved", "edited", "rejected"]


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def digest(text: str) -> str:
    """A stable digest of an answer, so the log need not keep the text.

    Defined for every string: a lone surrogate is digested as its code point.
    """
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class AuditRecord(_Frozen):
    """One decision of one attempt, as the audit log keeps it."""

    request_id: str
    attempt: int = Field(ge=1)
    question: str
    answer_digest: str
    answer: str | None = None
    """The guard always passes it; a store keeps it only if set to keep answers."""
    confidence: float | None
    action: Action
    reason: str
    strategy: str | None = None
    route: str | None = None
    signals: tuple[SignalResult, ...] = ()
    latency_seconds: float = Field(ge=0.0)
    cost: Cost = Cost()
    created_at: datetime = Field(default_factory=utcnow)
    metadata: dict[str, Any] = Field(default_factory=dict)


class ReviewRequest(_Frozen):
    """A case sent to the human review queue."""

    request_id: str
    question: str
    answer: str
    confidence: float | None
    reason: str
    metadata: dict[str, Any] = Field(default_factory=dict)
    """Your own data; the built-in stores do not keep it."""

    def to_item(self) -> ReviewItem:
        """A new pending queue entry for this case, with a fresh id."""
        return ReviewItem(id=uuid.uuid4().hex, **self.model_dump(exclude={"metadata"}))


class ReviewItem(_Frozen):
    """A review queue entry and, once resolved, the reviewer's verdict."""

    id: str
    request_id: str
    question: str
    answer: str
    confidence: float | None
    reason: str
    status: ReviewStatus = "pending"
    edited_answer: str | None = None
    reviewer: str | None = None
    created_at: datetime = Field(default_factory=utcnow)
    resolved_at: datetime | None = None

    @property
    def label(self) -> bool | None:
        """Whether the original answer was right (a calibration label), once known."""
        if self.status == "pending":
            return None
        return self.status == "approved"

    def resolved_by(self, event: ReviewEvent) -> ReviewItem:
        """This entry with the verdict `event` records."""
        return self.model_copy(
            update={
                "status": event.verdict,
                "edited_answer": event.edited_answer,
                "reviewer": event.reviewer,
                "resolved_at": event.created_at,
            }
        )

    def conflict(self) -> ReviewConflictError:
        """The error for a second resolution of this (resolved) entry."""
        return ReviewConflictError(
            self.id,
            verdict=self.status,
            resolved_by=self.reviewer,
            resolved_at=self.resolved_at,
        )


class Reviewed(_Frozen):
    """A resolved review and the last decision logged for its request (the one
    whose signals and confidence the reviewer judged; None: none was logged)."""

    item: ReviewItem
    decision: AuditRecord | None


class ReviewEvent(_Frozen):
    """One resolution of a review, as the append-only verdict history keeps it."""

    review_id: str
    verdict: Verdict
    reviewer: str | None = None
    note: str | None = None
    edited_answer: str | None = None
    created_at: datetime = Field(default_factory=utcnow)

    @classmethod
    def of(cls, review_id: str, verdict: str, **fields: Any) -> ReviewEvent:
        """A validated event; InputError naming the field if a value is unusable."""
        try:
            return cls.model_validate(
                {"review_id": review_id, "verdict": verdict, **fields}
            )
        except ValidationError as exc:
            error = exc.errors()[0]
            where = ".".join(str(part) for part in error["loc"])
            raise InputError(f"review {review_id}: {where}: {error['msg']}") from exc


@runtime_checkable
class AuditStore(Protocol):
    """Where decisions and the review queue live."""

    def record(self, record: AuditRecord) -> None: ...

    async def arecord(self, record: AuditRecord) -> None: ...

    def enqueue_review(self, request: ReviewRequest) -> str: ...

    async def aenqueue_review(self, request: ReviewRequest) -> str: ...

    def pending_reviews(self, limit: int = 100) -> list[ReviewItem]: ...

    def resolve_review(
        self,
        review_id: str,
        verdict: Verdict,
        *,
        edited_answer: str | None = None,
        reviewer: str | None = None,
        note: str | None = None,
    ) -> ReviewItem: ...

    async def aresolve_review(
        self,
        review_id: str,
        verdict: Verdict,
        *,
        edited_answer: str | None = None,
        reviewer: str | None = None,
        note: str | None = None,
    ) -> ReviewItem: ...

    def review_history(self, review_id: str) -> list[ReviewEvent]: ...

    def decisions(
        self, request_id: str | None = None, limit: int = 1000
    ) -> list[AuditRecord]: ...

    def reviews(self, status: ReviewStatus | None = None) -> list[ReviewItem]: ...

    def reviewed(self) -> list[Reviewed]: ...


class BaseStore:
    """The review-queue bookkeeping the built-in stores share; they add the storage."""

    def enqueue_review(self, request: ReviewRequest) -> str:
        """Put a case in the review queue; returns its review id."""
        item = request.to_item()
        self._add_review(item)
        return item.id

    async def aenqueue_review(self, request: ReviewRequest) -> str:
        """Async twin of `enqueue_review`."""
        item = request.to_item()
        await self._aadd_review(item)
        return item.id

    def resolve_review(
        self,
        review_id: str,
        verdict: Verdict,
        *,
        edited_answer: str | None = None,
        reviewer: str | None = None,
        note: str | None = None,
    ) -> ReviewItem:
        """Record a reviewer's verdict on a pending review, once (compare-and-set).

        Raises ReviewConflictError (who resolved it, when, how) if the review is
        resolved already, and UnknownReviewError if no review has that id.

        Example:
            >>> from confguard.store import InMemoryStore, ReviewRequest
            >>> store = InMemoryStore()
            >>> rid = store.enqueue_review(ReviewRequest(request_id="r1",
            ...     question="q", answer="a", confidence=0.3, reason="low"))
            >>> store.resolve_review(rid, "approved", reviewer="ada").status
            'approved'
            >>> store.resolve_review(rid, "rejected", reviewer="bo")
            Traceback (most recent call last):
            ...
            confguard.exceptions.ReviewConflictError: review ... by ada at ...
        """
        event = ReviewEvent.of(
            review_id,
            verdict,
            edited_answer=edited_answer,
            reviewer=reviewer,
            note=note,
        )
        return self._resolve(event)

    async def aresolve_review(
        self,
        review_id: str,
        verdict: Verdict,
        *,
        edited_answer: str | None = None,
        reviewer: str | None = None,
        note: str | None = None,
    ) -> ReviewItem:
        """`resolve_review`, awaitable."""
        event = ReviewEvent.of(
            review_id,
            verdict,
            edited_answer=edited_answer,
            reviewer=reviewer,
            note=note,
        )
        return await self._aresolve(event)

    def _add_review(self, item: ReviewItem) -> None:
        raise NotImplementedError

    async def _aadd_review(self, item: ReviewItem) -> None:
        self._add_review(item)  # a store that never blocks needs no thread

    async def _aresolve(self, event: ReviewEvent) -> ReviewItem:
        return self._resolve(event)

    def _resolve(self, event: ReviewEvent) -> ReviewItem:
        """Apply `event` to its review if it is still pending, atomically."""
        raise NotImplementedError
