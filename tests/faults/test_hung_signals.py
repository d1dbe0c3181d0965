"""Hung signals: a call still answers within the signal's timeout, and cannot starve
other requests or other guards.

Real threads and a real event loop: the hung signal blocks on a `threading.Event`
that only the fixture's teardown sets, so its threads stay stuck for the whole test
(as a wedged HTTP client or a deadlocked C library would) and then exit.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from confguard import AsyncGuard, FunctionSignal, Guard, Observation, Policy
from confguard.results import GuardResult, SignalResult, SignalStatus

TIMEOUT = 0.3
"""The hung guard's signal timeout, in seconds."""
SLACK = 0.7
"""What a loaded CI machine may add to a timeout before we call it a hang."""
HEALTHY_BOUND = 1.0
"""Seconds a healthy request may take while another guard's signals hang."""
HUNG_REQUESTS = 20
"""More hung requests than the guard has workers: its pool is saturated."""
WORKERS = 16


class Hang:
    """A signal body that blocks until released when the question says so."""

    def __init__(self) -> None:
        self.released = threading.Event()
        self.entered = 0
        self._lock = threading.Lock()

    def __call__(self, obs: Observation) -> float:
        if obs.metadata.get("hang"):
            with self._lock:
                self.entered += 1
            self.released.wait(timeout=30)  # a cap, so a broken test cannot hang CI
            return 1.0
        return float(obs.metadata["conf"])

    def wait_entered(self, count: int) -> None:
        """Wait (bounded) until `count` calls are stuck inside the signal."""
        deadline = time.monotonic() + 5
        while self.entered < count and time.monotonic() < deadline:
            time.sleep(0.01)
        assert self.entered >= count, f"only {self.entered} of {count} calls hung"


@pytest.fixture
def hang() -> Iterator[Hang]:
    body = Hang()
    yield body
    body.released.set()  # the stuck threads return and exit


def hung_signal(body: Hang) -> FunctionSignal:
    return FunctionSignal(body, name="conf")


def healthy_signal() -> FunctionSignal:
    return FunctionSignal(lambda obs: float(obs.metadata["conf"]), name="conf")


def question(*, hang: bool = False, conf: float = 0.9) -> Observation:
    return Observation(question="q", answer="a", metadata={"hang": hang, "conf": conf})


def assert_timed_out(result: GuardResult, elapsed: float) -> None:
    signal: SignalResult = result.assessment.signal("conf")
    assert signal.status is SignalStatus.FAILED
    assert signal.reason is not None
    assert signal.reason.startswith(f"timed out after {TIMEOUT:g}s")
    assert result.decision.action == "abstain"
    assert elapsed < TIMEOUT + SLACK


def assert_healthy(result: GuardResult, elapsed: float) -> None:
    assert result.decision.action == "accept"
    assert result.confidence == pytest.approx(0.9)
    assert elapsed < HEALTHY_BOUND


async def timed_acheck(
    guard: AsyncGuard, obs: Observation
) -> tuple[GuardResult, float]:
    start = time.monotonic()
    result = await guard.acheck(obs)
    return result, time.monotonic() - start


def timed_check(guard: Guard, obs: Observation) -> tuple[GuardResult, float]:
    start = time.monotonic()
    result = guard.check(obs)
    return result, time.monotonic() - start


async def test_a_saturated_async_guard_answers_in_time_and_starves_no_other_guard(
    hang: Hang,
) -> None:
    hung = AsyncGuard(
        [hung_signal(hang)], Policy(), signal_timeout=TIMEOUT, max_workers=WORKERS
    )
    healthy = AsyncGuard([healthy_signal()], Policy())
    stuck = [
        asyncio.create_task(timed_acheck(hung, question(hang=True)))
        for _ in range(HUNG_REQUESTS)
    ]
    await asyncio.to_thread(hang.wait_entered, WORKERS)

    served = await asyncio.gather(
        *(timed_acheck(healthy, question()) for _ in range(10))
    )
    for result, elapsed in served:
        assert_healthy(result, elapsed)
    for result, elapsed in await asyncio.gather(*stuck):
        assert_timed_out(result, elapsed)
    # A request that comes while the pool is still full answers in time too.
    result, elapsed = await timed_acheck(hung, question(hang=True))
    assert_timed_out(result, elapsed)
    hang.released.set()
    await asyncio.sleep(0.2)
    assert hang.entered == WORKERS  # the queued calls were withdrawn, never ran late
    await hung.aclose()
    await healthy.aclose()


async def test_hung_async_signals_leave_asyncios_default_executor_free(
    hang: Hang,
) -> None:
    async with AsyncGuard(
        [hung_signal(hang)], Policy(), signal_timeout=TIMEOUT
    ) as hung:
        results = await asyncio.gather(
            *(timed_acheck(hung, question(hang=True)) for _ in range(12))
        )
        start = time.monotonic()
        assert await asyncio.to_thread(lambda: "free") == "free"
        assert time.monotonic() - start < HEALTHY_BOUND
    for result, elapsed in results:
        assert_timed_out(result, elapsed)


async def test_the_same_guard_serves_healthy_requests_while_some_threads_hang(
    hang: Hang,
) -> None:
    async with AsyncGuard(
        [hung_signal(hang)], Policy(), signal_timeout=TIMEOUT, max_workers=WORKERS
    ) as guard:
        stuck = [
            asyncio.create_task(timed_acheck(guard, question(hang=True)))
            for _ in range(12)
        ]
        await asyncio.to_thread(hang.wait_entered, 12)
        served = await asyncio.gather(
            *(timed_acheck(guard, question()) for _ in range(10))
        )
        hung = await asyncio.gather(*stuck)
    for result, elapsed in served:
        assert_healthy(result, elapsed)
    for result, elapsed in hung:
        assert_timed_out(result, elapsed)


def test_a_saturated_sync_guard_answers_in_time_and_starves_no_other_guard(
    hang: Hang,
) -> None:
    hung = Guard(
        [hung_signal(hang)], Policy(), signal_timeout=TIMEOUT, max_workers=WORKERS
    )
    healthy = Guard([healthy_signal()], Policy())
    with hung, healthy, ThreadPoolExecutor(HUNG_REQUESTS + 10) as callers:
        stuck = [
            callers.submit(timed_check, hung, question(hang=True))
            for _ in range(HUNG_REQUESTS)
        ]
        hang.wait_entered(WORKERS)
        served = [callers.submit(timed_check, healthy, question()) for _ in range(10)]
        for future in served:
            assert_healthy(*future.result(timeout=5))
        for future in stuck:
            assert_timed_out(*future.result(timeout=5))
        hang.released.set()
        time.sleep(0.2)
    assert hang.entered == WORKERS  # the queued calls were withdrawn, never ran late


def test_a_signals_own_timeout_applies_when_the_guard_sets_none(hang: Hang) -> None:
    signal = hung_signal(hang)
    signal.timeout = TIMEOUT
    with Guard([signal], Policy()) as guard:
        assert_timed_out(*timed_check(guard, question(hang=True)))
        assert_healthy(*timed_check(guard, question()))


HUNG_AT_EXIT = textwrap.dedent(
    """
    import threading
    from confguard import AsyncGuard, FunctionSignal, Guard, Observation, Policy

    never = threading.Event()
    signal = FunctionSignal(lambda obs: never.wait() and 1.0, name="hung")
    obs = Observation(question="q", answer="a")
    guard = Guard([signal], Policy(), signal_timeout=0.2)
    print(guard.check(obs).assessment.signal("hung").reason, flush=True)
    import asyncio
    aguard = AsyncGuard([signal], Policy(), signal_timeout=0.2)
    print(asyncio.run(aguard.acheck(obs)).assessment.signal("hung").reason)
    """
)


def test_threads_stuck_in_hung_signals_do_not_hold_up_interpreter_exit() -> None:
    done = subprocess.run(
        [sys.executable, "-c", HUNG_AT_EXIT],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["timed out after 0.2s"] * 2
