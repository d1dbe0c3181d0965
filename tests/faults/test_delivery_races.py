"""Two delivery workers on one database race over 50 pending cases.

Each worker has its own store (its own connections), so their claims are real
concurrent transactions: ``FOR UPDATE SKIP LOCKED`` on PostgreSQL, the conditional
lease UPDATE on SQLite. Measured: cases delivered more than once (goal 0).
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from confguard.routes import CallableRoute, DeliveryWorker, EscalationRequest
from confguard.store import AuditRecord, SQLStore
from confguard.store.base import utcnow
from confguard.store.outbox import Escalation

CASES = 50
WORKERS = 2


def queue(store: SQLStore) -> set[str]:
    """CASES due, pending escalations (as guards whose delivery failed left them)."""
    for i in range(CASES):
        record = AuditRecord(
            request_id=f"r{i}",
            attempt=1,
            question=f"q{i}",
            answer_digest="d",
            confidence=0.1,
            action="escalate",
            reason="low",
            route="oncall",
            latency_seconds=0.0,
        )
        payload: dict[str, Any] = {"request_id": f"r{i}", "question": f"q{i}"}
        payload |= {"answer": "a", "confidence": 0.1, "reason": "low"}
        entry = Escalation(
            id=f"e{i}",
            request_id=f"r{i}",
            route="oncall",
            payload=payload,
            next_try_at=utcnow() - timedelta(seconds=1),
        )
        store.record_escalation(record, entry)
    return {f"e{i}" for i in range(CASES)}


def race(url: str) -> tuple[Counter[str], list[int]]:
    """Run WORKERS workers, each on its own store, until nothing is due.

    Returns the deliveries by escalation id and how many each worker made."""
    seen: Counter[str] = Counter()
    shares: list[int] = []
    lock = threading.Lock()
    start = threading.Barrier(WORKERS)

    def deliver(request: EscalationRequest) -> None:
        time.sleep(0.002)  # a delivery takes a moment: room for the other worker
        with lock:
            seen[request.escalation_id or ""] += 1

    def work() -> None:
        with SQLStore(url) as store:
            worker = DeliveryWorker(store, {"oncall": CallableRoute(deliver)}, batch=5)
            start.wait(timeout=10)
            report = worker.run_once()
        with lock:
            shares.append(report.delivered)

    threads = [threading.Thread(target=work) for _ in range(WORKERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(t.is_alive() for t in threads)
    return seen, shares


@pytest.fixture(
    params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/audit.sqlite"
    return str(request.getfixturevalue("postgres_url"))


def test_two_workers_never_deliver_one_case_twice(url: str) -> None:
    with SQLStore(url) as store:
        cases = queue(store)
    seen, shares = race(url)
    duplicates = sum(n - 1 for n in seen.values())
    print(
        f"\n{WORKERS} workers, {CASES} cases: duplicate deliveries {duplicates}, "
        f"delivered per worker {sorted(shares)}"
    )
    assert duplicates == 0
    assert len(shares) == WORKERS and min(shares) > 0  # both ran, both delivered
    assert set(seen) == cases
    with SQLStore(url) as store:
        assert {e.id for e in store.escalations("delivered")} == cases
