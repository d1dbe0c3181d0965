"""score_all: signals that call no model share one worker task, each still under its
own timeout; model-calling signals get a task each, so their calls overlap.

Hung signals block on a `threading.Event` the fixture sets at teardown (capped, so a
broken test cannot hang the run). No assertion is about speed: waits are bounded.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

import pytest

from confguard.llm.workers import Workers
from confguard.observation import Observation
from confguard.results import SignalResult, SignalStatus
from confguard.signals import running
from confguard.signals.base import DeclaredCost, FunctionSignal
from confguard.signals.running import score_all

LIMIT = 0.3
"""The signals' timeout, in seconds."""
SLACK = 0.7
"""What a loaded CI machine may add to a timeout before we call it a hang."""
OBS = Observation(question="q", answer="a")


@pytest.fixture
def released() -> Iterator[threading.Event]:
    event = threading.Event()
    yield event
    event.set()  # the stuck threads return and exit


@pytest.fixture
def workers() -> Iterator[Workers]:
    pool = Workers(8, name="batches")
    yield pool
    pool.shutdown(wait=False)


def fixed(name: str, value: float = 0.9, **cost: int) -> FunctionSignal:
    return FunctionSignal(lambda obs: value, name=name, cost=DeclaredCost(**cost))


def hanging(name: str, released: threading.Event, ran: list[str]) -> FunctionSignal:
    def body(obs: Observation) -> float:
        ran.append(name)
        released.wait(timeout=10)
        return 1.0

    return FunctionSignal(body, name=name)


def timed(
    call: Callable[[], tuple[SignalResult, ...]],
) -> tuple[tuple[SignalResult, ...], float]:
    start = time.monotonic()
    results = call()
    return results, time.monotonic() - start


def test_a_hung_signal_is_failed_at_its_limit_and_the_others_results_are_kept(
    released: threading.Event, workers: Workers
) -> None:
    ran: list[str] = []
    signals = [fixed("a", 0.1), hanging("hung", released, ran), fixed("b", 0.2)]
    results, elapsed = timed(lambda: score_all(signals, OBS, LIMIT, workers))
    assert [r.name for r in results] == ["a", "hung", "b"]
    assert [r.confidence for r in results if r.ok] == [0.1, 0.2]
    assert results[1].status is SignalStatus.FAILED
    assert results[1].reason == f"timed out after {LIMIT:g}s"
    assert elapsed < LIMIT + SLACK


def test_signals_queued_behind_a_hung_one_still_run_on_another_worker(
    released: threading.Event, workers: Workers
) -> None:
    ran: list[str] = []
    signals = [hanging("first", released, ran), fixed("a", 0.1), fixed("b", 0.2)]
    results, elapsed = timed(lambda: score_all(signals, OBS, LIMIT, workers))
    assert [r.ok for r in results] == [False, True, True]
    assert [r.confidence for r in results[1:]] == [0.1, 0.2]
    assert results[0].reason == f"timed out after {LIMIT:g}s"
    assert elapsed < LIMIT + SLACK


def test_each_signal_is_failed_at_its_own_limit_and_a_queued_one_never_runs_late(
    released: threading.Event, workers: Workers, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(running, "HANDOFF_SECONDS", 30.0)  # no worker joins in
    ran: list[str] = []
    signals = [hanging("hung", released, ran), hanging("queued", released, ran)]
    limits = {"hung": LIMIT, "queued": LIMIT / 3}
    results, elapsed = timed(lambda: score_all(signals, OBS, limits, workers))
    assert [r.reason for r in results] == [
        f"timed out after {LIMIT:g}s",
        f"timed out after {LIMIT / 3:g}s waiting for a worker",
    ]
    assert elapsed < LIMIT + SLACK
    released.set()
    time.sleep(0.1)  # time for the freed worker to take it, were it still queued
    assert ran == ["hung"]


def test_a_signal_that_raises_is_failed_and_the_batch_goes_on(
    workers: Workers,
) -> None:
    def broken(obs: Observation) -> float:
        raise ValueError("bad input")

    signals = [FunctionSignal(broken, name="broken"), fixed("a", 0.4)]
    results = score_all(signals, OBS, LIMIT, workers)
    assert results[0].status is SignalStatus.FAILED
    assert results[0].reason == "ValueError: bad input"
    assert results[1].confidence == 0.4


def test_signals_that_call_no_model_share_one_worker_thread(
    workers: Workers, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(running, "HANDOFF_SECONDS", 30.0)  # however slow the machine
    threads: list[str] = []

    def where(obs: Observation) -> float:
        threads.append(threading.current_thread().name)
        return 0.5

    signals = [FunctionSignal(where, name=f"s{i}") for i in range(8)]
    results = score_all(signals, OBS, LIMIT, workers)
    assert all(r.ok for r in results)
    assert len(set(threads)) == 1
    assert threads[0] != threading.current_thread().name


def test_model_calling_signals_run_at_the_same_time(
    workers: Workers, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(running, "HANDOFF_SECONDS", 30.0)  # each has a task at once
    both = threading.Barrier(2, timeout=2)  # passes only if both wait at once

    def calls_model(obs: Observation) -> float:
        both.wait()
        return 0.7

    costly = DeclaredCost(llm_calls=1)
    signals = [
        FunctionSignal(calls_model, name="judge", cost=costly),
        fixed("cheap", 0.2),
        FunctionSignal(calls_model, name="elicit", cost=costly),
    ]
    results = score_all(signals, OBS, 5.0, workers)
    assert [(r.name, r.confidence) for r in results] == [
        ("judge", 0.7),
        ("cheap", 0.2),
        ("elicit", 0.7),
    ]


def test_without_workers_the_call_uses_a_pool_of_its_own(
    released: threading.Event,
) -> None:
    ran: list[str] = []
    signals = [hanging("hung", released, ran), fixed("a", 0.3)]
    results, elapsed = timed(lambda: score_all(signals, OBS, LIMIT))
    assert [r.ok for r in results] == [False, True]
    assert elapsed < LIMIT + SLACK


def _thread_of(name: str, seen: dict[str, str], inline: bool) -> FunctionSignal:
    def body(obs: Observation) -> float:
        seen[name] = threading.current_thread().name
        return 0.5

    return FunctionSignal(body, name=name, cost=DeclaredCost(inline=inline))


def test_inline_signals_run_in_the_calling_thread_and_others_on_a_worker(
    workers: Workers,
) -> None:
    seen: dict[str, str] = {}
    signals = [_thread_of("pure", seen, True), _thread_of("user", seen, False)]
    results = score_all(signals, OBS, LIMIT, workers)
    assert [r.name for r in results] == ["pure", "user"]
    assert seen["pure"] == threading.current_thread().name
    assert seen["user"].startswith("batches")


async def test_inline_signals_run_on_the_event_loop_in_async_too(
    workers: Workers,
) -> None:
    seen: dict[str, str] = {}
    signals = [_thread_of("pure", seen, True), _thread_of("user", seen, False)]
    results = await running.ascore_all(signals, OBS, LIMIT, workers)
    assert [r.confidence for r in results] == [0.5, 0.5]
    assert seen["pure"] == threading.current_thread().name
    assert seen["user"].startswith("batches")


def test_the_built_in_pure_signals_are_inline_and_user_functions_are_not() -> None:
    from confguard.signals import AverageLogprob, Gini, HedgingSignal
    from confguard.signals.retrieval import AnswerSupport, RetrievalSupport

    pure = [
        AverageLogprob(),
        Gini(),
        HedgingSignal(),
        AnswerSupport(),
        RetrievalSupport(),
    ]
    assert all(s.cost.inline for s in pure)
    assert not FunctionSignal(lambda obs: 0.5).cost.inline
