"""The audit store goes down mid-traffic: the guard neither hangs nor loses a record.

Another connection holds an exclusive lock on the SQLite file (what a stuck writer or
a database that stopped answering looks like to the guard). Each `check` gives up on
the store within its limit and spools the record; once the lock is gone, the spool
replays by itself and every decision is in the store exactly once.

    python examples/store_outage.py

Prints: the slowest check during the outage, writes spooled, and decisions stored.
"""

from __future__ import annotations

import sqlite3
import tempfile
import time
from pathlib import Path

from confguard import FunctionSignal, Guard, Observation
from confguard.store import SQLStore
from confguard.store.spool import Spool


def main() -> None:
    folder = Path(tempfile.mkdtemp())
    url = f"sqlite:///{folder}/audit.sqlite"
    store = SQLStore(url, busy_timeout=0.2)  # give up on a locked file after 0.2 s
    guard = Guard([FunctionSignal(lambda obs: 0.9, name="fixed")], store=store)
    assert guard.recorder is not None and store.spool_directory is not None
    guard.recorder.replay_every = 0.2  # the default is 5 s

    lock = sqlite3.connect(folder / "audit.sqlite", isolation_level=None)
    lock.execute("BEGIN EXCLUSIVE")  # the outage begins
    slowest = 0.0
    for n in range(5):
        start = time.monotonic()
        guard.check(Observation(question=f"question {n}", answer="an answer"))
        slowest = max(slowest, time.monotonic() - start)
    print(
        f"during the outage: slowest check {slowest:.2f}s, "
        f"{len(Spool(store.spool_directory))} writes spooled"
    )

    lock.execute("ROLLBACK")  # the store is back
    while guard.recorder.spooling:
        time.sleep(0.05)
    print(
        f"after it: {len(store.decisions())} decisions stored, "
        f"{len(Spool(store.spool_directory))} left in the spool"
    )
    guard.close()
    store.close()


if __name__ == "__main__":
    main()
