"""The signal protocol, and the one driver that runs any signal sync or async.

A signal is a small strategy object with one method, `score(obs)`. A signal that
needs a model writes its work once, as a *plan*: a generator that yields
`GenerationRequest`s / `ScoringRequest`s, receives the model's replies and returns
its `SignalResult` (httpx's `auth_flow` is the model of this). `BaseSignal` runs
that plan with `generate` or `agenerate` inside the one wrapper that turns errors
into `failed`, enforces the timeout and measures the cost, so no signal writes an
async twin by hand.

Every signal has a timeout: its own `timeout`, or `default_timeout(cost)` from the
cost it declares (`BASE_TIMEOUT_SECONDS` plus `PER_CALL_TIMEOUT_SECONDS` per LLM
call); a guard's `signal_timeout` overrides both.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Protocol, TypeVar, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

from confguard.llm.base import Generator
from confguard.llm.plans import Plan, Reply, aexecute, arun_plan, execute, run_plan
from confguard.llm.workers import run_blocking
from confguard.observation import Observation
from confguard.results import Cost, SignalResult

_T = TypeVar("_T")

BASE_TIMEOUT_SECONDS = 5.0
"""The default timeout of a signal that declares no LLM call."""
PER_CALL_TIMEOUT_SECONDS = 30.0
"""What each declared LLM call adds to a signal's default timeout."""


class DeclaredCost(BaseModel):
    """What a signal says it costs before it runs (the cascade orders by this)."""

    model_config = ConfigDict(frozen=True)

    llm_calls: int = Field(default=0, ge=0)
    relative: float = Field(default=0.0, ge=0.0)
    """A unitless tie-breaker among signals with the same number of LLM calls."""
    inline: bool = False
    """A pure computation on the observation alone (no I/O, no model, no lock, time
    linear in its size), cheaper than a hand-off to a worker thread: it runs in the
    caller's thread or on the event loop, and no timeout applies, for nothing in it
    can hang. Leave False for code that could block: a hung signal then fails
    alone, at its timeout."""


@runtime_checkable
class Signal(Protocol):
    """Anything that turns an Observation into a SignalResult."""

    name: str
    cost: DeclaredCost

    def score(self, obs: Observation) -> SignalResult: ...


def default_timeout(cost: DeclaredCost) -> float:
    """Seconds a signal may take unless told otherwise: 5 s + 30 s per LLM call.

    Example:
        >>> default_timeout(DeclaredCost(llm_calls=2))
        65.0
    """
    return BASE_TIMEOUT_SECONDS + PER_CALL_TIMEOUT_SECONDS * cost.llm_calls


def timeout_of(signal: Signal) -> float:
    """The signal's own `timeout` if it sets one, else its `default_timeout`."""
    own = getattr(signal, "timeout", None)
    return default_timeout(signal.cost) if own is None else float(own)


# --- the base class -------------------------------------------------------------


class BaseSignal:
    """Base for signals: implement `_score(obs)`, or `_plan(obs)` to call a model.

    `score` and `ascore` never raise: an exception or a timeout becomes a
    `failed` result, and the result carries its measured cost (model calls, tokens,
    seconds). A signal without model calls runs in a worker thread under `ascore`
    (embedders and numpy must not block the event loop): the guard's own bounded
    workers inside a guard, see `confguard.llm.workers`; a plan's model calls go
    through the generator's `agenerate`.
    """

    name: str = "signal"
    cost: DeclaredCost = DeclaredCost()
    generator: Generator | None = None
    """The model a plan's requests go to (None for signals that call no model)."""
    timeout: float | None = None
    """Seconds before the signal is reported `failed` (None: `default_timeout`)."""

    def score(self, obs: Observation) -> SignalResult:
        """Score one observation; an exception becomes a `failed` result."""
        start = time.perf_counter()
        try:
            deadline = None if self.timeout is None else time.monotonic() + self.timeout
            result, cost = run_plan(self._plan(obs), self.generator, deadline)
        except Exception as exc:  # a signal must never take the request down
            return _measured(SignalResult.failed(self.name, exc), Cost(), start)
        return _measured(result, cost, start)

    async def ascore(self, obs: Observation) -> SignalResult:
        """Async twin of `score`: the same plan, model calls awaited."""
        if self.cost.inline:
            return self.score(obs)  # microseconds: a thread hand-off costs more
        if not self._calls_model():
            return await run_blocking(self.score, obs)
        start = time.perf_counter()
        try:
            run = arun_plan(self._plan(obs), self.generator)
            result, cost = await asyncio.wait_for(run, self.timeout)
        except TimeoutError:
            failed = SignalResult.failed(self.name, _timed_out(self.timeout))
            return _measured(failed, Cost(), start)
        except Exception as exc:  # a signal must never take the request down
            return _measured(SignalResult.failed(self.name, exc), Cost(), start)
        return _measured(result, cost, start)

    def _plan(self, obs: Observation) -> Plan[SignalResult]:
        """The signal's work; by default `_score` with no model calls."""
        return (yield from _no_calls(self._score(obs)))

    def _score(self, obs: Observation) -> SignalResult:
        raise NotImplementedError(
            f"{type(self).__name__} must implement _score(obs) or _plan(obs)"
        )

    def _calls_model(self) -> bool:
        """Whether `ascore` drives the plan on the event loop (model calls awaited).

        False runs the whole `score` in a worker thread instead; a subclass whose
        plan calls a model only sometimes overrides this per instance.
        """
        return type(self)._plan is not BaseSignal._plan


def _no_calls(value: _T) -> Plan[_T]:
    """A plan that asks nothing of a model."""
    return value
    yield  # pragma: no cover - makes this a generator


def _timed_out(timeout: float | None) -> str:
    return f"timed out after {timeout:g} s"


def _measured(result: SignalResult, spent: Cost, start: float) -> SignalResult:
    """The result with the plan's calls and tokens, and the wall time, recorded."""
    seconds = result.cost.seconds or time.perf_counter() - start
    cost = Cost(
        llm_calls=result.cost.llm_calls or spent.llm_calls,
        tokens=result.cost.tokens or spent.tokens,
        seconds=seconds,
    )
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
    return await run_blocking(signal.score, obs)


__all__ = [
    "BASE_TIMEOUT_SECONDS",
    "PER_CALL_TIMEOUT_SECONDS",
    "BaseSignal",
    "Cost",
    "DeclaredCost",
    "FunctionSignal",
    "Plan",
    "Reply",
    "Signal",
    "aexecute",
    "arun_plan",
    "as_signal",
    "ascore",
    "default_timeout",
    "execute",
    "run_plan",
    "timeout_of",
]
