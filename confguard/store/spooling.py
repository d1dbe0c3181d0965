"""How a guard writes to its store without hanging and without losing a record.

A `Recorder` sends each write (a decision, an outbox entry, a delivery outcome) to
the store. When the store is unavailable (`StoreUnavailableError`, or an async
write past its deadline) the write goes to the local `Spool` instead and the
recorder switches to spooling: every later write is spooled too, so the store
receives them in order, and a background thread replays the spool every
`replay_every` seconds until it is empty; then writes go to the store again.
`replay()` is one pass of that (`confguard store replay` runs it by hand).

A replayed decision is written with the store's `record_once` when it has one (both
built-in SQL stores do): a write that timed out may still have committed, and must
not land twice.

Example:
    >>> recorder = Recorder(store, Spool(store.spool_directory))
    >>> recorder.write(Record(record=audit_record))   # never hangs, never lost
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import threading
from collections.abc import Awaitable
from typing import Literal

from pydantic import BaseModel, ConfigDict

from confguard.exceptions import StoreError, StoreUnavailableError
from confguard.store.base import AuditStore
from confguard.store.outbox import DEFAULT_BACKOFF, Outbox
from confguard.store.spool import Delivered, Record, Spool, SpoolOp

OnStoreError = Literal["spool", "raise"]
"""What a guard does with a write its store cannot take now."""

REPLAY_EVERY = 5.0
"""Seconds between replay passes while the spool is not empty."""

_LOG = logging.getLogger("confguard.store")


class ReplayReport(BaseModel):
    """What one replay pass did."""

    model_config = ConfigDict(frozen=True)

    replayed: int = 0
    """Entries written to the store."""
    duplicates: int = 0
    """Entries the store had already (their first try committed after all)."""
    left: int = 0
    """Entries still spooled (the store is still unavailable)."""
    error: str | None = None
    """Why the pass stopped early, if it did."""


def apply(store: AuditStore, op: SpoolOp, *, once: bool = False) -> bool:
    """Make the write `op` on `store`; False if it was there already (`once`)."""
    if isinstance(op, Record):
        record_once = getattr(store, "record_once", None)
        if once and record_once is not None:
            return bool(record_once(op.record, op.escalation))
        if op.escalation is None:
            store.record(op.record)
        else:
            _outbox(store).record_escalation(op.record, op.escalation)
    elif isinstance(op, Delivered):
        _outbox(store).delivered(op.escalation_id)
    else:
        _outbox(store).delivery_failed(op.escalation_id, op.error, DEFAULT_BACKOFF)
    return True


async def aapply(store: AuditStore, op: SpoolOp) -> None:
    """Async twin of `apply` (outbox updates in a worker thread)."""
    if not isinstance(op, Record):
        await asyncio.to_thread(apply, store, op)
    elif op.escalation is None:
        await store.arecord(op.record)
    else:
        await _outbox(store).arecord_escalation(op.record, op.escalation)


def replay(store: AuditStore, spool: Spool) -> ReplayReport:
    """Write every spooled entry to `store`, oldest first, until one fails."""
    replayed = duplicates = 0
    for entry in spool.entries():
        claimed = spool.claim(entry)
        if claimed is None:
            continue  # another process is replaying it
        try:
            wrote = apply(store, entry.op, once=True)
        except StoreError as exc:
            spool.release(claimed)
            return ReplayReport(
                replayed=replayed,
                duplicates=duplicates,
                left=len(spool),
                error=str(exc),
            )
        spool.done(claimed)
        replayed += wrote
        duplicates += not wrote
    return ReplayReport(replayed=replayed, duplicates=duplicates, left=len(spool))


async def _bounded(work: Awaitable[None], seconds: float | None) -> None:
    # asyncio.timeout (3.11+) cancels in place; wait_for starts a task per write.
    if sys.version_info >= (3, 11):
        async with asyncio.timeout(seconds):
            await work
    else:  # pragma: no cover - Python 3.10
        await asyncio.wait_for(work, seconds)


def _outbox(store: AuditStore) -> Outbox:
    if not isinstance(store, Outbox):
        raise StoreError(f"{store!r} keeps no escalation outbox")
    return store


def _unavailable(exc: BaseException) -> bool:
    # A custom store may say "unreachable" in the standard library's words.
    return isinstance(exc, StoreUnavailableError | ConnectionError | TimeoutError)


class Recorder:
    """Writes to a store, spooling what it cannot take now (see the module doc).

    `spool` None: nothing is spooled and the store's errors are raised
    (`on_store_error="raise"`). `deadline`: seconds an async write may take before
    it is spooled (sync writes are bounded by the store's own time limits).
    """

    def __init__(
        self,
        store: AuditStore,
        spool: Spool | None,
        *,
        deadline: float | None = None,
        replay_every: float = REPLAY_EVERY,
    ) -> None:
        self.store = store
        self.spool = spool
        self.deadline = deadline
        self.replay_every = replay_every
        self._lock = threading.RLock()
        self._closed = threading.Event()
        self._healer: threading.Thread | None = None
        self.spooling = False
        """Whether writes go to the spool (until a replay empties it)."""
        if spool is not None and len(spool):  # left by an earlier process
            self._start_spooling("records spooled earlier are waiting")

    def write(self, op: SpoolOp) -> None:
        """Write `op` to the store, or to the spool if the store cannot take it."""
        if not self.spooling:
            try:
                apply(self.store, op)
                return
            except Exception as exc:
                self._fall_back(exc)
        self._spool(op)

    async def awrite(self, op: SpoolOp) -> None:
        """Async twin of `write`; a write past `deadline` is spooled."""
        if not self.spooling:
            try:
                await _bounded(aapply(self.store, op), self.deadline)
                return
            except Exception as exc:
                self._fall_back(exc)
        await asyncio.to_thread(self._spool, op)  # fsync off the event loop

    def replay(self) -> ReplayReport:
        """One replay pass now (the background thread does this by itself)."""
        if self.spool is None:
            return ReplayReport()
        return replay(self.store, self.spool)

    def close(self) -> None:
        """Stop replaying in the background (the spool keeps what is left)."""
        self._closed.set()

    def _fall_back(self, exc: Exception) -> None:
        if self.spool is None or not _unavailable(exc):
            raise exc
        self._start_spooling(f"{type(exc).__name__}: {exc}")

    def _spool(self, op: SpoolOp) -> None:
        assert self.spool is not None  # only spooling recorders get here
        with self._lock:  # an append never races the switch back to the store
            self.spool.append(op)
            self._start_spooling(None)

    def _start_spooling(self, why: str | None) -> None:
        with self._lock:
            if why is not None and not self.spooling:
                _LOG.warning(
                    "audit store unavailable, spooling to %s: %s", self.spool, why
                )
            self.spooling = True
            if self._healer is None:
                self._healer = threading.Thread(
                    target=self._heal, name="confguard-spool-replay", daemon=True
                )
                self._healer.start()

    def _heal(self) -> None:
        while not self._closed.wait(self.replay_every):
            while self.replay().error is None:  # again at once: more may have come
                if self._switch_back():
                    return

    def _switch_back(self) -> bool:
        with self._lock:  # no append can slip in between the check and the switch
            if self.spool is not None and len(self.spool):
                return False
            _LOG.info("audit store back; spool %s replayed", self.spool)
            self.spooling = False
            self._healer = None
            return True

    def __repr__(self) -> str:
        state = "spooling" if self.spooling else "direct"
        return f"Recorder({self.store!r}, {self.spool!r}, {state})"


def spool_for(
    store: object, directory: str | os.PathLike[str] | None, on_error: OnStoreError
) -> Spool | None:
    """The spool a guard uses: `directory`, else the store's own; None to raise."""
    if on_error == "raise":
        return None
    folder = (
        directory if directory is not None else getattr(store, "spool_directory", None)
    )
    return None if folder is None else Spool(folder)


__all__ = [
    "REPLAY_EVERY",
    "OnStoreError",
    "Recorder",
    "ReplayReport",
    "aapply",
    "apply",
    "replay",
    "spool_for",
]
