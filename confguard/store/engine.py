"""Engines for the SQL store: URL parsing, tuning, time limits, schema, errors."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import (
    ArgumentError,
    DisconnectionError,
    InterfaceError,
    NoSuchModuleError,
    OperationalError,
    SQLAlchemyError,
)
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.pool import StaticPool

from confguard.exceptions import StoreError, StoreUnavailableError
from confguard.paths import state_dir
from confguard.store.migrate import prepare, upgrade
from confguard.store.schema import SCHEMA_REVISION
from confguard.store.text import storable_json

DEFAULT_URL = "sqlite:///confguard-audit.sqlite"

_UNAVAILABLE = (OperationalError, InterfaceError, DisconnectionError, PoolTimeoutError)
"""Errors that mean the database did not answer, not that the write was wrong."""


@dataclass(frozen=True)
class Limits:
    """How long a SQL store waits on its database, in seconds (None: no limit).

    `connect`: to open a connection (PostgreSQL's libpq counts whole seconds, at
    least 2). `statement`: one transaction's statements and commit, enforced by the
    client (see `confguard.store.deadline`) and, on PostgreSQL, by the server's
    `statement_timeout`; also the longest wait for the store's own write lock.
    `pool`: for a free pooled connection. `busy`: for a lock another writer holds
    (SQLite's busy timeout, PostgreSQL's `lock_timeout`).
    """

    connect: float | None = 5.0
    statement: float | None = 5.0
    pool: float | None = 5.0
    busy: float = 5.0

    @property
    def operation(self) -> float | None:
        """The longest one write can wait in all before it gives up."""
        parts = (self.statement, self.pool, self.connect, self.statement)
        return None if None in parts else sum(p for p in parts if p is not None)


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


def in_memory(url: URL) -> bool:
    """Whether `url` is an in-memory SQLite database (gone when the process is)."""
    return url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:")


def _engine_options(url: URL, limits: Limits) -> dict[str, Any]:
    options: dict[str, Any] = {"json_serializer": storable_json}
    if in_memory(url):
        # One shared connection, or every thread would see its own empty database.
        options["poolclass"] = StaticPool
        options["connect_args"] = {"check_same_thread": False}
        return options
    if limits.pool is not None:
        options["pool_timeout"] = limits.pool
    if url.get_backend_name() == "postgresql" and limits.connect is not None:
        options["connect_args"] = {"connect_timeout": max(2, math.ceil(limits.connect))}
    return options


def _make_sqlite_folder(url: URL) -> None:
    if url.get_backend_name() != "sqlite" or in_memory(url):
        return
    database = url.database or ""
    if not database.startswith("file:"):
        Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)


def _tune_sqlite(engine: Engine, limits: Limits) -> None:
    statements = (
        "PRAGMA journal_mode=WAL",
        # WAL with NORMAL stays consistent after a crash and skips an fsync per commit.
        "PRAGMA synchronous=NORMAL",
        f"PRAGMA busy_timeout={round(limits.busy * 1000)}",
    )
    event.listen(engine, "connect", _run_on_connect(statements, commit=False))


def _tune_postgresql(engine: Engine, limits: Limits) -> None:
    # The counterpart of SQLite's busy timeout: a write blocked by a lock fails.
    statements = [f"SET lock_timeout = {round(limits.busy * 1000)}"]
    if limits.statement is not None:
        statements.append(f"SET statement_timeout = {round(limits.statement * 1000)}")
    event.listen(engine, "connect", _run_on_connect(tuple(statements), commit=True))


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


_TUNERS: dict[str, Callable[[Engine, Limits], None]] = {
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


def store_error(message: str, exc: SQLAlchemyError) -> StoreError:
    """`message` and the driver's reason, as StoreUnavailableError if it was that."""
    invalidated = getattr(exc, "connection_invalidated", False)
    unavailable = isinstance(exc, _UNAVAILABLE) or invalidated
    kind = StoreUnavailableError if unavailable else StoreError
    return kind(f"{message}: {_reason(exc)}")


def new_engine(url: str, *, echo: bool = False, limits: Limits | None = None) -> Engine:
    """An engine on `url`, tuned, not connected yet and its schema not checked."""
    parsed, limits = _parse(url), limits or Limits()
    try:
        _make_sqlite_folder(parsed)
        engine = create_engine(parsed, echo=echo, **_engine_options(parsed, limits))
    except (OSError, ImportError, ArgumentError, NoSuchModuleError) as exc:
        raise StoreError(
            f"cannot open audit store {masked(parsed)}: {_reason(exc)}"
        ) from exc
    tune = _TUNERS.get(parsed.get_backend_name())
    if tune is not None:
        tune(engine, limits)
    return engine


def open_engine(
    url: str, *, echo: bool = False, limits: Limits | None = None
) -> Engine:
    """An engine on `url`, tuned, connected and with confguard's schema up to date.

    A new store's tables are created; an outdated one raises StoreError naming
    `confguard db upgrade`.

    Example:
        >>> from sqlalchemy import inspect
        >>> inspect(open_engine("sqlite://")).get_table_names()
        ['accounts', 'api_tokens', 'confguard_schema_version', 'console_settings',
         'decisions', 'escalations', 'login_failures', 'policy_versions',
         'review_events', 'review_leases', 'reviews']
    """
    engine = new_engine(url, echo=echo, limits=limits)
    try:
        prepare(engine, masked(url))  # also proves that we can connect
    except SQLAlchemyError as exc:
        engine.dispose()
        raise store_error(f"cannot connect to audit store {masked(url)}", exc) from exc
    except StoreError:
        engine.dispose()
        raise
    return engine


def upgrade_store(url: str) -> tuple[str | None, str]:
    """Bring the store at `url` to the current schema: (revision before, after).

    Example:
        >>> upgrade_store("sqlite://")
        (None, '0003')
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


def spool_directory(url: URL) -> Path | None:
    """Where a store at `url` spools the writes it missed (None: in memory).

    Next to a SQLite file (``audit.sqlite`` -> ``audit.sqlite-spool``); for a
    server, one folder per URL under `confguard.paths.state_dir()`.
    """
    if in_memory(url):
        return None
    database = url.database or ""
    if url.get_backend_name() == "sqlite" and not database.startswith("file:"):
        path = Path(database).expanduser().absolute()
        return path.with_name(path.name + "-spool")
    key = hashlib.sha256(masked(url).encode()).hexdigest()[:16]
    return state_dir() / "spool" / f"{url.get_backend_name()}-{key}"


__all__ = [
    "DEFAULT_URL",
    "Limits",
    "in_memory",
    "masked",
    "new_engine",
    "open_engine",
    "spool_directory",
    "store_error",
    "upgrade_store",
]
