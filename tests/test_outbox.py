"""The escalation outbox: written with its decision, leased, settled once.

Each behaviour on the in-memory store, a SQLite file and, when configured,
PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from confguard.exceptions import StoreError
from confguard.store import AuditRecord, InMemoryStore, SQLStore
from confguard.store.base import utcnow
from confguard.store.outbox import Backoff, Escalation


@pytest.fixture(
    params=["memory", "sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    """An empty store with an outbox."""
    if request.param == "memory":
        yield InMemoryStore()
        return
    url = (
        f"sqlite:///{tmp_path}/audit.sqlite"
        if request.param == "sqlite"
        else request.getfixturevalue("postgres_url")
    )
    with SQLStore(url) as sql:
        yield sql


def decision(request_id: str = "r1") -> AuditRecord:
    """An escalate decision."""
    return AuditRecord(
        request_id=request_id,
        attempt=1,
        question="q",
        answer_digest="d",
        confidence=0.2,
        action="escalate",
        reason="low",
        route="human",
        latency_seconds=0.0,
    )


def entry(escalation_id: str = "e1", request_id: str = "r1") -> Escalation:
    """A due, unleased outbox entry."""
    return Escalation(
        id=escalation_id,
        request_id=request_id,
        route="human",
        payload={"request_id": request_id, "question": "q", "answer": "a"},
        next_try_at=utcnow() - timedelta(seconds=1),
    )


def test_the_decision_and_its_entry_are_written_together(store: Any) -> None:
    store.record_escalation(decision(), entry())
    assert [r.request_id for r in store.decisions()] == ["r1"]
    [kept] = store.escalations()
    assert (kept.id, kept.state, kept.attempts) == ("e1", "pending", 0)
    assert kept.payload == entry().payload


def test_a_failed_write_leaves_neither_the_decision_nor_the_entry() -> None:
    with SQLStore("sqlite://") as store:
        store.record_escalation(decision(), entry())
        with pytest.raises(StoreError):  # the same escalation id again
            store.record_escalation(decision("r2"), entry())
        assert [r.request_id for r in store.decisions()] == ["r1"]
        assert len(store.escalations()) == 1


def test_a_claimed_entry_is_leased_to_one_worker_only(store: Any) -> None:
    store.record_escalation(decision(), entry())
    [claimed] = store.claim_escalations("w1", lease_seconds=60)
    assert claimed.lease_owner == "w1"
    assert store.claim_escalations("w2") == []


def test_an_expired_lease_lets_another_worker_take_the_entry(store: Any) -> None:
    store.record_escalation(decision(), entry())
    store.claim_escalations("w1", lease_seconds=-1)
    [claimed] = store.claim_escalations("w2")
    assert claimed.lease_owner == "w2"


def test_a_failed_try_waits_with_capped_doubling_then_fails(store: Any) -> None:
    store.record_escalation(decision(), entry())
    backoff = Backoff(first=1.0, cap=2.0, max_attempts=3)
    first = store.delivery_failed("e1", "HTTP 500", backoff)
    assert (first.state, first.attempts, first.last_error) == ("pending", 1, "HTTP 500")
    assert store.claim_escalations("w1") == []  # not due for a second
    store.delivery_failed("e1", "HTTP 500", backoff)
    last = store.delivery_failed("e1", "refused", backoff)
    assert (last.state, last.attempts, last.last_error) == ("failed", 3, "refused")
    assert store.delivery_failed("e1", "again", backoff) is None


def test_a_delivered_entry_is_settled_once_and_never_claimed(store: Any) -> None:
    store.record_escalation(decision(), entry())
    done = store.delivered("e1")
    assert (done.state, done.attempts) == ("delivered", 1)
    assert done.delivered_at is not None
    assert store.delivered("e1") is None
    assert store.claim_escalations("w1") == []
    assert [e.state for e in store.escalations("delivered")] == ["delivered"]


def test_the_backoff_doubles_from_one_second_up_to_ten_minutes() -> None:
    delays = [Backoff().delay(n) for n in range(1, 13)]
    assert delays[:4] == [1.0, 2.0, 4.0, 8.0]
    assert max(delays) == 600.0
