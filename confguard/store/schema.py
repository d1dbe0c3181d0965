"""The audit store's tables, and conversions between their rows and models."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, cast

from sqlalchemy import JSON, DateTime, Double, Index, Integer, String, Table, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from confguard.store.base import AuditRecord, ReviewEvent, ReviewItem
from confguard.store.outbox import Escalation
from confguard.store.text import storable_row

SCHEMA_REVISION = "0003"
"""The schema revision this code reads and writes (its Alembic head).

Revisions are zero-padded numbers, so their order is their string order."""

VERSION_TABLE = "confguard_schema_version"
"""Where Alembic keeps a store's revision; not `alembic_version`, which the host
application's own migrations may use in the same database."""


class Base(DeclarativeBase):
    """Declarative base of confguard's audit tables."""


class DecisionRow(Base):
    """One row per decision of one attempt (an AuditRecord)."""

    __tablename__ = "decisions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    request_id: Mapped[str] = mapped_column(Text, index=True)
    attempt: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    question: Mapped[str] = mapped_column(Text)
    answer_digest: Mapped[str] = mapped_column(String(64))
    answer: Mapped[str | None] = mapped_column(Text, nullable=True)
    confidence: Mapped[float | None] = mapped_column(Double, nullable=True)
    action: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(Text)
    strategy: Mapped[str | None] = mapped_column(Text, nullable=True)
    route: Mapped[str | None] = mapped_column(Text, nullable=True)
    signals: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    latency_seconds: Mapped[float] = mapped_column(Double)
    llm_calls: Mapped[int] = mapped_column(Integer)
    tokens: Mapped[int] = mapped_column(Integer)
    cost_seconds: Mapped[float] = mapped_column(Double)
    # `metadata` is reserved on declarative classes, so the attribute has another name.
    meta: Mapped[dict[str, Any]] = mapped_column("metadata", JSON)


class ReviewRow(Base):
    """One row per case in the human review queue (a ReviewItem)."""

    __tablename__ = "reviews"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    request_id: Mapped[str] = mapped_column(Text, index=True)
    question: Mapped[str] = mapped_column(Text)
    answer: Mapped[str] = mapped_column(Text)
    confidence: Mapped[float | None] = mapped_column(Double, nullable=True)
    reason: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), index=True)
    edited_answer: Mapped[str | None] = mapped_column(Text, nullable=True)
    reviewer: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    resolved_at: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True), nullable=True
    )


class ReviewEventRow(Base):
    """One row per verdict given (a ReviewEvent); rows are only ever inserted."""

    __tablename__ = "review_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    review_id: Mapped[str] = mapped_column(String(64), index=True)
    verdict: Mapped[str] = mapped_column(String(16))
    reviewer: Mapped[str | None] = mapped_column(Text, nullable=True)
    note: Mapped[str | None] = mapped_column(Text, nullable=True)
    edited_answer: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class EscalationRow(Base):
    """One row per escalated case: the outbox entry and its delivery state."""

    __tablename__ = "escalations"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    request_id: Mapped[str] = mapped_column(Text, index=True)
    route: Mapped[str] = mapped_column(Text)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    state: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    next_try_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    delivered_at: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True), nullable=True
    )
    lease_owner: Mapped[str | None] = mapped_column(Text, nullable=True)
    lease_until: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True), nullable=True
    )
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    __table_args__ = (Index("ix_escalations_due", "state", "next_try_at"),)


# The tables themselves, for fast Core inserts (the ORM costs ~100 us per row).
DECISIONS = cast(Table, DecisionRow.__table__)
REVIEWS = cast(Table, ReviewRow.__table__)
REVIEW_EVENTS = cast(Table, ReviewEventRow.__table__)
ESCALATIONS = cast(Table, EscalationRow.__table__)


def as_utc(moment: datetime) -> datetime:
    """`moment` in UTC; a naive datetime is taken to be UTC already.

    SQLite keeps no time zone, so everything is written in UTC and read back as UTC.
    """
    if moment.tzinfo is None:
        return moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc)


def decision_values(record: AuditRecord, *, keep_answer: bool) -> dict[str, Any]:
    """`record`'s storable row by column name (the answer only if `keep_answer`)."""
    data = record.model_dump(mode="json", exclude={"cost", "created_at"})
    data["answer"] = record.answer if keep_answer else None
    data["created_at"] = as_utc(record.created_at)
    data["llm_calls"] = record.cost.llm_calls
    data["tokens"] = record.cost.tokens
    data["cost_seconds"] = record.cost.seconds
    return storable_row(data)


def to_audit_record(row: DecisionRow) -> AuditRecord:
    """The AuditRecord a decisions row holds."""
    return AuditRecord.model_validate(
        {
            "request_id": row.request_id,
            "attempt": row.attempt,
            "question": row.question,
            "answer_digest": row.answer_digest,
            "answer": row.answer,
            "confidence": row.confidence,
            "action": row.action,
            "reason": row.reason,
            "strategy": row.strategy,
            "route": row.route,
            "signals": row.signals,
            "latency_seconds": row.latency_seconds,
            "cost": {
                "llm_calls": row.llm_calls,
                "tokens": row.tokens,
                "seconds": row.cost_seconds,
            },
            "created_at": as_utc(row.created_at),
            "metadata": row.meta,
        }
    )


def review_values(item: ReviewItem) -> dict[str, Any]:
    """`item`'s storable row by column name (the same as by attribute name)."""
    data = item.model_dump(exclude={"created_at", "resolved_at"})
    data["created_at"] = as_utc(item.created_at)
    data["resolved_at"] = item.resolved_at and as_utc(item.resolved_at)
    return storable_row(data)


def event_values(event: ReviewEvent) -> dict[str, Any]:
    """`event`'s storable review_events row by column name."""
    data = event.model_dump(exclude={"created_at"})
    data["created_at"] = as_utc(event.created_at)
    return storable_row(data)


def verdict_values(event: ReviewEvent) -> dict[str, Any]:
    """The reviews columns that `event` changes, storable."""
    values = event_values(event)
    return {
        "status": values["verdict"],
        "edited_answer": values["edited_answer"],
        "reviewer": values["reviewer"],
        "resolved_at": values["created_at"],
    }


def to_review_event(row: Any) -> ReviewEvent:
    """The ReviewEvent a review_events row holds."""
    return ReviewEvent.model_validate(
        {
            "review_id": row.review_id,
            "verdict": row.verdict,
            "reviewer": row.reviewer,
            "note": row.note,
            "edited_answer": row.edited_answer,
            "created_at": as_utc(row.created_at),
        }
    )


def to_review_item(row: Any) -> ReviewItem:
    """The ReviewItem a reviews row (ORM or Core) holds."""
    return ReviewItem.model_validate(
        {
            "id": row.id,
            "request_id": row.request_id,
            "question": row.question,
            "answer": row.answer,
            "confidence": row.confidence,
            "reason": row.reason,
            "status": row.status,
            "edited_answer": row.edited_answer,
            "reviewer": row.reviewer,
            "created_at": as_utc(row.created_at),
            "resolved_at": row.resolved_at and as_utc(row.resolved_at),
        }
    )


_MOMENTS = ("next_try_at", "delivered_at", "lease_until", "created_at")


def escalation_values(escalation: Escalation) -> dict[str, Any]:
    """`escalation`'s storable row by column name."""
    data = escalation.model_dump(mode="json", exclude=set(_MOMENTS))
    for name in _MOMENTS:
        moment = getattr(escalation, name)
        data[name] = moment and as_utc(moment)
    return storable_row(data)


def to_escalation(row: Any) -> Escalation:
    """The Escalation an escalations row (ORM or Core) holds."""
    data = {name: getattr(row, name) for name in Escalation.model_fields}
    for name in _MOMENTS:
        data[name] = data[name] and as_utc(data[name])
    return Escalation.model_validate(data)


# The console's tables join the same metadata (and so the same schema revision).
from confguard.store import console_schema  # noqa: E402, F401
