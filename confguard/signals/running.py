"""Run signals under their timeouts, on a guard's own bounded worker threads.

`score_all` and `ascore_all` are what the guards use (`confguard.guard` re-exports
them): every signal's exception, wrong return or timeout becomes a `failed` result,
and blocking work runs on the `Workers` given, so a hung signal holds one of that
guard's threads, never asyncio's shared default executor.

Example:
    >>> score_all([FunctionSignal(lambda obs: 0.9, name="fixed")], obs, 2.0)
    (SignalResult(name='fixed', confidence=0.9, ...),)
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
import time
from collections import deque
from collections.abc import Mapping, Sequence

from confguard.llm.plans import stopping_at
from confguard.llm.workers import Workers, using
from confguard.observation import Observation
from confguard.results import SignalResult
from confguard.signals.base import Signal, ascore
from confguard.tracing import end_signal, signal_event, signal_span

Timeouts = Mapping[str, float | None] | float | None
"""Seconds per signal name, one limit for every signal, or None for no limit."""


def score_signal(signal: Signal, obs: Observation) -> SignalResult:
    """Score with one signal; an exception or a wrong return becomes `failed`.

    Traced, it gets a span of its own, or, if inline, an event on its attempt's.
    """
    if signal.cost.inline:
        result = _scored(signal, obs)
        signal_event(result)
        return result
    with signal_span(signal.name, calls_model=signal.cost.llm_calls > 0) as span:
        result = _scored(signal, obs)
        end_signal(span, result)
    return result


def _scored(signal: Signal, obs: Observation) -> SignalResult:
    try:
        return _checked(signal, signal.score(obs))
    except Exception as exc:  # a signal must never take the request down
        return SignalResult.failed(signal.name, exc)


async def ascore_signal(
    signal: Signal, obs: Observation, timeout: float | None
) -> SignalResult:
    """Async twin of `score_signal`, under `timeout` seconds if given (an inline
    signal is scored on the spot, as `score_signal` does: it cannot hang)."""
    if signal.cost.inline:
        return score_signal(signal, obs)
    with signal_span(signal.name, calls_model=signal.cost.llm_calls > 0) as span:
        try:
            result = _checked(
                signal, await asyncio.wait_for(ascore(signal, obs), timeout)
            )
        except asyncio.TimeoutError:
            result = SignalResult.failed(signal.name, _timed_out(timeout))
        except Exception as exc:
            result = SignalResult.failed(signal.name, exc)
        end_signal(span, result)
    return result


def _checked(signal: Signal, result: object) -> SignalResult:
    if isinstance(result, SignalResult):
        return result
    kind = type(result).__name__
    return SignalResult.failed(signal.name, f"returned {kind}, expected SignalResult")


HANDOFF_SECONDS = 0.05
"""How long queued signals wait with no result coming in before another worker
task joins: a slow or hung signal delays the signals queued behind it, never fails
them."""


def score_all(
    signals: Sequence[Signal],
    obs: Observation,
    timeouts: Timeouts = None,
    workers: Workers | None = None,
) -> tuple[SignalResult, ...]:
    """Score with every signal: on `workers` threads, each under its timeout.

    Signals that declare no LLM call take microseconds, less than a worker task
    costs, so they share one task and run one after another; each model-calling
    signal gets a task of its own, so their calls overlap. Signals declared
    `inline` (pure and bounded) run in the calling thread meanwhile, with no
    timeout. With no limit for any other signal, every signal runs in order in the
    calling thread. Without `workers`, a pool for this call alone is used.
    """
    away = [i for i, s in enumerate(signals) if not s.cost.inline]
    limits = [limit_of(timeouts, signals[i]) for i in away]
    if all(limit is None for limit in limits):
        return tuple(score_signal(s, obs) for s in signals)
    pool = workers or Workers(len(away))
    try:
        queue = _Queue([signals[i] for i in away], obs, limits, pool)
        queue.start()
        here = {i: score_signal(s, obs) for i, s in enumerate(signals) if s.cost.inline}
        there = dict(zip(away, queue.results(), strict=True))
        return tuple({**here, **there}[i] for i in range(len(signals)))
    finally:
        if workers is None:
            pool.shutdown(wait=False)


def _calls_no_model(signal: Signal) -> bool:
    return signal.cost.llm_calls == 0


class _Queue:
    """One `score_all` call: its signals, taken in turn by the worker tasks.

    The caller only waits: at each signal's deadline (measured from the start) a
    signal not done yet is failed and, if still queued, withdrawn so it never runs
    late; results that came in are kept. When `HANDOFF_SECONDS` pass with no result
    while signals are queued, one more task is started, up to one per signal.
    """

    def __init__(
        self,
        signals: Sequence[Signal],
        obs: Observation,
        limits: Sequence[float | None],
        pool: Workers,
    ) -> None:
        self._signals, self._obs, self._limits, self._pool = signals, obs, limits, pool
        self._start = self._progress = time.monotonic()
        order = sorted(range(len(signals)), key=lambda i: _calls_no_model(signals[i]))
        self._todo = deque(order)  # model-calling ones first, one to each task
        self._done: dict[int, SignalResult] = {}
        self._lock = threading.Condition()
        self._tasks: list[concurrent.futures.Future[None]] = []

    def start(self) -> None:
        """Hand the signals to the workers: a task per model-calling one, and one
        for the rest."""
        calling = sum(not _calls_no_model(s) for s in self._signals)
        with self._lock:
            for _ in range(min(calling + 1, len(self._signals))):
                self._add_task()

    def results(self) -> tuple[SignalResult, ...]:
        """Every signal's result, in signal order, each by its own deadline."""
        try:
            with self._lock:
                while not self._checked(time.monotonic()):
                    self._lock.wait(self._until_next_check())
        finally:
            for task in self._tasks:
                task.cancel()  # a task no thread took yet: nothing left for it
        return tuple(self._done[i] for i in range(len(self._signals)))

    def _checked(self, now: float) -> bool:
        # Fail what is overdue, add a task if the queue stalled; all done?
        for i in range(len(self._signals)):
            if i not in self._done and _passed(self._deadline(i), now):
                self._done[i] = self._overdue(i)
        if len(self._done) == len(self._signals):
            return True
        if self._can_grow() and now >= self._progress + HANDOFF_SECONDS:
            self._add_task()
        return False

    def _can_grow(self) -> bool:
        # Signals wait, a task per signal at most, and the guard is not closing.
        room = len(self._tasks) < len(self._signals) and not self._pool.closed
        return room and bool(self._todo)

    def _until_next_check(self) -> float | None:
        checks = [self._deadline(i) for i in range(len(self._signals))]
        checks = [d for i, d in enumerate(checks) if i not in self._done]
        if self._can_grow():
            checks.append(self._progress + HANDOFF_SECONDS)
        due = [d for d in checks if d is not None]
        return max(0.0, min(due) - time.monotonic()) if due else None

    def _add_task(self) -> None:
        self._tasks.append(self._pool.submit(self._work))
        self._progress = time.monotonic()

    def _work(self) -> None:
        while (i := self._take()) is not None:
            result = _score_until(self._deadline(i), self._signals[i], self._obs)
            with self._lock:
                self._done.setdefault(i, result)  # unless it was failed meanwhile
                self._progress = time.monotonic()
                if len(self._done) == len(self._signals):
                    self._lock.notify()  # the caller wakes once, not per result

    def _take(self) -> int | None:
        with self._lock:
            return self._todo.popleft() if self._todo else None

    def _deadline(self, i: int) -> float | None:
        limit = self._limits[i]
        return None if limit is None else self._start + limit

    def _overdue(self, i: int) -> SignalResult:
        # A thread cannot be killed: a started signal finishes in the background.
        queued = i in self._todo
        if queued:
            self._todo.remove(i)
        all_busy = queued and self._pool.busy >= self._pool.max_workers
        reason = _timed_out(self._limits[i], queued, all_busy)
        return SignalResult.failed(self._signals[i].name, reason)


def _passed(deadline: float | None, now: float) -> bool:
    return deadline is not None and now >= deadline


def _score_until(
    deadline: float | None, signal: Signal, obs: Observation
) -> SignalResult:
    with stopping_at(deadline):  # a sync plan makes no model call past it
        return score_signal(signal, obs)


def _timed_out(
    limit: float | None, never_started: bool = False, all_busy: bool = False
) -> str:
    reason = f"timed out after {limit:g}s"
    if never_started:
        reason += " waiting for a worker"
    if all_busy:
        reason += " (all of the guard's threads were busy)"
    return reason


def limit_of(timeouts: Timeouts, signal: Signal) -> float | None:
    """The seconds `signal` may take under `timeouts` (None: no limit)."""
    if isinstance(timeouts, Mapping):
        return timeouts.get(signal.name)
    return timeouts


async def ascore_all(
    signals: Sequence[Signal],
    obs: Observation,
    timeouts: Timeouts = None,
    workers: Workers | None = None,
) -> tuple[SignalResult, ...]:
    """Score with every signal concurrently, each under its timeout.

    Blocking work runs on `workers` if given, else asyncio's default executor;
    `inline` signals run on the event loop, with no timeout.
    """
    away = [i for i, s in enumerate(signals) if not s.cost.inline]
    with using(workers):
        scoring = (
            ascore_signal(signals[i], obs, limit_of(timeouts, signals[i])) for i in away
        )
        there = dict(zip(away, await asyncio.gather(*scoring), strict=True))
    return tuple(
        there[i] if i in there else score_signal(s, obs) for i, s in enumerate(signals)
    )


__all__ = [
    "Timeouts",
    "ascore_all",
    "ascore_signal",
    "limit_of",
    "score_all",
    "score_signal",
]
