"""A durable audit store on SQLAlchemy: SQLite by default, PostgreSQL by URL."""

from __future__ import annotations

import asyncio
import contextvars
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, contextmanager, nullcontext
from functools import partial
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

from sqlalchemy import (
    Connection,
    Engine,
    Table,
    create_engine,
    event,
    insert,
    select,
    update,
)
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, SQLAlchemyError
from sqlalchemy.orm import sessionmaker
from sqlalchemy.pool import StaticPool
from sqlalchemy.sql import Select

from confguard.exceptions import StoreError, UnknownReviewError
from confguard.store.base import (
    AuditRecord,
    BaseStore,
    ReviewEvent,
    ReviewItem,
    ReviewRequest,
    ReviewStatus,
    Verdict,
)
from confguard.store.migrate import prepare, upgrade
from confguard.store.schema import (
    DECISIONS,
    REVIEW_EVENTS,
    REVIEWS,
    SCHEMA_REVISION,
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
from confguard.store.text import storable_json

T = TypeVar("T")

DEFAULT_URL = "sqlite:///confguard-audit.sqlite"


def masked(url: str | URL) -> str:
    """`url` with its password replaced by ``***``, fit for messages and logs."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<unparseable URL>"


def _parse(url: str) -> URL:
    try:
        return make_url(url)
    except ArgumentError as exc:
        raise StoreError(f"not a database URL: {masked(url)} ({exc})") from exc


def _in_memory(url: URL) -> bool:
    return url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:")


def _engine_options(url: URL) -> dict[str, Any]:
    options: dict[str, Any] = {"json_serializer": storable_json}
    if _in_memory(url):
        # One shared connection, or every thread would see its own empty database.
        options["poolclass"] = StaticPool
        options["connect_args"] = {"check_same_thread": False}
    return options


def _make_sqlite_folder(url: URL) -> None:
    if url.get_backend_name() != "sqlite" or _in_memory(url):
        return
    database = url.database or ""
    if not database.startswith("file:"):
        Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)


def _tune_sqlite(engine: Engine, busy_timeout: float) -> None:
    statements = (
        "PRAGMA journal_mode=WAL",
        # WAL with NORMAL stays consistent after a crash and skips an fsync per commit.
        "PRAGMA synchronous=NORMAL",
        f"PRAGMA busy_timeout={round(busy_timeout * 1000)}",
    )
    event.listen(engine, "connect", _run_on_connect(statements, commit=False))


def _tune_postgresql(engine: Engine, busy_timeout: float) -> None:
    # The counterpart of SQLite's busy timeout: a write blocked by a lock fails.
    statement = f"SET lock_timeout = {round(busy_timeout * 1000)}"
    event.listen(engine, "connect", _run_on_connect((statement,), commit=True))


def _run_on_connect(
    statements: tuple[str, ...], *, commit: bool
) -> Callable[[Any, Any], None]:
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        for statement in statements:
            cursor.execute(statement)
        cursor.close()
        if commit:  # a SET inside a transaction that is rolled back would not stick
            dbapi_connection.commit()

    return on_connect


_TUNERS: dict[str, Callable[[Engine, float], None]] = {
    "sqlite": _tune_sqlite,
    "postgresql": _tune_postgresql,
}


def _reason(exc: BaseException) -> str:
    """The driver's own message, without SQLAlchemy's statement dump."""
    original = getattr(exc, "orig", None)
    text = str(original if original is not None else exc).strip()
    if isinstance(exc, ModuleNotFoundError):
        text += " (for PostgreSQL: pip install 'confguard[postgres]')"
    return text.splitlines()[0] if text else type(exc).__name__


def new_engine(url: str, *, echo: bool = False, busy_timeout: float = 5.0) -> Engine:
    """An engine on `url`, tuned, not connected yet and its schema not checked."""
    parsed = _parse(url)
    try:
        _make_sqlite_folder(parsed)
        engine = create_engine(parsed, echo=echo, **_engine_options(parsed))
    except (OSError, ImportError, ArgumentError, NoSuchModuleError) as exc:
        raise StoreError(
            f"cannot open audit store {masked(parsed)}: {_reason(exc)}"
        ) from exc
    tune = _TUNERS.get(parsed.get_backend_name())
    if tune is not None:
        tune(engine, busy_timeout)
    return engine


def open_engine(url: str, *, echo: bool = False, busy_timeout: float = 5.0) -> Engine:
    """An engine on `url`, tuned, connected and with confguard's schema up to date.

    A new store's tables are created; an outdated one raises StoreError naming
    `confguard db upgrade`.

    Example:
        >>> from sqlalchemy import inspect
        >>> inspect(open_engine("sqlite://")).get_table_names()
        ['confguard_schema_version', 'decisions', 'escalations', 'review_events',
         'reviews']
    """
    engine = new_engine(url, echo=echo, busy_timeout=busy_timeout)
    try:
        prepare(engine, masked(url))  # also proves that we can connect
    except SQLAlchemyError as exc:
        engine.dispose()
        raise StoreError(
            f"cannot connect to audit store {masked(url)}: {_reason(exc)}"
        ) from exc
    except StoreError:
        engine.dispose()
        raise
    return engine


def upgrade_store(url: str) -> tuple[str | None, str]:
    """Bring the store at `url` to the current schema: (revision before, after).

    Example:
        >>> upgrade_store("sqlite://")
        (None, '0002')
    """
    engine = new_engine(url)
    try:
        return upgrade(engine), SCHEMA_REVISION
    except SQLAlchemyError as exc:
        raise StoreError(
            f"cannot upgrade audit store {masked(url)}: {_reason(exc)}"
        ) from exc
    finally:
        engine.dispose()


class SQLStore(SQLOutbox, BaseStore):
    """An AuditStore in a SQL database: SQLite by default, PostgreSQL by URL.

    Connects at construction, creating a new store's tables or refusing an outdated
    schema (see `confguard db upgrade`). Writes are serialised (SQLite has one
    writer); the async methods run in threads so they never block the loop. Text
    that no database can hold is repaired on the way in (see `confguard.store.text`).

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
        busy_timeout: float = 5.0,
    ) -> None:
        self.url = masked(url)
        """The store's URL with the password masked."""
        self.store_answers = store_answers
        """Whether answers are kept in full (always as a digest)."""
        self._engine = open_engine(url, echo=echo, busy_timeout=busy_timeout)
        self._sessions = sessionmaker(self._engine, expire_on_commit=False)
        self._write_lock = threading.Lock()
        # A shared in-memory connection must not be read while it is being written.
        self._read_lock: AbstractContextManager[Any] = (
            self._write_lock if _in_memory(self._engine.url) else nullcontext()
        )
        self._writer = ThreadPoolExecutor(1, thread_name_prefix="confguard-store")
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
        values = self._serialise(
            decision_values, record, keep_answer=self.store_answers
        )
        self._insert(DECISIONS, values)

    async def arecord(self, record: AuditRecord) -> None:
        """Append one decision to the log, in the store's writer thread."""
        await self._in_writer(self.record, record)

    def _add_review(self, item: ReviewItem) -> None:
        self._insert(REVIEWS, review_values(item))

    async def aenqueue_review(self, request: ReviewRequest) -> str:
        """Put a case in the review queue, in the store's writer thread."""
        return await self._in_writer(self.enqueue_review, request)

    def _resolve(self, event: ReviewEvent) -> ReviewItem:
        pending = (REVIEWS.c.id == event.review_id) & (REVIEWS.c.status == "pending")
        changes = self._serialise(verdict_values, event)
        with self._transaction() as connection:
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

    async def aresolve_review(
        self,
        review_id: str,
        verdict: Verdict,
        *,
        edited_answer: str | None = None,
        reviewer: str | None = None,
        note: str | None = None,
    ) -> ReviewItem:
        """`resolve_review`, in the store's writer thread."""
        resolve = partial(
            self.resolve_review,
            edited_answer=edited_answer,
            reviewer=reviewer,
            note=note,
        )
        return await self._in_writer(resolve, review_id, verdict)

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
        self._closed = True
        self._writer.shutdown(wait=True)
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
            with self._write_lock, self._engine.begin() as connection:
                yield connection
        except SQLAlchemyError as exc:
            raise StoreError(f"{self!r} could not write: {_reason(exc)}") from exc

    def _select(self, query: Select[T]) -> list[T]:
        self._check_open()
        try:
            with self._read_lock, self._sessions() as session:
                return list(session.scalars(query))
        except SQLAlchemyError as exc:
            raise StoreError(f"{self!r} could not read: {_reason(exc)}") from exc

    def _reviews(
        self, status: ReviewStatus | None, limit: int | None
    ) -> list[ReviewItem]:
        query = select(ReviewRow).order_by(ReviewRow.created_at, ReviewRow.id)
        if status is not None:
            query = query.where(ReviewRow.status == status)
        return [to_review_item(row) for row in self._select(query.limit(limit))]

    async def _in_writer(self, work: Callable[..., T], *args: Any) -> T:
        self._check_open()
        context = contextvars.copy_context()
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._writer, context.run, work, *args)
        except RuntimeError as exc:
            if self._closed:  # shut down between the check and the submission
                raise StoreError(f"{self!r} is closed") from exc
            raise
