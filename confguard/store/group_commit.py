"""Group commit: many callers' writes committed together, each told only after commit.

Async callers hand `GroupCommit.arun` a unit of work, a function of a SQLAlchemy
Connection. One writer thread takes everything queued (up to `max_batch` units) and
runs it in one transaction, so a burst of N writes costs one commit instead of N.
Every caller's await returns (or raises) only once that transaction has ended. A
unit that only inserts rows is better given as `Rows`: a batch's rows for one table
go in one executemany, not one round trip each.

When a unit raises, nothing of the batch was committed; the writer then runs every
unit of that batch again, each in a transaction of its own, so one bad record fails
only its own caller. Units therefore touch nothing but the connection: one may run
twice, the first time rolled back. A failed COMMIT is not retried (the database may
have kept it), and every caller of that batch gets the error.

Example:
    >>> from sqlalchemy import create_engine, text
    >>> engine = create_engine("sqlite://")
    >>> commits = GroupCommit(engine.begin)
    >>> commits.run(lambda conn: conn.execute(text("SELECT 1")).scalar())
    1
    >>> commits.close()
"""

from __future__ import annotations

import asyncio
import contextvars
import threading
from collections import deque
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from sqlalchemy import Connection, Table, insert

from confguard.exceptions import StoreError

T = TypeVar("T")

Unit = Callable[[Connection], T]
"""One caller's share of a transaction: statements on the connection it is given."""

Begin = Callable[[], AbstractContextManager[Connection]]
"""Opens a transaction: a context manager yielding a Connection, committed on exit."""

DEFAULT_MAX_BATCH = 500
"""Units committed together at most; bounds a transaction's size and lock time."""


@dataclass(frozen=True)
class Rows:
    """A unit that only inserts: (table, values) pairs, run as executemany per table.

    Example:
        >>> from confguard.store.schema import DECISIONS
        >>> unit = Rows.of(DECISIONS, {"request_id": "r1"})
    """

    inserts: tuple[tuple[Table, Mapping[str, Any]], ...]

    @classmethod
    def of(cls, *pairs: Any) -> Rows:
        """`Rows.of(table, values, table, values, ...)`."""
        return cls(tuple(zip(pairs[::2], pairs[1::2], strict=True)))

    def __call__(self, connection: Connection) -> None:
        for table, values in self.inserts:
            connection.execute(insert(table), values)


@dataclass
class _Pending(Generic[T]):
    """A queued unit, the future its caller waits on, and the caller's context."""

    unit: Unit[T]
    future: Future[T] = field(default_factory=Future)
    context: contextvars.Context = field(default_factory=contextvars.copy_context)

    def run(self, connection: Connection) -> T:
        return self.context.run(self.unit, connection)


class GroupCommit:
    """Commits queued units of work in batches from one writer thread (module doc)."""

    def __init__(
        self,
        begin: Begin,
        *,
        max_batch: int = DEFAULT_MAX_BATCH,
        name: str = "confguard-group-commit",
    ) -> None:
        if max_batch < 1:
            raise ValueError(f"max_batch must be >= 1, got {max_batch}")
        self._begin = begin
        self._max_batch = max_batch
        self._name = name
        self._queue: deque[_Pending[Any]] = deque()
        self._wakeup = threading.Condition()
        self._thread: threading.Thread | None = None
        self._closed = False

    def run(self, unit: Unit[T]) -> T:
        """Run `unit` in a transaction of its own, in the calling thread."""
        with self._begin() as connection:
            return unit(connection)

    async def arun(self, unit: Unit[T]) -> T:
        """Queue `unit` for the next batch; return once its batch has committed."""
        return await asyncio.wrap_future(self.submit(unit))

    def submit(self, unit: Unit[T]) -> Future[T]:
        """Queue `unit` for the next batch: a future settled after the commit."""
        pending: _Pending[T] = _Pending(unit)
        with self._wakeup:
            if self._closed:
                raise StoreError(f"{self._name} is closed")
            self._queue.append(pending)
            self._start_writer()
            self._wakeup.notify()
        return pending.future

    def close(self) -> None:
        """Commit everything queued, then stop the writer thread; idempotent."""
        with self._wakeup:
            self._closed = True
            self._wakeup.notify()
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join()

    # -- the writer thread ----------------------------------------------------

    def _start_writer(self) -> None:
        # Started on first use, so a store used only synchronously has no thread.
        # A daemon: an unclosed store must not hang interpreter exit, and work it
        # drops was never acknowledged to anyone.
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._write, name=self._name, daemon=True
            )
            self._thread.start()

    def _write(self) -> None:
        while batch := self._next_batch():
            self._commit(batch)

    def _next_batch(self) -> list[_Pending[Any]]:
        """Up to `max_batch` queued units, waiting for one; empty once closed."""
        with self._wakeup:
            batch: list[_Pending[Any]] = []
            while not batch and (self._queue or not self._closed):
                if not self._queue:
                    self._wakeup.wait()
                count = min(len(self._queue), self._max_batch)
                taken = (self._queue.popleft() for _ in range(count))
                # A caller that cancelled before its unit started never has it run.
                batch = [p for p in taken if p.future.set_running_or_notify_cancel()]
            return batch

    def _commit(self, batch: list[_Pending[Any]]) -> None:
        outcomes: list[Any] | None = None
        try:
            with self._begin() as connection:
                outcomes = _execute(connection, batch)
        except BaseException as exc:  # every caller must hear, whatever it was
            if len(batch) > 1 and outcomes is None:
                # A statement (or BEGIN) failed, so nothing was committed: try the
                # units alone. A failed COMMIT may have been kept, so is not retried.
                for pending in batch:
                    self._commit_alone(pending)
            else:
                for pending in batch:
                    pending.future.set_exception(exc)
            return
        for pending, outcome in zip(batch, outcomes or (), strict=True):
            pending.future.set_result(outcome)

    def _commit_alone(self, pending: _Pending[Any]) -> None:
        try:
            with self._begin() as connection:
                outcome = pending.run(connection)
        except BaseException as exc:
            pending.future.set_exception(exc)
        else:
            pending.future.set_result(outcome)


def _execute(connection: Connection, batch: list[_Pending[Any]]) -> list[Any]:
    """Run a batch's units: `Rows` merged into one executemany per table and columns."""
    merged: dict[tuple[Table, frozenset[str]], list[Mapping[str, Any]]] = {}
    outcomes: list[Any] = []
    for pending in batch:
        if isinstance(pending.unit, Rows):
            for table, values in pending.unit.inserts:
                merged.setdefault((table, frozenset(values)), []).append(values)
            outcomes.append(None)
        else:
            outcomes.append(pending.run(connection))
    # Callers are concurrent, so their units have no order among them to keep.
    for (table, _columns), rows in merged.items():
        connection.execute(insert(table), rows)
    return outcomes


__all__ = ["DEFAULT_MAX_BATCH", "Begin", "GroupCommit", "Rows", "Unit"]
