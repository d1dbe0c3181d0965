"""The signal protocol, and the one driver that runs any signal sync or async.

A signal is a small strategy object with one method, `score(obs)`. A signal that
needs a model writes its work once, as a *plan*: a generator that yields
`GenerationRequest`s / `ScoringRequest`s, receives the model's replies and returns
its `SignalResult` (httpx's `auth_flow` is the model of this). `BaseSignal` runs
that plan with `generate` or `agenerate` inside the one wrapper that turns errors
into `failed`, enforces the timeout and measures the cost, so no signal writes an
async twin by hand.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from collections.abc import Generator as PlanGenerator
from typing import Any, Protocol, TypeVar, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

from confguard.exceptions import GenerationError, SignalTimeoutError
from confguard.llm.base import (
    Completion,
    ContinuationScorer,
    GenerationRequest,
    Generator,
    ModelRequest,
    ScoringRequest,
)
from confguard.observation import Observation, TokenLogprob
from confguard.results import Cost, SignalResult

T = TypeVar("T")
Reply = tuple[Completion, ...] | tuple[TokenLogprob, ...]
"""What a plan receives: completions for a generation, logprobs for a scoring."""
Plan = PlanGenerator[ModelRequest, Any, T]
"""A model-calling computation: yields requests, receives replies, returns T."""


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


# --- the driver: one plan, a sync or an async executor ---------------------------


class _Meter:
    """Counts the model calls and tokens a plan spends."""

    def __init__(self) -> None:
        self.calls = 0
        self.tokens = 0

    def add(self, request: ModelRequest, reply: Reply) -> None:
        self.calls += 1
        if isinstance(request, ScoringRequest):
            self.tokens += len(reply)
            return
        for i, completion in enumerate(reply):
            assert isinstance(completion, Completion)
            # One prompt serves all n completions of a call.
            self.tokens += completion.completion_tokens
            self.tokens += completion.prompt_tokens if i == 0 else 0

    @property
    def cost(self) -> Cost:
        return Cost(llm_calls=self.calls, tokens=self.tokens)


def _checked(request: ModelRequest, reply: Any) -> Reply:
    if isinstance(request, GenerationRequest) and not reply:
        raise GenerationError("the generator returned no completion")
    return tuple(reply)


def _scorer(model: Any) -> ContinuationScorer:
    if not isinstance(model, ContinuationScorer):
        raise GenerationError(
            f"{getattr(model, 'name', type(model).__name__)!r} cannot score a "
            "continuation (it is not a ContinuationScorer)"
        )
    return model


def execute(model: Generator, request: ModelRequest) -> Reply:
    """Answer one request with the model's sync methods."""
    if isinstance(request, ScoringRequest):
        return _checked(request, _scorer(model).score_continuation(request))
    return _checked(request, model.generate(request))


async def aexecute(model: Generator, request: ModelRequest) -> Reply:
    """Answer one request with the model's async methods."""
    if isinstance(request, ScoringRequest):
        return _checked(request, await _scorer(model).ascore_continuation(request))
    return _checked(request, await model.agenerate(request))


def run_plan(
    plan: Plan[T], model: Generator | None, deadline: float | None = None
) -> tuple[T, Cost]:
    """Run a plan to its result with sync model calls; return it with its cost.

    `deadline` (a `time.monotonic()` value) is checked before each model call.
    """
    meter = _Meter()
    try:
        request = next(plan)
        while True:
            _check_deadline(deadline)
            reply = execute(_needed(model), request)
            meter.add(request, reply)
            request = plan.send(reply)
    except StopIteration as done:
        return done.value, meter.cost


async def arun_plan(plan: Plan[T], model: Generator | None) -> tuple[T, Cost]:
    """Async twin of `run_plan` (the caller bounds it with `asyncio.wait_for`)."""
    meter = _Meter()
    try:
        request = next(plan)
        while True:
            reply = await aexecute(_needed(model), request)
            meter.add(request, reply)
            request = plan.send(reply)
    except StopIteration as done:
        return done.value, meter.cost


def _needed(model: Generator | None) -> Generator:
    if model is None:
        raise GenerationError("this signal's plan calls a model but it has none")
    return model


def _check_deadline(deadline: float | None) -> None:
    if deadline is not None and time.monotonic() > deadline:
        raise SignalTimeoutError("the signal ran past its timeout")


# --- the base class -------------------------------------------------------------


class BaseSignal:
    """Base for signals: implement `_score(obs)`, or `_plan(obs)` to call a model.

    `score` and `ascore` never raise: an exception or a timeout becomes a
    `failed` result, and the result carries its measured cost (model calls, tokens,
    seconds). A signal without model calls runs in a worker thread under `ascore`
    (embedders and numpy must not block the event loop); a plan's model calls go
    through the generator's `agenerate`.
    """

    name: str = "signal"
    cost: DeclaredCost = DeclaredCost()
    generator: Generator | None = None
    """The model a plan's requests go to (None for signals that call no model)."""
    timeout: float | None = None
    """Seconds before the signal is reported `failed` (None: no limit of its own)."""

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
        if not self._calls_model():
            return await asyncio.to_thread(self.score, obs)
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
        return type(self)._plan is not BaseSignal._plan


def _no_calls(value: T) -> Plan[T]:
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
    return await asyncio.to_thread(signal.score, obs)


__all__ = [
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
    "execute",
    "run_plan",
]
