"""Workers: a bounded pool of daemon threads that hung calls cannot grow or outlive."""

from __future__ import annotations

import asyncio
import threading
import time
from concurrent.futures import CancelledError, Future
from typing import Any

import pytest

from confguard.llm.workers import Workers, run_blocking, using


def started(future: Future[Any]) -> None:
    deadline = time.monotonic() + 5
    while not future.running() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert future.running()


def alive(prefix: str) -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith(prefix)]


def test_no_more_than_max_workers_calls_run_at_once() -> None:
    release = threading.Event()
    workers = Workers(2, name="bounded")
    try:
        held = [workers.submit(release.wait, 5) for _ in range(3)]
        started(held[0])
        started(held[1])
        time.sleep(0.05)
        assert [f.running() for f in held] == [True, True, False]
        assert workers.busy == 2
        release.set()
        assert [f.result(timeout=5) for f in held] == [True, True, True]
    finally:
        release.set()
        workers.shutdown(wait=False)


def test_threads_are_daemons_that_retire_when_idle() -> None:
    workers = Workers(4, name="retiring", idle_seconds=0.05)
    assert workers.submit(sum, [1, 2]).result(timeout=5) == 3
    assert all(t.daemon for t in alive("retiring"))
    deadline = time.monotonic() + 5
    while alive("retiring") and time.monotonic() < deadline:
        time.sleep(0.02)
    assert alive("retiring") == []


def test_a_withdrawn_call_never_runs_and_shutdown_refuses_new_work() -> None:
    release = threading.Event()
    ran: list[int] = []
    workers = Workers(1, name="withdrawn")
    busy = workers.submit(release.wait, 5)
    started(busy)
    queued = workers.submit(ran.append, 1)
    assert queued.cancel()
    release.set()
    busy.result(timeout=5)
    assert workers.submit(ran.append, 2).result(timeout=5) is None
    assert ran == [2]
    workers.shutdown(wait=False, cancel_futures=True)
    with pytest.raises(RuntimeError, match="shut down"):
        workers.submit(ran.append, 3)


def test_shutdown_cancels_what_has_not_started() -> None:
    release = threading.Event()
    workers = Workers(1, name="cancelled")
    busy = workers.submit(release.wait, 5)
    started(busy)
    queued = workers.submit(sum, [1])
    workers.shutdown(wait=False, cancel_futures=True)
    release.set()
    assert busy.result(timeout=5) is True
    with pytest.raises(CancelledError):
        queued.result(timeout=5)


async def test_run_blocking_uses_the_workers_in_force_else_asyncios_threads() -> None:
    workers = Workers(1, name="current")

    def name() -> str:
        return threading.current_thread().name

    with using(workers):
        assert (await run_blocking(name)).startswith("current")
    assert not (await run_blocking(name)).startswith("current")
    workers.shutdown(wait=False)


async def test_a_cancelled_await_withdraws_a_call_that_has_not_started() -> None:
    release = threading.Event()
    ran: list[int] = []
    workers = Workers(1, name="awaited")
    busy = workers.submit(release.wait, 5)
    started(busy)
    with using(workers), pytest.raises(TimeoutError):
        await asyncio.wait_for(run_blocking(ran.append, 1), 0.05)
    release.set()
    busy.result(timeout=5)
    await asyncio.sleep(0.05)
    assert ran == []
    workers.shutdown(wait=False)
