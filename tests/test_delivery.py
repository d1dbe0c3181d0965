"""The delivery worker and `confguard deliver`: due entries delivered once each."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx
from sqlalchemy import text

from confguard import FunctionSignal, Guard, Observation, Policy
from confguard.cli import main
from confguard.cli.output import console
from confguard.exceptions import StoreUnavailableError
from confguard.routes import CallableRoute, DeliveryWorker, EscalationRequest
from confguard.store import InMemoryStore, SQLStore
from confguard.store.outbox import Backoff

URL = "https://hooks.test/escalate"
POLICY = Policy.from_dict(
    {"thresholds": {"accept": 0.8, "escalate": 0.0}, "escalate": {"route": "human"}}
)
LOW = FunctionSignal(lambda obs: 0.1, name="low")


def down(request: EscalationRequest) -> None:
    raise RuntimeError("pager down")


def escalate(store: Any, count: int = 1) -> list[str]:
    """`count` checks that escalate and whose in-process delivery fails."""
    guard = Guard([LOW], POLICY, store=store, routes={"human": CallableRoute(down)})
    return [
        guard.check(Observation(question=f"q{i}", answer="a")).request_id
        for i in range(count)
    ]


def due_now(store: SQLStore) -> None:
    """Make every pending entry due, as if its backoff had run out."""
    with store.engine.begin() as connection:
        connection.execute(text("UPDATE escalations SET next_try_at = created_at"))


def test_the_worker_delivers_each_due_case_once_through_its_named_route() -> None:
    store, seen = SQLStore("sqlite://"), list[EscalationRequest]()
    ids = escalate(store, 3)
    due_now(store)
    worker = DeliveryWorker(store, {"human": CallableRoute(seen.append)})
    assert worker.run_once().delivered == 3
    assert sorted(r.request_id for r in seen) == sorted(ids)
    assert {r.escalation_id for r in seen} == {e.id for e in store.escalations()}
    assert worker.run_once().handled == 0
    assert [e.state for e in store.escalations()] == ["delivered"] * 3


def test_a_failing_route_defers_then_fails_after_the_last_attempt() -> None:
    store = SQLStore("sqlite://")
    escalate(store)
    backoff = Backoff(first=0.5, cap=0.5, max_attempts=3)
    worker = DeliveryWorker(store, {"human": CallableRoute(down)}, backoff=backoff)
    due_now(store)
    assert worker.run_once().deferred == 1
    time.sleep(0.6)
    assert worker.run_once().failed == 1
    [entry] = store.escalations()
    assert (entry.state, entry.attempts) == ("failed", 3)
    assert entry.last_error == "RuntimeError: pager down"


def test_an_entry_for_a_route_the_worker_lacks_is_a_failed_try_naming_it() -> None:
    store = SQLStore("sqlite://")
    escalate(store)
    due_now(store)
    report = DeliveryWorker(store, {"other": CallableRoute(down)}).run_once()
    assert report.deferred == 1
    [entry] = store.escalations()
    assert entry.last_error == "no route named 'human' (given: other)"


def test_run_returns_once_stopped() -> None:
    worker = DeliveryWorker(InMemoryStore(), {})
    worker.stop()
    assert worker.run(idle_seconds=0.01).handled == 0


async def test_the_async_worker_delivers_through_aescalate_and_fails_the_rest() -> None:
    store, seen = SQLStore("sqlite://"), list[EscalationRequest]()
    ids = escalate(store, 2)
    due_now(store)

    async def accept(request: EscalationRequest) -> None:
        seen.append(request)

    worker = DeliveryWorker(store, {"human": CallableRoute(accept)})
    assert (await worker.arun_once()).delivered == 2
    assert sorted(r.request_id for r in seen) == sorted(ids)
    assert (await worker.arun_once()).handled == 0
    escalate(store)
    due_now(store)
    report = await DeliveryWorker(store, {"other": CallableRoute(down)}).arun_once()
    assert report.deferred == 1


class _DownThenUp(InMemoryStore):
    """An outbox whose database is unreachable for its first `outages` claims."""

    def __init__(self, outages: int) -> None:
        super().__init__()
        self.outages = outages

    def claim_escalations(self, owner: str, **kwargs: Any) -> list[Any]:
        if self.outages:
            self.outages -= 1
            raise StoreUnavailableError("could not connect: timeout expired")
        return super().claim_escalations(owner, **kwargs)


def test_a_running_worker_waits_out_a_store_outage_and_then_delivers() -> None:
    store, seen = _DownThenUp(outages=2), list[EscalationRequest]()
    escalate(store)  # due after the first backoff, 1 s

    def deliver_then_stop(request: EscalationRequest) -> None:
        seen.append(request)
        worker.stop()

    worker = DeliveryWorker(store, {"human": CallableRoute(deliver_then_stop)})
    assert worker.run(idle_seconds=0.05).delivered == 1
    assert store.outages == 0 and len(seen) == 1
    assert [e.state for e in store.escalations()] == ["delivered"]


def deliver(*args: str) -> tuple[int, str]:
    with console.capture() as captured:
        code = main(["deliver", *args])
    return code, captured.get()


@respx.mock
def test_confguard_deliver_once_posts_each_case_with_its_idempotency_key(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path}/audit.sqlite"
    with SQLStore(url) as store:
        escalate(store, 2)
        pending = {e.id for e in store.escalations("pending")}
    hook = respx.post(URL).mock(return_value=httpx.Response(200))
    # The in-process try failed a moment ago: wait out its first backoff (1 s).
    time.sleep(1.05)
    code, out = deliver("--store", url, "--webhook", f"human={URL}", "--once")
    assert (code, out) == (0, "delivered 2, deferred 0, failed 0\n")
    keys = {c.request.headers["Idempotency-Key"] for c in hook.calls}
    assert keys == pending
    assert deliver("--store", url, "--webhook", f"human={URL}", "--once")[1] == (
        "delivered 0, deferred 0, failed 0\n"
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--webhook", "human"], "--webhook 'human': expected NAME=http(s)://..."),
        ([], "give at least one route: --webhook NAME=URL"),
    ],
)
def test_confguard_deliver_refuses_bad_routes_in_one_line(
    tmp_path: Path, args: list[str], message: str
) -> None:
    url = f"sqlite:///{tmp_path}/audit.sqlite"
    SQLStore(url).close()
    code, out = deliver("--store", url, "--once", *args)
    assert code == 2
    assert message in out
    assert out.count("\n") == 1
