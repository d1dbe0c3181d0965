"""A process SIGKILLed while it escalates never leaves an escalation undelivered.

A real child process runs guarded checks that escalate, on a SQLite file, and is
killed at a random moment, 20 times. After each kill the store opens with the
library's API, SQLite's integrity check passes, and every escalate decision has its
outbox entry (and every entry its decision); at the end a delivery worker delivers
every case the killed processes left waiting. Measured: escalations lost (goal 0).
"""

from __future__ import annotations

import random
import sqlite3
from collections.abc import Callable
from contextlib import closing
from itertools import count
from pathlib import Path

from sqlalchemy import text

from confguard import FunctionSignal, Guard, Observation, Policy
from confguard.routes import CallableRoute, DeliveryWorker, EscalationRequest
from confguard.store import SQLStore

KILLS = 20
LONGEST_DELAY = 0.4
"""Kills land up to this many seconds after the child's next escalate decision."""

POLICY = Policy.from_dict(
    {"thresholds": {"accept": 0.8, "escalate": 0.0}, "escalate": {"route": "oncall"}}
)


def flaky(request: EscalationRequest) -> None:
    """Every other delivery fails, so both outcomes are written when the kill comes."""
    if int(request.question.split()[-1]) % 2:
        raise RuntimeError("webhook down")


def escalate_forever(url: str) -> None:  # pragma: no cover - runs in the child
    """Check answers that escalate, one after another, until killed."""
    low = FunctionSignal(lambda obs: 0.1, name="low")
    store = SQLStore(url)
    guard = Guard([low], POLICY, store=store, routes={"oncall": CallableRoute(flaky)})
    for i in count():
        guard.check(Observation(question=f"case {i}", answer="a"))


def decided_since_now(path: Path) -> Callable[[], bool]:
    """Whether the child has written a decision since this call.

    Read with plain sqlite3, not the library, so the poll cannot change what the
    store does; a locked database counts as not yet.
    """
    with closing(sqlite3.connect(path)) as connection:
        before = decisions_in(connection)

    def started() -> bool:
        try:
            with closing(sqlite3.connect(path, timeout=0.05)) as connection:
                return decisions_in(connection) > before
        except sqlite3.OperationalError:
            return False

    return started


def decisions_in(connection: sqlite3.Connection) -> int:
    return int(connection.execute("SELECT count(*) FROM decisions").fetchone()[0])


def unqueued(store: SQLStore) -> tuple[int, int]:
    """(escalate decisions, how many of them have no outbox entry or vice versa)."""
    decided = {
        r.request_id for r in store.decisions(limit=10**6) if r.action == "escalate"
    }
    queued = {e.request_id for e in store.escalations()}
    return len(decided), len(decided ^ queued)


def test_every_escalation_survives_twenty_kills(
    tmp_path: Path, killer: Callable[..., None]
) -> None:
    path = tmp_path / "audit.sqlite"
    url = f"sqlite:///{path}"
    SQLStore(url).close()
    rng = random.Random(12)
    lost, escalations = 0, 0
    for _ in range(KILLS):
        delay = rng.uniform(0, LONGEST_DELAY)
        killer(escalate_forever, url, delay, started=decided_since_now(path))
        with SQLStore(url) as store:  # opens with the library's API
            with store.engine.connect() as connection:
                check = connection.execute(text("PRAGMA integrity_check")).scalar()
            assert check == "ok"
            escalations, missing = unqueued(store)
            lost += missing
    print(
        f"\n{KILLS} kills survived: escalations {escalations}, escalations lost {lost}"
    )
    assert escalations > KILLS  # the kills landed while escalating
    assert lost == 0
    with SQLStore(url) as store:
        assert deliver_what_waits(store) == len(store.escalations())


def deliver_what_waits(store: SQLStore) -> int:
    """Let every lease and backoff run out, deliver; how many are delivered then."""
    with store.engine.begin() as connection:  # as if minutes had passed
        connection.execute(
            text("UPDATE escalations SET lease_until = NULL, next_try_at = created_at")
        )
    worker = DeliveryWorker(store, {"oncall": CallableRoute(lambda request: None)})
    worker.run_once()
    assert store.escalations("pending") == []
    return len(store.escalations("delivered"))
