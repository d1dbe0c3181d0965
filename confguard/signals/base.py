"""The signal protocol: a small strategy object with one method, `score(obs)`."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

from confguard.observation import Observation
from confguard.results import Cost, SignalResult


class DeclaredCost(BaseModel):
    """What a signal says it costs before it runs (the cascade orders by this)."""

    model_config = ConfigDict(frozen=True)

    llm_calls: int = Field(default=0, ge=0)
    relative: float = Field(default=0.0, ge=0.0)
    """A unitless tie-breaker among signals with the same number of LLM calls."""


@runtime_checkable
class Signal(Protocol):
    """Anything that turns an Observation into a SignalResult."""

    name: str
    cost: DeclaredCost

    def score(self, obs: Observation) -> SignalResult: ...


class BaseSignal:
    """Base for signals: subclasses implement `_score`; `score` times it, never raises.

    A subclass that does real I/O overrides `ascore` too; by default `ascore` runs
    `score` in a worker thread so the event loop is never blocked.
    """

    name: str = "signal"
    cost: DeclaredCost = DeclaredCost()

    def score(self, obs: Observation) -> SignalResult:
        """Score one observation; an exception becomes a `failed` result."""
        start = time.perf_counter()
        try:
            result = self._score(obs)
        except Exception as exc:  # a signal must never take the request down
            result = SignalResult.failed(self.name, exc)
        return _with_seconds(result, time.perf_counter() - start)

    async def ascore(self, obs: Observation) -> SignalResult:
        """Async twin of `score`."""
        return await asyncio.to_thread(self.score, obs)

    def _score(self, obs: Observation) -> SignalResult:
        raise NotImplementedError


def _with_seconds(result: SignalResult, seconds: float) -> SignalResult:
    if result.cost.seconds:
        return result
    cost = result.cost.model_copy(update={"seconds": seconds})
    return result.model_copy(update={"cost": cost})


class FunctionSignal(BaseSignal):
    """Adapts a plain function `obs -> float | SignalResult` into a signal."""

    def __init__(
        self,
        fn: Callable[[Observation], float | SignalResult],
        name: str | None = None,
        cost: DeclaredCost | None = None,
    ) -> None:
        self._fn = fn
        self.name = name or str(getattr(fn, "__name__", "function"))
        self.cost = cost or DeclaredCost()

    def _score(self, obs: Observation) -> SignalResult:
        value = self._fn(obs)
        if isinstance(value, SignalResult):
            return value
        return SignalResult(name=self.name, confidence=float(value), raw=float(value))


def as_signal(obj: Signal | Callable[[Observation], float | SignalResult]) -> Signal:
    """Accept a signal object or a plain function."""
    if isinstance(obj, Signal):
        return obj
    if callable(obj):
        return FunctionSignal(obj)
    raise TypeError(f"not a signal or a function: {obj!r}")


async def ascore(signal: Signal, obs: Observation) -> SignalResult:
    """Score with the signal's async method when it has one."""
    method = getattr(signal, "ascore", None)
    if method is not None:
        result: SignalResult = await method(obs)
        return result
    return await asyncio.to_thread(signal.score, obs)


__all__ = [
    "BaseSignal",
    "Cost",
    "DeclaredCost",
    "FunctionSignal",
    "Signal",
    "as_signal",
    "ascore",
]
