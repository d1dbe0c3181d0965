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
import time
from collections.abc import Mapping, Sequence

from confguard.llm.plans import stopping_at
from confguard.llm.workers import Workers, using
from confguard.observation import Observation
from confguard.results import SignalResult
from confguard.signals.base import Signal, ascore

Timeouts = Mapping[str, float | None] | float | None
"""Seconds per signal name, one limit for every signal, or None for no limit."""


def score_signal(signal: Signal, obs: Observation) -> SignalResult:
    """Score with one signal; an exception or a wrong return becomes `failed`."""
    try:
        result = signal.score(obs)
    except Exception as exc:  # a signal must never take the request down
        return SignalResult.failed(signal.name, exc)
    return _checked(signal, result)


async def ascore_signal(
    signal: Signal, obs: Observation, timeout: float | None
) -> SignalResult:
    """Async twin of `score_signal`, under `timeout` seconds if given."""
    try:
        result = await asyncio.wait_for(ascore(signal, obs), timeout)
    except asyncio.TimeoutError:
        return SignalResult.failed(signal.name, _timed_out(timeout))
    except Exception as exc:
        return SignalResult.failed(signal.name, exc)
    return _checked(signal, result)


def _checked(signal: Signal, result: object) -> SignalResult:
    if isinstance(result, SignalResult):
        return result
    kind = type(result).__name__
    return SignalResult.failed(signal.name, f"returned {kind}, expected SignalResult")


def score_all(
    signals: Sequence[Signal],
    obs: Observation,
    timeouts: Timeouts = None,
    workers: Workers | None = None,
) -> tuple[SignalResult, ...]:
    """Score with every signal: on `workers` threads, each under its timeout.

    With no limit for any signal, they run in order in the calling thread. Without
    `workers`, a pool for this call alone is used.
    """
    limits = [limit_of(timeouts, s) for s in signals]
    if all(limit is None for limit in limits):
        return tuple(score_signal(s, obs) for s in signals)
    pool = workers or Workers(len(signals))
    start = time.monotonic()
    try:
        futures = [
            pool.submit(_score_until, _deadline(start, limit), s, obs)
            for s, limit in zip(signals, limits, strict=True)
        ]
        return tuple(
            _within(f, s, start, limit)
            for f, s, limit in zip(futures, signals, limits, strict=True)
        )
    finally:
        if workers is None:
            pool.shutdown(wait=False)


def _score_until(
    deadline: float | None, signal: Signal, obs: Observation
) -> SignalResult:
    with stopping_at(deadline):  # a sync plan makes no model call past it
        return score_signal(signal, obs)


def _deadline(start: float, limit: float | None) -> float | None:
    return None if limit is None else start + limit


def _within(
    future: concurrent.futures.Future[SignalResult],
    signal: Signal,
    start: float,
    limit: float | None,
) -> SignalResult:
    # A thread cannot be killed: a timed-out signal finishes in the background.
    deadline = _deadline(start, limit)
    left = None if deadline is None else max(0.0, deadline - time.monotonic())
    try:
        return future.result(timeout=left)
    except concurrent.futures.TimeoutError:
        never_started = future.cancel()
        return SignalResult.failed(signal.name, _timed_out(limit, never_started))


def _timed_out(limit: float | None, never_started: bool = False) -> str:
    reason = f"timed out after {limit:g}s"
    if never_started:
        reason += " waiting for a worker (all of the guard's threads were busy)"
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

    Blocking work runs on `workers` if given, else asyncio's default executor.
    """
    with using(workers):
        scoring = (ascore_signal(s, obs, limit_of(timeouts, s)) for s in signals)
        results = await asyncio.gather(*scoring)
    return tuple(results)


__all__ = [
    "Timeouts",
    "ascore_all",
    "ascore_signal",
    "limit_of",
    "score_all",
    "score_signal",
]
