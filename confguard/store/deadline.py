"""Client-side deadlines on database calls: a watchdog that interrupts overdue ones.

A server-side `statement_timeout` cannot help when the server never sees the query
(a stalled network, a proxy that accepts and never forwards), and a blocked driver
call cannot be cancelled from its own thread. So one watchdog thread per store
watches the connections in use and, once a call overruns, interrupts it from
outside: `sqlite3.Connection.interrupt()`, or shutting down a PostgreSQL
connection's socket, which makes the blocked read fail at once. The driver raises,
SQLAlchemy invalidates the connection, and the caller gets a StoreUnavailableError.

Example:
    >>> watchdog = Watchdog(2.0)
    >>> with watchdog.watching(dbapi_connection):
    ...     cursor.execute("SELECT 1")   # interrupted if it takes more than 2 s
"""

from __future__ import annotations

import itertools
import os
import socket
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


def interrupt(dbapi_connection: Any) -> bool:
    """Break off whatever `dbapi_connection` is doing; False if we cannot."""
    if isinstance(dbapi_connection, sqlite3.Connection):
        dbapi_connection.interrupt()
        return True
    descriptor = _socket_of(dbapi_connection)
    if descriptor is None:
        return False
    try:  # a duplicate descriptor: shutdown acts on the socket, close on our copy
        with socket.socket(fileno=os.dup(descriptor)) as duplicate:
            duplicate.shutdown(socket.SHUT_RDWR)
    except OSError:
        return False  # closed already
    return True


def _socket_of(dbapi_connection: Any) -> int | None:
    pgconn = getattr(dbapi_connection, "pgconn", None)  # psycopg 3
    try:
        descriptor = pgconn.socket if pgconn is not None else None
    except Exception:  # a closed connection has no socket
        return None
    return descriptor if isinstance(descriptor, int) and descriptor >= 0 else None


class Watchdog:
    """Interrupts database calls still running `seconds` after they started."""

    def __init__(self, seconds: float | None, *, name: str = "confguard-watchdog"):
        self.seconds = seconds
        self._name = name
        self._lock = threading.Lock()
        self._watched: dict[int, tuple[float, Any]] = {}
        self._ids = itertools.count()
        self._thread: threading.Thread | None = None
        self._stopped = threading.Event()
        self.interrupted = 0
        """Calls interrupted so far (for tests and metrics)."""

    @contextmanager
    def watching(self, dbapi_connection: Any) -> Iterator[None]:
        """Watch `dbapi_connection` for the duration of the block."""
        if self.seconds is None:
            yield
            return
        key = next(self._ids)
        with self._lock:
            self._watched[key] = (time.monotonic() + self.seconds, dbapi_connection)
            self._start()
        try:
            yield
        finally:
            with self._lock:  # never interrupt a connection that is back in the pool
                self._watched.pop(key, None)

    def stop(self) -> None:
        """Stop the watchdog thread (it restarts if anything is watched again)."""
        self._stopped.set()

    def _start(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        self._stopped.clear()
        thread = threading.Thread(target=self._watch, name=self._name, daemon=True)
        thread.start()
        self._thread = thread

    def _watch(self) -> None:
        # Checking a quarter of the limit apart overruns it by at most a quarter.
        period = min(1.0, max(0.02, (self.seconds or 1.0) / 4))
        while not self._stopped.wait(period):
            with self._lock:
                now = time.monotonic()
                overdue = [k for k, (due, _) in self._watched.items() if due <= now]
                for key in overdue:
                    _, connection = self._watched.pop(key)
                    self.interrupted += interrupt(connection)


__all__ = ["Watchdog", "interrupt"]
