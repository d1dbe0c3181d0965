"""The delivery worker: takes due outbox entries and delivers them through routes.

Each entry is leased before it is delivered (see `confguard.store.outbox`), so
several workers, in one process or many, on one PostgreSQL, never deliver one entry
at the same time; a delivered entry is never claimed again. A failed try is counted
on the entry and retried after its backoff, until it is ``failed``.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Mapping

from pydantic import BaseModel, ConfigDict

from confguard.exceptions import StoreUnavailableError
from confguard.routes.base import EscalationRequest, Route
from confguard.store.outbox import DEFAULT_BACKOFF, Backoff, Escalation, Outbox
from confguard.store.outbox import lease_owner as new_owner

_LOG = logging.getLogger("confguard.routes")


class DeliveryReport(BaseModel):
    """What one pass of the worker did, counted by outcome."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    delivered: int = 0
    deferred: int = 0
    """Failed this time, pending again after their backoff."""
    failed: int = 0
    """Failed for the last time (`Backoff.max_attempts`): no longer retried."""

    @property
    def handled(self) -> int:
        """Entries this pass took."""
        return self.delivered + self.deferred + self.failed

    def __add__(self, other: DeliveryReport) -> DeliveryReport:
        return DeliveryReport(
            delivered=self.delivered + other.delivered,
            deferred=self.deferred + other.deferred,
            failed=self.failed + other.failed,
        )


class DeliveryWorker:
    """Delivers the store's due escalations through the routes named on them.

    `lease_seconds` must exceed the longest delivery (a webhook's `deadline`);
    an entry naming a route the worker was not given counts as a failed try.

    Example:
        >>> worker = DeliveryWorker(store, {"oncall": WebhookRoute(url, deadline=5)})
        >>> worker.run_once().delivered
        3
    """

    def __init__(
        self,
        store: Outbox,
        routes: Mapping[str, Route],
        *,
        owner: str | None = None,
        lease_seconds: float = 60.0,
        batch: int = 50,
        backoff: Backoff = DEFAULT_BACKOFF,
    ) -> None:
        self.store = store
        self.routes = dict(routes)
        self.owner = owner or new_owner()
        self.lease_seconds = lease_seconds
        self.batch = batch
        self.backoff = backoff
        self._stop = threading.Event()

    def run_once(self) -> DeliveryReport:
        """Deliver every entry due now, batch by batch; returns what happened."""
        report = DeliveryReport()
        while not self._stop.is_set():
            claimed = self._claim()
            if not claimed:
                break
            for item in claimed:
                report += self._deliver(item)
        return report

    async def arun_once(self) -> DeliveryReport:
        """Async twin of `run_once`: routes' `aescalate`, the store in a thread."""
        report = DeliveryReport()
        while not self._stop.is_set():
            claimed = await asyncio.to_thread(self._claim)
            if not claimed:
                break
            for item in claimed:
                report += await self._adeliver(item)
        return report

    def run(self, *, idle_seconds: float = 1.0) -> DeliveryReport:
        """Deliver due entries until `stop()`, sleeping `idle_seconds` when idle.

        A store that is down is waited out (logged), not a reason to stop.

        Example:
            >>> thread = threading.Thread(target=worker.run, daemon=True)
            >>> thread.start(); ...; worker.stop(); thread.join()
        """
        report = DeliveryReport()
        while not self._stop.is_set():
            try:
                done = self.run_once()
            except StoreUnavailableError as exc:
                _LOG.warning("delivery worker %s: %s", self.owner, exc)
                done = DeliveryReport()
            report += done
            if not done.handled:
                self._stop.wait(idle_seconds)
        return report

    async def arun(self, *, idle_seconds: float = 1.0) -> DeliveryReport:
        """Async twin of `run` (cancel the task or call `stop()` to end it)."""
        report = DeliveryReport()
        while not self._stop.is_set():
            try:
                done = await self.arun_once()
            except StoreUnavailableError as exc:
                _LOG.warning("delivery worker %s: %s", self.owner, exc)
                done = DeliveryReport()
            report += done
            if not done.handled:
                await asyncio.sleep(idle_seconds)
        return report

    def stop(self) -> None:
        """Ask `run` to return after the entry it is delivering."""
        self._stop.set()

    def _claim(self) -> list[Escalation]:
        return self.store.claim_escalations(
            self.owner, limit=self.batch, lease_seconds=self.lease_seconds
        )

    async def _adeliver(self, item: Escalation) -> DeliveryReport:
        route = self.routes.get(item.route)
        if route is None:
            return await asyncio.to_thread(self._deliver, item)  # fails it, no I/O
        try:
            await route.aescalate(_request(item))
        except Exception as exc:  # a route should raise EscalationError; any counts
            message = getattr(exc, "message", None) or f"{type(exc).__name__}: {exc}"
            return await asyncio.to_thread(self._failed, item, message)
        await asyncio.to_thread(self.store.delivered, item.id)
        return DeliveryReport(delivered=1)

    def _deliver(self, item: Escalation) -> DeliveryReport:
        route = self.routes.get(item.route)
        if route is None:
            known = ", ".join(sorted(self.routes)) or "none"
            return self._failed(item, f"no route named {item.route!r} (given: {known})")
        try:
            route.escalate(_request(item))
        except Exception as exc:  # a route should raise EscalationError; any counts
            message = getattr(exc, "message", None) or f"{type(exc).__name__}: {exc}"
            return self._failed(item, message)
        self.store.delivered(item.id)
        return DeliveryReport(delivered=1)

    def _failed(self, item: Escalation, error: str) -> DeliveryReport:
        after = self.store.delivery_failed(item.id, error, self.backoff)
        if after is not None and after.state == "failed":
            return DeliveryReport(failed=1)
        return DeliveryReport(deferred=1)


def _request(item: Escalation) -> EscalationRequest:
    payload = {**item.payload, "escalation_id": item.id, "route": item.route}
    return EscalationRequest.from_payload(payload)


__all__ = ["DeliveryReport", "DeliveryWorker"]
