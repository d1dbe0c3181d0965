"""What the audit store keeps, and the protocol every store implements."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any, Literal, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

from confguard.results import Action, Cost, SignalResult

ReviewStatus = Literal["pending", "approved", "edited", "rejected"]
Verdict = Literal["approved", "edited", "rejected"]


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def digest(text: str) -> str:
    """A stable digest of an answer, so the log need not keep the text."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class AuditRecord(_Frozen):
    """One decision of one attempt, as the audit log keeps it."""

    request_id: str
    attempt: int = Field(ge=1)
    question: str
    answer_digest: str
    answer: str | None = None
    """Kept only when the store is set to keep answers."""
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

    def resolved(
        self,
        verdict: Verdict,
        *,
        edited_answer: str | None = None,
        reviewer: str | None = None,
    ) -> ReviewItem:
        """This entry with a reviewer's verdict, resolved now (validated)."""
        verdict_fields = {
            "status": verdict,
            "edited_answer": edited_answer,
            "reviewer": reviewer,
            "resolved_at": utcnow(),
        }
        return ReviewItem.model_validate({**self.model_dump(), **verdict_fields})


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
    ) -> ReviewItem: ...

    def decisions(
        self, request_id: str | None = None, limit: int = 1000
    ) -> list[AuditRecord]: ...

    def reviews(self, status: ReviewStatus | None = None) -> list[ReviewItem]: ...


class BaseStore:
    """The review-queue bookkeeping the built-in stores share; they add the storage."""

    def enqueue_review(self, request: ReviewRequest) -> str:
        """Put a case in the review queue; returns its review id."""
        item = request.to_item()
        self._add_review(item)
        return item.id

    def resolve_review(
        self,
        review_id: str,
        verdict: Verdict,
        *,
        edited_answer: str | None = None,
        reviewer: str | None = None,
    ) -> ReviewItem:
        """Record a reviewer's verdict; KeyError if no review has that id."""
        return self._change_review(
            review_id,
            lambda item: item.resolved(
                verdict, edited_answer=edited_answer, reviewer=reviewer
            ),
        )

    def _add_review(self, item: ReviewItem) -> None:
        raise NotImplementedError

    def _change_review(
        self, review_id: str, change: Callable[[ReviewItem], ReviewItem]
    ) -> ReviewItem:
        raise NotImplementedError
