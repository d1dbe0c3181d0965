"""A PostgreSQL that accepts connections and never replies, then comes back.

A loopback TCP proxy stands between the guard and the real PostgreSQL. Stalled, it
accepts connections and forwards nothing either way, like a database behind a dead
network path. While it is stalled every `check` (sync and async) must return within
the store's time limits with its record spooled; once it heals, the spool must
replay by itself, and every decision must be in the database exactly once.
Measured: the slowest call while stalled, records spooled, records lost.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select
from sqlalchemy.engine import make_url

from confguard import FunctionSignal, Guard, Observation, Policy
from confguard.exceptions import StoreUnavailableError
from confguard.routes import CallableRoute
from confguard.store import SQLStore
from confguard.store.schema import DECISIONS, ESCALATIONS
from confguard.store.spool import Spool

LIMITS = {"connect_timeout": 2.0, "statement_timeout": 1.0, "pool_timeout": 1.0}
BOUND = 2.0 + 1.0 + 1.0 + 1.0 + 1.5  # the store's worst legitimate wait, and slack
CALLS = 12
POLICY = Policy.from_dict(
    {
        "thresholds": {"accept": 0.8, "escalate": 0.3},
        "escalate": {"route": "oncall", "pending_message": "queued"},
    }
)


class StallingProxy:
    """A TCP proxy on 127.0.0.1 to `target`; `stall()` and `heal()` switch it."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.stalled = threading.Event()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.2)
        self.port = self._listener.getsockname()[1]
        self._sockets: list[socket.socket] = []
        self._closed = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def stall(self) -> None:
        self.stalled.set()

    def heal(self) -> None:
        """Forward again; connections opened while stalled are dropped, as a router
        that lost its state would."""
        self.stalled.clear()
        self._drop_all()

    def close(self) -> None:
        self._closed.set()
        self._listener.close()
        self._drop_all()

    def _drop_all(self) -> None:
        sockets, self._sockets = self._sockets, []
        for sock in sockets:
            sock.close()

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self._listener.accept()
            except (TimeoutError, OSError):
                continue
            self._sockets.append(client)
            if self.stalled.is_set():
                continue  # accepted, and never a byte in reply
            server = socket.create_connection(self.target)
            self._sockets.append(server)
            for source, sink in ((client, server), (server, client)):
                threading.Thread(
                    target=self._pump, args=(source, sink), daemon=True
                ).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        source.settimeout(0.1)
        while not self._closed.is_set():
            if self.stalled.is_set():  # hold whatever arrives; forward nothing
                time.sleep(0.05)
                continue
            try:
                data = source.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                break
            if not data:
                break
            try:
                sink.sendall(data)
            except OSError:
                break
        for sock in (source, sink):
            sock.close()


@pytest.fixture
def proxy(postgres_url: str) -> Iterator[tuple[StallingProxy, str]]:
    url = make_url(postgres_url)
    stalling = StallingProxy((url.host or "127.0.0.1", url.port or 5432))
    proxied = url.set(host="127.0.0.1", port=stalling.port)
    yield stalling, proxied.render_as_string(hide_password=False)
    stalling.close()


def _observation(number: int) -> Observation:
    # Every fourth question escalates, so outbox entries are spooled too.
    confidence = 0.5 if number % 4 == 0 else 0.9
    return Observation(question=f"q{number}", answer="a", metadata={"c": confidence})


CONFIDENCE = FunctionSignal(lambda obs: obs.metadata["c"], name="given")


def _timed(call: object) -> float:
    start = time.monotonic()
    call()  # type: ignore[operator]
    return time.monotonic() - start


@pytest.mark.parametrize("first", ["check", "acheck"])
def test_a_stalled_postgresql_neither_hangs_the_guard_nor_loses_a_record(
    proxy: tuple[StallingProxy, str], postgres_url: str, tmp_path: Path, first: str
) -> None:
    stalling, proxied_url = proxy
    delivered: list[str] = []
    route = CallableRoute(lambda request: delivered.append(request.request_id))
    spool = tmp_path / "spool"
    store = SQLStore(proxied_url, **LIMITS)
    guard = Guard(
        [CONFIDENCE], POLICY, store=store, routes={"oncall": route}, spool=spool
    )
    aguard = guard.as_async()
    numbers = iter(range(1000))
    try:
        for _ in range(4):  # healthy: straight to the database
            guard.check(_observation(next(numbers)))
        assert not Spool(spool).directory.exists()

        stalling.stall()
        calls = {
            "check": lambda: guard.check(_observation(next(numbers))),
            "acheck": lambda: asyncio.run(aguard.acheck(_observation(next(numbers)))),
        }
        order = [first, *(name for name in calls if name != first)]
        durations = [_timed(calls[name]) for name in order for _ in range(CALLS)]
        spooled = len(Spool(spool))
        assert guard.recorder is not None and guard.recorder.spooling
        assert spooled >= 2 * CALLS  # every decision, and delivery outcomes

        stalling.heal()
        _wait_until(lambda: not guard.recorder.spooling and not len(Spool(spool)))
    finally:
        guard.close()
        store.close()

    expected = 4 + 2 * CALLS
    rows = _decisions_by_request(postgres_url)
    escalations = _escalation_states(postgres_url)
    print(
        f"\nstalled PostgreSQL, {first} first: slowest call {max(durations):.2f}s "
        f"(bound {BOUND:.1f}s), {spooled} writes spooled, "
        f"{expected - len(rows)} decisions lost, "
        f"{sum(n - 1 for n in rows.values())} duplicated, "
        f"{len(escalations)} escalations {dict(Counter(escalations.values()))}"
    )
    assert max(durations) < BOUND
    assert len(rows) == expected and set(rows.values()) == {1}
    escalated = sum(1 for n in range(expected) if n % 4 == 0)
    assert len(escalations) == escalated == len(delivered)
    assert set(escalations.values()) == {"delivered"}


def _wait_until(condition: object, seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "the spool was not replayed in time"
        time.sleep(0.2)


def _decisions_by_request(url: str) -> Counter[str]:
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            query = select(DECISIONS.c.request_id, func.count()).group_by(
                DECISIONS.c.request_id
            )
            return Counter({rid: n for rid, n in connection.execute(query)})
    finally:
        engine.dispose()


def _escalation_states(url: str) -> dict[str, str]:
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            query = select(ESCALATIONS.c.id, ESCALATIONS.c.state)
            return {eid: state for eid, state in connection.execute(query)}
    finally:
        engine.dispose()


def test_opening_a_store_on_a_stalled_postgresql_fails_within_its_connect_timeout(
    proxy: tuple[StallingProxy, str],
) -> None:
    stalling, proxied_url = proxy
    stalling.stall()
    start = time.monotonic()
    with pytest.raises(StoreUnavailableError, match="cannot connect"):
        SQLStore(proxied_url, **LIMITS)
    took = time.monotonic() - start
    print(f"\nSQLStore() on a stalled PostgreSQL gave up after {took:.2f}s")
    assert took < LIMITS["connect_timeout"] + 1.5
