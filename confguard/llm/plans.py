"""Plans: model-calling computations written once, run sync or async by one driver.

A plan is a generator that yields `GenerationRequest`s / `ScoringRequest`s,
receives each reply (`tuple[Completion, ...]` or `tuple[TokenLogprob, ...]`) and
returns its value; `run_plan` answers it with `generate`, `arun_plan` with
`agenerate`, and both count what it cost. httpx's `auth_flow` is the model.

Example:
    >>> def capital(country):
    ...     [c] = yield GenerationRequest(prompt=f"The capital of {country} is")
    ...     return c.text.strip()
    >>> run_plan(capital("France"), generator)
    ('Paris', Cost(llm_calls=1, tokens=9, seconds=0.0))
"""

from __future__ import annotations

import contextvars
import time
from collections.abc import Generator as PlanGenerator
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from confguard.exceptions import GenerationError, SignalTimeoutError
from confguard.llm.base import (
    Completion,
    ContinuationScorer,
    GenerationRequest,
    Generator,
    ModelRequest,
    ScoringRequest,
)
from confguard.llm.tracing import end_model_call, model_span
from confguard.observation import TokenLogprob
from confguard.results import Cost

_T = TypeVar("_T")
Reply = tuple[Completion, ...] | tuple[TokenLogprob, ...]
"""What a plan receives: completions for a generation, logprobs for a scoring."""
Plan = PlanGenerator[ModelRequest, Any, _T]
"""A model-calling computation: yields requests, receives replies, returns T."""

_DEADLINE: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "confguard_plan_deadline", default=None
)


class _Meter:
    """Counts the model calls and tokens a plan spends."""

    def __init__(self) -> None:
        self.calls = 0
        self.tokens = 0

    def add(self, request: ModelRequest, reply: Reply) -> None:
        if isinstance(request, ScoringRequest):
            self.calls += 1
            self.tokens += len(reply)
            return
        # Each completion is one decode: n samples cost n calls, as declared costs say.
        self.calls += len(reply)
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
    """Answer one request with the model's sync methods (in a span when tracing)."""
    with model_span(model, request) as span:
        if isinstance(request, ScoringRequest):
            reply = _checked(request, _scorer(model).score_continuation(request))
        else:
            reply = _checked(request, model.generate(request))
        end_model_call(span, reply)
    return reply


async def aexecute(model: Generator, request: ModelRequest) -> Reply:
    """Answer one request with the model's async methods (in a span when tracing)."""
    with model_span(model, request) as span:
        if isinstance(request, ScoringRequest):
            scorer = _scorer(model)
            reply = _checked(request, await scorer.ascore_continuation(request))
        else:
            reply = _checked(request, await model.agenerate(request))
        end_model_call(span, reply)
    return reply


def run_plan(
    plan: Plan[_T], model: Generator | None, deadline: float | None = None
) -> tuple[_T, Cost]:
    """Run a plan to its result with sync model calls; return it with its cost.

    `deadline` (a `time.monotonic()` value) is checked before each model call, and
    so is the one of an enclosing `stopping_at`.
    """
    deadline = _earliest(deadline, _DEADLINE.get())
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


async def arun_plan(plan: Plan[_T], model: Generator | None) -> tuple[_T, Cost]:
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


@contextmanager
def stopping_at(deadline: float | None) -> Iterator[None]:
    """Within this block, `run_plan` makes no model call after `deadline`.

    A guard that stopped waiting for a signal (a thread cannot be killed) so keeps
    its plan from spending further model calls on an answer nobody reads.
    """
    token = _DEADLINE.set(_earliest(deadline, _DEADLINE.get()))
    try:
        yield
    finally:
        _DEADLINE.reset(token)


def _earliest(a: float | None, b: float | None) -> float | None:
    return b if a is None else a if b is None else min(a, b)


def _check_deadline(deadline: float | None) -> None:
    if deadline is not None and time.monotonic() > deadline:
        raise SignalTimeoutError("the signal ran past its timeout")


__all__ = [
    "ModelRequest",
    "Plan",
    "Reply",
    "aexecute",
    "arun_plan",
    "execute",
    "run_plan",
    "stopping_at",
]
