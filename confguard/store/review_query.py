"""The console's queue: review cases filtered, sorted and paged in the database."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import Engine, func, select
from sqlalchemy.sql import ColumnElement, Select

from confguard.exceptions import InputError, UnknownReviewError
from confguard.store.accounts import transaction
from confguard.store.base import ReviewItem, utcnow
from confguard.store.engine import masked
from confguard.store.schema import DECISIONS, REVIEWS, to_review_item

StatusFilter = Literal["pending", "resolved", "all", "approved", "edited", "rejected"]
Sort = Literal["oldest", "newest", "confidence", "-confidence"]

_ORDER = {
    "oldest": (REVIEWS.c.created_at, REVIEWS.c.id),
    "newest": (REVIEWS.c.created_at.desc(), REVIEWS.c.id.desc()),
    "confidence": (REVIEWS.c.confidence, REVIEWS.c.id),
    "-confidence": (REVIEWS.c.confidence.desc(), REVIEWS.c.id),
}


class ReviewQuery(BaseModel):
    """Which cases to list: filters, order and page (all optional)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    status: StatusFilter = "pending"
    route: str | None = None
    """Cases whose escalate decision went to this route."""
    min_confidence: float | None = Field(default=None, ge=0.0, le=1.0)
    max_confidence: float | None = Field(default=None, ge=0.0, le=1.0)
    min_age_hours: float | None = Field(default=None, ge=0.0)
    max_age_hours: float | None = Field(default=None, ge=0.0)
    failed_signal: str | None = None
    """Cases in which this signal failed or was skipped (gave no evidence)."""
    sort: Sort = "oldest"
    page: int = Field(default=1, ge=1)
    per_page: int = Field(default=25, ge=1, le=500)

    @classmethod
    def parse(cls, fields: dict[str, Any]) -> ReviewQuery:
        """A query from form or URL fields (empty ones left out); InputError naming
        the first unusable field."""
        given = {k: v for k, v in fields.items() if v not in ("", None)}
        try:
            return cls.model_validate(given)
        except ValidationError as exc:
            error = exc.errors()[0]
            where = ".".join(str(part) for part in error["loc"])
            raise InputError(f"filter {where}: {error['msg']}") from None


class ReviewPage(BaseModel):
    """One page of cases, how many match in all, and the queue's counts by status."""

    model_config = ConfigDict(frozen=True)

    items: tuple[ReviewItem, ...]
    total: int
    page: int
    pages: int
    counts: dict[str, int]


def conditions(query: ReviewQuery) -> list[ColumnElement[bool]]:
    c, now = REVIEWS.c, utcnow()
    found: list[ColumnElement[bool]] = []
    if query.status == "resolved":
        found.append(c.status != "pending")
    elif query.status != "all":
        found.append(c.status == query.status)
    if query.min_confidence is not None:
        found.append(c.confidence >= query.min_confidence)
    if query.max_confidence is not None:
        found.append(c.confidence <= query.max_confidence)
    if query.min_age_hours is not None:
        found.append(c.created_at <= now - timedelta(hours=query.min_age_hours))
    if query.max_age_hours is not None:
        found.append(c.created_at >= now - timedelta(hours=query.max_age_hours))
    if query.route is not None:
        routed = select(DECISIONS.c.request_id).where(DECISIONS.c.route == query.route)
        found.append(c.request_id.in_(routed))
    return found


def _gave_no_evidence(signals: Sequence[dict[str, Any]], name: str) -> bool:
    return any(s.get("name") == name and s.get("status") != "ok" for s in signals)


class ReviewQueue:
    """Filtered, sorted, paged reads of the review queue on one engine."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def page(self, query: ReviewQuery) -> ReviewPage:
        """The page of cases `query` asks for."""
        where = conditions(query)
        with transaction(self.engine, "list reviews") as connection:
            if query.failed_signal is not None:
                where.append(REVIEWS.c.id.in_(self._failing(connection, query, where)))
            total = connection.execute(
                select(func.count()).select_from(REVIEWS).where(*where)
            ).scalar_one()
            rows = connection.execute(self._listing(query, where)).all()
            counts: dict[str, int] = dict(
                connection.execute(
                    select(REVIEWS.c.status, func.count()).group_by(REVIEWS.c.status)
                ).all()
            )
        return ReviewPage(
            items=tuple(to_review_item(row) for row in rows),
            total=total,
            page=query.page,
            pages=max(1, math.ceil(total / query.per_page)),
            counts={k: counts.get(k, 0) for k in ("pending", *_RESOLVED)},
        )

    def _listing(
        self, query: ReviewQuery, where: list[ColumnElement[bool]]
    ) -> Select[Any]:
        return (
            select(REVIEWS)
            .where(*where)
            .order_by(*_ORDER[query.sort])
            .limit(query.per_page)
            .offset((query.page - 1) * query.per_page)
        )

    def _failing(
        self, connection: Any, query: ReviewQuery, where: list[ColumnElement[bool]]
    ) -> list[str]:
        """Ids of matching cases whose decisions show the signal without evidence."""
        name = query.failed_signal or ""
        rows = connection.execute(
            select(REVIEWS.c.id, DECISIONS.c.signals)
            .join(DECISIONS, DECISIONS.c.request_id == REVIEWS.c.request_id)
            .where(*where)
        ).all()
        return sorted(
            {rid for rid, signals in rows if _gave_no_evidence(signals, name)}
        )

    def get(self, review_id: str) -> ReviewItem:
        """The case `review_id`; UnknownReviewError if there is none."""
        query = select(REVIEWS).where(REVIEWS.c.id == review_id)
        with transaction(self.engine, "read a review") as connection:
            row = connection.execute(query).first()
        if row is None:
            raise UnknownReviewError(review_id, masked(self.engine.url))
        return to_review_item(row)

    def signal_names(self) -> list[str]:
        """Every signal name in the latest decisions, for the filter's choices."""
        with transaction(self.engine, "list signals") as connection:
            rows = connection.execute(
                select(DECISIONS.c.signals).order_by(DECISIONS.c.id.desc()).limit(500)
            ).scalars()
            return sorted({s.get("name", "") for signals in rows for s in signals})

    def routes(self) -> list[str]:
        """Every route an escalate decision named."""
        with transaction(self.engine, "list routes") as connection:
            rows = connection.execute(
                select(DECISIONS.c.route)
                .where(DECISIONS.c.action == "escalate")
                .distinct()
            ).scalars()
            return sorted(r for r in rows if r)


_RESOLVED = ("approved", "edited", "rejected")

__all__ = ["ReviewPage", "ReviewQuery", "ReviewQueue", "Sort", "StatusFilter"]
