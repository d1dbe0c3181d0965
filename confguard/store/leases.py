"""Review leases: a reviewer who opens a case holds it, so no one else is given it.

A lease is a row (review id, holder, until) taken by one conditional statement: an
UPDATE that matches only a lease already expired or already ours, else an INSERT
that the primary key lets only one writer make. On SQLite and PostgreSQL alike,
and across processes: several console replicas on one database behave as one. The
store's compare-and-set resolution (`ReviewConflictError`) stays the backstop.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from pydantic import BaseModel, ConfigDict
from sqlalchemy import Engine, and_, delete, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from confguard.exceptions import ReviewLeasedError, UnknownReviewError
from confguard.store.accounts import transaction
from confguard.store.base import ReviewItem, utcnow
from confguard.store.console_schema import LEASES
from confguard.store.engine import masked
from confguard.store.review_query import ReviewQuery, conditions
from confguard.store.schema import REVIEWS, as_utc, to_review_item

DEFAULT_LEASE_SECONDS = 600.0
"""How long an opened case stays with its reviewer without a renewal."""


_ROUNDS = 20
"""How often `claim_next` looks again when others took every case it found."""


class Lease(BaseModel):
    """Who holds a review case, until when."""

    model_config = ConfigDict(frozen=True)

    review_id: str
    holder: str
    until: datetime


class Leases:
    """Take, renew, release and read review leases on one engine."""

    def __init__(self, engine: Engine, seconds: float = DEFAULT_LEASE_SECONDS) -> None:
        self.engine = engine
        self.seconds = seconds

    def claim(self, review_id: str, holder: str) -> Lease:
        """Hold `review_id` for `holder` (or renew it); ReviewLeasedError if taken.

        Raises UnknownReviewError if there is no such review.
        """
        self._check_exists(review_id)
        now = utcnow()
        until = now + timedelta(seconds=self.seconds)
        mine_or_free = and_(
            LEASES.c.review_id == review_id,
            or_(LEASES.c.holder == holder, LEASES.c.until < now),
        )
        with transaction(self.engine, "renew a lease") as connection:
            renewed = connection.execute(
                update(LEASES).where(mine_or_free).values(holder=holder, until=until)
            ).rowcount
        if renewed == 1:
            return Lease(review_id=review_id, holder=holder, until=until)
        try:
            with transaction(self.engine, "take a lease") as connection:
                connection.execute(
                    insert(LEASES),
                    {"review_id": review_id, "holder": holder, "until": until},
                )
        except IntegrityError:
            raise self._held(review_id) from None
        return Lease(review_id=review_id, holder=holder, until=until)

    def claim_next(
        self, holder: str, query: ReviewQuery | None = None
    ) -> ReviewItem | None:
        """The case `holder` holds already, else the next free pending one, leased.

        None when every matching pending case is held by someone else (or none is left).
        """
        query = (query or ReviewQuery()).model_copy(update={"status": "pending"})
        for _ in range(_ROUNDS):
            candidates = self._candidates(holder, query)
            if not candidates:
                return None
            for item in candidates:
                try:
                    self.claim(item.id, holder)
                except ReviewLeasedError:
                    continue  # another reviewer took it a moment ago: try the next
                return item
            # Every candidate was taken meanwhile: look again past them.
        return None

    def release(self, review_id: str, holder: str | None = None) -> None:
        """Give a case back (any holder's, if `holder` is None)."""
        where = LEASES.c.review_id == review_id
        if holder is not None:
            where = and_(where, LEASES.c.holder == holder)
        with transaction(self.engine, "release a lease") as connection:
            connection.execute(delete(LEASES).where(where))

    def active(self, review_ids: list[str] | None = None) -> dict[str, Lease]:
        """The unexpired leases, by review id (of `review_ids` only, if given)."""
        query = select(LEASES).where(LEASES.c.until >= utcnow())
        if review_ids is not None:
            query = query.where(LEASES.c.review_id.in_(review_ids))
        with transaction(self.engine, "read leases") as connection:
            rows = connection.execute(query).all()
        return {
            r.review_id: Lease(
                review_id=r.review_id, holder=r.holder, until=as_utc(r.until)
            )
            for r in rows
        }

    def _candidates(self, holder: str, query: ReviewQuery) -> list[ReviewItem]:
        now = utcnow()
        held = select(LEASES.c.review_id).where(LEASES.c.until >= now)
        mine = held.where(LEASES.c.holder == holder)
        where = conditions(query)
        with transaction(self.engine, "find free cases") as connection:
            rows = connection.execute(
                select(REVIEWS)
                .where(*where)
                .where(or_(REVIEWS.c.id.in_(mine), REVIEWS.c.id.not_in(held)))
                .order_by(
                    REVIEWS.c.id.in_(mine).desc(), REVIEWS.c.created_at, REVIEWS.c.id
                )
                .limit(20)
            ).all()
        return [to_review_item(row) for row in rows]

    def _check_exists(self, review_id: str) -> None:
        with transaction(self.engine, "find a review") as connection:
            found = connection.execute(
                select(REVIEWS.c.id).where(REVIEWS.c.id == review_id)
            ).first()
        if found is None:
            raise UnknownReviewError(review_id, masked(self.engine.url))

    def _held(self, review_id: str) -> ReviewLeasedError:
        lease = self.active([review_id]).get(review_id)
        if lease is None:  # it expired between our two statements: say so plainly
            return ReviewLeasedError(
                review_id, holder="another reviewer", until=utcnow()
            )
        return ReviewLeasedError(review_id, holder=lease.holder, until=lease.until)


__all__ = ["DEFAULT_LEASE_SECONDS", "Lease", "Leases"]
