"""A webhook that refuses, answers 500 and never answers, then comes back.

A real HTTP server on 127.0.0.1 (in a thread) plays the webhook; a guard on a SQLite
file escalates to it through each fault, and the delivery worker then delivers what
waited. Measured: duplicate deliveries (by Idempotency-Key at the server), cases
lost, and the slowest guarded call, which the webhook's deadline bounds.
"""

from __future__ import annotations

import socket
import threading
import time
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from confguard import FunctionSignal, Guard, Observation, Policy
from confguard.routes import DeliveryWorker, WebhookRoute
from confguard.store import SQLStore
from confguard.store.outbox import Backoff

DEADLINE = 1.0
CASES_PER_FAULT = 4
POLICY = Policy.from_dict(
    {
        "thresholds": {"accept": 0.8, "escalate": 0.0},
        "escalate": {"route": "oncall", "pending_message": "queued"},
    }
)
LOW = FunctionSignal(lambda obs: 0.1, name="low")


class Webhook:
    """The loopback webhook: `mode` is "500", "hang" or "ok"; counts what it took."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.mode = "ok"
        self.delivered: Counter[str] = Counter()
        self.released = threading.Event()
        self._server: ThreadingHTTPServer | None = None

    def start(self) -> None:
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if hook.mode == "hang":  # accept, then never answer
                    hook.released.wait(timeout=10)
                    return
                status = 500 if hook.mode == "500" else 200
                if status == 200:
                    hook.delivered[self.headers.get("Idempotency-Key", "")] += 1
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        ThreadingHTTPServer.allow_reuse_address = True
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.released.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()


def free_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (so connections are refused)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def webhook() -> Iterator[Webhook]:
    hook = Webhook(free_port())
    yield hook
    hook.stop()


def escalate(guard: Guard, label: str) -> float:
    """Escalate CASES_PER_FAULT cases; the slowest call's seconds."""
    slowest = 0.0
    for i in range(CASES_PER_FAULT):
        start = time.monotonic()
        result = guard.check(Observation(question=f"{label} {i}", answer="a"))
        slowest = max(slowest, time.monotonic() - start)
        assert result.answer == "queued"
    return slowest


def test_each_case_is_delivered_exactly_once_after_the_outage(
    webhook: Webhook, tmp_path: Path
) -> None:
    url = f"http://127.0.0.1:{webhook.port}/hook"
    route = WebhookRoute(url, deadline=DEADLINE, retries=3, backoff_seconds=0.05)
    with SQLStore(f"sqlite:///{tmp_path}/audit.sqlite") as store:
        guard = Guard([LOW], POLICY, store=store, routes={"oncall": route})
        slowest = escalate(guard, "refused")  # nothing listens on the port yet
        webhook.mode = "500"
        webhook.start()
        slowest = max(slowest, escalate(guard, "500"))
        webhook.mode = "hang"
        slowest = max(slowest, escalate(guard, "hang"))
        webhook.released.set()
        webhook.mode = "ok"  # the webhook comes back
        cases = {e.id for e in store.escalations()}
        assert len(cases) == 3 * CASES_PER_FAULT
        assert store.escalations("delivered") == []

        worker = DeliveryWorker(store, {"oncall": route}, backoff=Backoff(first=0.05))
        deadline = time.monotonic() + 15
        while store.escalations("pending") and time.monotonic() < deadline:
            worker.run_once()
            time.sleep(0.1)
        for _ in range(3):  # more passes deliver nothing more
            assert worker.run_once().delivered == 0

        delivered = {e.id for e in store.escalations("delivered")}
        duplicates = sum(n - 1 for n in webhook.delivered.values())
        lost = len(cases - set(webhook.delivered))
        print(
            f"\nwebhook outage: cases {len(cases)}, lost {lost}, duplicate deliveries "
            f"{duplicates}, slowest guarded call {slowest:.2f} s "
            f"(deadline {DEADLINE} s)"
        )
        assert delivered == cases == set(webhook.delivered)
        assert duplicates == 0
        assert slowest < DEADLINE + 0.5
