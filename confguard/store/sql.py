"""A durable audit store on SQLAlchemy: SQLite by default, PostgreSQL by URL."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, Table, insert, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.sql import Select

from confguard.exceptions import StoreError, StoreUnavailableError, UnknownReviewError
from confguard.store.base import (
    AuditRecord,
    BaseStore,
    Reviewed,
    ReviewEvent,
    ReviewItem,
    ReviewStatus,
)
from confguard.store.deadline import Watchdog
from confguard.store.engine import (
    DEFAULT_URL,
    Limits,
    in_memory,
    masked,
    new_engine,
    open_engine,
    spool_directory,
    store_error,
    upgrade_store,
)
from confguard.store.group_commit import GroupCommit, Rows
from confguard.store.schema import (
    DECISIONS,
    REVIEW_EVENTS,
    REVIEWS,
    DecisionRow,
    ReviewEventRow,
    ReviewRow,
    decision_values,
    event_values,
    review_values,
    to_audit_record,
    to_review_event,
    to_review_item,
    verdict_values,
)
from confguard.store.sql_outbox import SQLOutbox

T = TypeVar("T")


class SQLStore(SQLOutbox, BaseStore):
    """An AuditStore in a SQL database: SQLite by default, PostgreSQL by URL.

    Connects at construction, creating a new store's tables or refusing an outdated
    schema (see `confguard db upgrade`). Writes are serialised (SQLite has one
    writer); the async methods run in threads so they never block the loop. Text
    that no database can hold is repaired on the way in (see `confguard.store.text`).

    Every wait on the database is bounded (seconds; None: no limit):
    `connect_timeout` to connect, `statement_timeout` per transaction (interrupted
    by the client if the server never answers), `pool_timeout` for a pooled
    connection, `busy_timeout` for another writer's lock. A database that does not
    answer in time raises `StoreUnavailableError`; a guard then spools the record
    (see `confguard.store.spooling`) in `spool_directory`.

    Example (``"sqlite:///audit/confguard.sqlite"`` or ``"postgresql+psycopg://..."``
    in real use; ``"sqlite://"`` is in memory):
        >>> from confguard.store import ReviewRequest, SQLStore
        >>> with SQLStore("sqlite://") as store:
        ...     case = ReviewRequest(
        ...         request_id="r1", question="Who wrote Dune?", answer="Asimov",
        ...         confidence=0.3, reason="confidence 0.30 < 0.5")
        ...     review_id = store.enqueue_review(case)
        ...     store.resolve_review(review_id, "rejected", reviewer="ada").label
        ...     store.labels()
        False
        [(0.3, False)]
    """

    def __init__(
        self,
        url: str = DEFAULT_URL,
        *,
        store_answers: bool = False,
        echo: bool = False,
        connect_timeout: float | None = 5.0,
        statement_timeout: float | None = 5.0,
        pool_timeout: float | None = 5.0,
        busy_timeout: float = 5.0,
    ) -> None:
        self.url = masked(url)
        """The store's URL with the password masked."""
        self.store_answers = store_answers
        """Whether answers are kept in full (always as a digest)."""
        self.limits = Limits(
            connect_timeout, statement_timeout, pool_timeout, busy_timeout
        )
        """How long the store waits on its database."""
        self._engine = open_engine(url, echo=echo, limits=self.limits)
        self.spool_directory: Path | None = spool_directory(self._engine.url)
        """Where a guard spools the records this store could not take."""
        self._sessions = sessionmaker(self._engine, expire_on_commit=False)
        self._watchdog = Watchdog(statement_timeout, name="confguard-store-watchdog")
        self._write_lock = threading.Lock()
        # A shared in-memory connection must not be read while it is being written.
        self._read_lock: AbstractContextManager[Any] = (
            self._write_lock if in_memory(self._engine.url) else nullcontext()
        )
        self._commits = GroupCommit(self._transaction, name="confguard-store")
        self._closed = False

    @property
    def engine(self) -> Engine:
        """The SQLAlchemy engine, for queries of your own."""
        return self._engine

    def __repr__(self) -> str:
        return f"SQLStore({self.url!r})"

    # -- writes ---------------------------------------------------------------

    def record(self, record: AuditRecord) -> None:
        """Append one decision to the log."""
        self._commits.run(self._decision(record))

    async def arecord(self, record: AuditRecord) -> None:
        """Append one decision, committed with whatever else is queued (one commit
        for a burst of concurrent writes; see `confguard.store.group_commit`)."""
        await self._commits.arun(self._decision(record))

    def _decision(self, record: AuditRecord) -> Rows:
        values = self._serialise(
            decision_values, record, keep_answer=self.store_answers
        )
        return Rows.of(DECISIONS, values)

    def _add_review(self, item: ReviewItem) -> None:
        self._commits.run(Rows.of(REVIEWS, review_values(item)))

    async def _aadd_review(self, item: ReviewItem) -> None:
        await self._commits.arun(Rows.of(REVIEWS, review_values(item)))

    def _resolve(self, event: ReviewEvent) -> ReviewItem:
        return self._commits.run(lambda connection: self._resolve_in(event, connection))

    async def _aresolve(self, event: ReviewEvent) -> ReviewItem:
        return await self._commits.arun(
            lambda connection: self._resolve_in(event, connection)
        )

    def _resolve_in(self, event: ReviewEvent, connection: Connection) -> ReviewItem:
        pending = (REVIEWS.c.id == event.review_id) & (REVIEWS.c.status == "pending")
        changes = self._serialise(verdict_values, event)
        # Compare-and-set: the database lets exactly one UPDATE match the row.
        won = connection.execute(update(REVIEWS).where(pending).values(changes))
        row = connection.execute(
            select(REVIEWS).where(REVIEWS.c.id == event.review_id)
        ).first()
        if row is None:
            raise UnknownReviewError(event.review_id, self.url)
        if won.rowcount != 1:
            raise to_review_item(row).conflict()
        connection.execute(insert(REVIEW_EVENTS), event_values(event))
        return to_review_item(row)

    def review_history(self, review_id: str) -> list[ReviewEvent]:
        """Every verdict given on `review_id`, oldest first (append-only)."""
        query = (
            select(ReviewEventRow)
            .where(ReviewEventRow.review_id == review_id)
            .order_by(ReviewEventRow.id)
        )
        return [to_review_event(row) for row in self._select(query)]

    # -- reads ----------------------------------------------------------------

    def decisions(
        self, request_id: str | None = None, limit: int = 1000
    ) -> list[AuditRecord]:
        """Logged decisions, oldest first, optionally of one request only."""
        query = select(DecisionRow).order_by(DecisionRow.id).limit(limit)
        if request_id is not None:
            query = query.where(DecisionRow.request_id == request_id)
        return [to_audit_record(row) for row in self._select(query)]

    async def adecisions(
        self, request_id: str | None = None, limit: int = 1000
    ) -> list[AuditRecord]:
        """Logged decisions, oldest first, read in a worker thread."""
        return await asyncio.to_thread(self.decisions, request_id, limit)

    def reviews(self, status: ReviewStatus | None = None) -> list[ReviewItem]:
        """Review queue entries, oldest first, optionally with one status only."""
        return self._reviews(status, limit=None)

    def reviewed(self) -> list[Reviewed]:
        """Every resolved review, oldest first, with its request's last decision.

        One query (a review joined with its request's decisions), not one per
        review, which took 3.5 s for 5,000 verdicts on PostgreSQL (now 0.97 s).
        """
        query = (
            select(ReviewRow, DecisionRow)
            .outerjoin(DecisionRow, DecisionRow.request_id == ReviewRow.request_id)
            .where(ReviewRow.status != "pending")
            .order_by(ReviewRow.created_at, ReviewRow.id, DecisionRow.id)
        )
        with self._reading() as session:
            rows = session.execute(query).all()
            last = {review.id: (review, decision) for review, decision in rows}
            return [
                Reviewed(
                    item=to_review_item(review),
                    decision=None if decision is None else to_audit_record(decision),
                )
                for review, decision in last.values()
            ]

    async def areviewed(self) -> list[Reviewed]:
        """`reviewed`, read in a worker thread."""
        return await asyncio.to_thread(self.reviewed)

    async def areviews(self, status: ReviewStatus | None = None) -> list[ReviewItem]:
        """Review queue entries, read in a worker thread."""
        return await asyncio.to_thread(self.reviews, status)

    def pending_reviews(self, limit: int = 100) -> list[ReviewItem]:
        """The oldest `limit` cases still waiting for a reviewer."""
        return self._reviews("pending", limit=limit)

    async def apending_reviews(self, limit: int = 100) -> list[ReviewItem]:
        """The oldest `limit` waiting cases, read in a worker thread."""
        return await asyncio.to_thread(self.pending_reviews, limit)

    def labels(self) -> list[tuple[float, bool]]:
        """(confidence, answer was right) of every resolved review with a confidence.

        Approved answers are right; edited and rejected ones are wrong.
        """
        return [
            (item.confidence, item.status == "approved")
            for item in self.reviews()
            if item.status != "pending" and item.confidence is not None
        ]

    async def alabels(self) -> list[tuple[float, bool]]:
        """Calibration labels from resolved reviews, read in a worker thread."""
        return await asyncio.to_thread(self.labels)

    # -- lifecycle ------------------------------------------------------------

    def close(self) -> None:
        """Finish queued writes and release every connection; idempotent."""
        if self._closed:
            return
        self._commits.close()  # commits what is queued, then refuses more
        self._closed = True
        self._watchdog.stop()
        self._engine.dispose()

    async def aclose(self) -> None:
        """Finish queued writes and release every connection, in a worker thread."""
        await asyncio.to_thread(self.close)

    def __enter__(self) -> SQLStore:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    async def __aenter__(self) -> SQLStore:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    # -- plumbing -------------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise StoreError(f"{self!r} is closed")

    def _serialise(
        self, convert: Callable[..., dict[str, Any]], *args: Any, **kwargs: Any
    ) -> dict[str, Any]:
        try:
            return convert(*args, **kwargs)
        except ValueError as exc:  # pydantic's serialisation errors are ValueErrors
            raise StoreError(f"{self!r} cannot serialise the record: {exc}") from exc

    def _insert(self, table: Table, values: dict[str, Any]) -> None:
        with self._transaction() as connection:
            connection.execute(insert(table), values)

    @contextmanager
    def _transaction(self) -> Iterator[Connection]:
        """A connection committed as one transaction, one writer at a time."""
        self._check_open()
        try:
            with (
                self._writing(),
                self._engine.connect() as connection,
                self._watched(connection),
                connection.begin(),
            ):
                yield connection
        except SQLAlchemyError as exc:
            raise store_error(f"{self!r} could not write", exc) from exc

    @contextmanager
    def _writing(self) -> Iterator[None]:
        limit = self.limits.statement
        if not self._write_lock.acquire(timeout=-1 if limit is None else limit):
            raise StoreUnavailableError(
                f"{self!r} is busy: a write has held it for more than {limit:g}s"
            )
        try:
            yield
        finally:
            self._write_lock.release()

    def _watched(
        self, connection: Connection | Session
    ) -> AbstractContextManager[None]:
        """The watchdog on `connection`'s driver connection, against stalls."""
        if isinstance(connection, Session):
            connection = connection.connection()
        return self._watchdog.watching(connection.connection.dbapi_connection)

    @contextmanager
    def _reading(self) -> Iterator[Session]:
        self._check_open()
        try:
            with self._read_lock, self._sessions() as session, self._watched(session):
                yield session
        except SQLAlchemyError as exc:
            raise store_error(f"{self!r} could not read", exc) from exc

    def _select(self, query: Select[T]) -> list[T]:
        with self._reading() as session:
            return list(session.scalars(query))

    def _reviews(
        self, status: ReviewStatus | None, limit: int | None
    ) -> list[ReviewItem]:
        query = select(ReviewRow).order_by(ReviewRow.created_at, ReviewRow.id)
        if status is not None:
            query = query.where(ReviewRow.status == status)
        return [to_review_item(row) for row in self._select(query.limit(limit))]


__all__ = [
    "DEFAULT_URL",
    "Limits",
    "SQLStore",
    "masked",
    "new_engine",
    "open_engine",
    "upgrade_store",
]
