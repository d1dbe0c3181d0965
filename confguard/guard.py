"""Guard and AsyncGuard: thin sync and async shells over the pure `GuardCore`.

The shells do the I/O the core asks for: run the pipeline under tenacity, score the
signals, write audit rows, call escalation routes. Everything that decides lives in
`confguard._core`, `confguard.policy.decide` and `confguard.policy.cascade`.
"""

from __future__ import annotations

import os
import time
from collections.abc import AsyncIterable, AsyncIterator, Generator, Mapping, Sequence
from types import MappingProxyType
from typing import Any, TypeVar

from tenacity import AsyncRetrying, Retrying
from typing_extensions import Unpack

from confguard._core import (
    Call,
    DoCheck,
    DoEscalate,
    GuardCore,
    GuardOptions,
    SignalLike,
)
from confguard.claims.scorer import ClaimScorer, ScoredClaim
from confguard.exceptions import ConfigurationError, EscalationError, InputError
from confguard.llm.workers import Workers, run_blocking, using
from confguard.observation import Observation
from confguard.policy.cascade import Cascade, CascadePlan
from confguard.policy.model import Policy
from confguard.results import Attempt, AttemptRecord, GuardResult, SignalResult
from confguard.routes.base import RouteOutcome
from confguard.routes.pipeline import (
    Pipeline,
    acall_pipeline,
    as_observation,
    call_pipeline,
)
from confguard.scoring.aggregate import Calibrator, Combiner
from confguard.signals.base import Signal
from confguard.signals.running import (
    Timeouts,
    ascore_all,
    ascore_signal,
    limit_of,
    score_all,
)
from confguard.store.spool import Delivered, DeliveryFailed, SpoolOp
from confguard.store.spooling import Recorder, spool_for
from confguard.streaming.drive import (
    AsyncGatedStream,
    GatedStream,
    StreamSource,
    adrive,
    drive,
    open_stream,
    opened_source,
    sentence_gate,
    stream_record,
    tail,
)
from confguard.streaming.gate import GateEvent, Segment, Stopped
from confguard.telemetry import (
    attempt_span,
    end_attempt,
    end_escalation,
    escalation_span,
    observe,
    request_span,
    watch_spool,
)

_S = TypeVar("_S", bound="_Shell")


class _Shell:
    """What both shells share: construction and read-only views of the core."""

    def __init__(
        self,
        signals: Sequence[SignalLike],
        policy: Policy | None = None,
        *,
        claims: ClaimScorer | None = None,
        **options: Unpack[GuardOptions],
    ) -> None:
        self._core = GuardCore(signals, policy, claims=claims, **options)
        self._workers = Workers(self._core.max_workers, name="confguard-signals")
        self._recorder = _recorder(self._core)
        watch_spool(self._recorder)

    def close(self) -> None:
        """Stop the worker threads (its twins' too); a hung one exits on return.

        The spool's background replay stops too; what is left replays when a guard
        on the same store starts again (or by `confguard store replay`).

        Example:
            >>> with Guard([FunctionSignal(lambda obs: 0.9, name="fixed")]) as guard:
            ...     guard.check(Observation(question="2+2?", answer="4")).confidence
        """
        self._workers.shutdown(wait=False, cancel_futures=True)
        if self._recorder is not None:
            self._recorder.close()

    @property
    def recorder(self) -> Recorder | None:
        """How this guard writes to its store and spools (None: no store)."""
        return self._recorder

    def __enter__(self: _S) -> _S:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def policy(self) -> Policy:
        """The policy in force (max_attempts set from an int `retries`)."""
        return self._core.policy

    @property
    def signals(self) -> tuple[Signal, ...]:
        """The signals every attempt is scored with."""
        return self._core.signals

    @property
    def combiner(self) -> Combiner:
        """How signal confidences are combined (given, or built from the policy)."""
        return self._core.combiner

    @property
    def calibrator(self) -> Calibrator | None:
        """The calibrator applied to the combined confidence, if any."""
        return self._core.calibrator

    @property
    def timeouts(self) -> Mapping[str, float | None]:
        """The seconds each signal may take, by name (None: no limit)."""
        return MappingProxyType(self._core.timeouts)

    def _twin(self, shell: type[_S]) -> _S:
        # The core is immutable and holds no per-call state, so shells may share it.
        twin = shell.__new__(shell)
        twin._core = self._core
        twin._workers = self._workers  # one bound per configuration, however made
        twin._recorder = self._recorder  # one spool, written in order
        return twin

    def _open_workers(self) -> Workers:
        if self._workers.closed:
            raise ConfigurationError("this guard is closed (close() was called)")
        return self._workers


class Guard(_Shell):
    """Scores, decides, retries, escalates and records, synchronously.

    The keyword options are those of `GuardOptions` (store, routes, combiner,
    calibrator, signal_timeout, max_workers, retries, strategies, on_store_error,
    spool).
    `retries` is an int (attempts in all; overrides the policy's max_attempts) or a
    tenacity Retrying whose stop and wait are used. Signals run concurrently on the
    guard's own `max_workers` threads, each under its timeout (`signal_timeout`, else
    the signal's own, else `default_timeout` of its declared cost); with no limit at
    all (`signal_timeout=None`) they run one after another in the calling thread.
    `close()` (or `with Guard(...) as guard:`) stops the threads.

    The policy's retry strategies must be built in (`confguard.strategies`) or named
    in `strategies=`, the names your pipeline reads from `attempt.strategy`; any other
    name raises `UnknownComponentError` here rather than meaning nothing on a retry.

    Example:
        >>> guard = Guard([FunctionSignal(lambda obs: 0.9, name="fixed")], Policy())
        >>> guard.check(Observation(question="2+2?", answer="4")).decision.action
        'accept'
    """

    @classmethod
    def from_config(cls, path: str | os.PathLike[str], **resources: Any) -> Guard:
        """A guard built from a YAML config file (`confguard.config`).

        `resources` (``generator=``, ``embedder=``, …) reach the components that
        take them; errors are one ConfigurationError naming file, line and field.

        Example:
            >>> guard = Guard.from_config("examples/guard.yaml")
        """
        from confguard.config import parts  # loaded only when a config is read

        built = parts(path, **resources)
        return cls(built.signals, built.policy, **built.guard_options())

    def as_async(self) -> AsyncGuard:
        """An AsyncGuard sharing this guard's configuration and worker threads."""
        return self._twin(AsyncGuard)

    def check(self, observation: Observation) -> GuardResult:
        """Score and decide one observation you already have (no retry is run).

        Example:
            >>> result = guard.check(Observation(question="Capital?", answer="Paris"))
            >>> result.decision.action, result.confidence
        """
        start = time.perf_counter()
        obs = as_observation(observation, "check() was given")
        with request_span("check") as span:
            call = Call.new(obs.question)
            record = self._judge(Attempt(number=1), obs, [], start)
            self._record(call, record)
            return observe(self._conclude(call, [record]), span, self._core.inline)

    def run(self, pipeline: Pipeline, question: str) -> GuardResult:
        """Run `pipeline(question, attempt)` under the policy until it settles.

        Example:
            >>> def pipeline(question, attempt):
            ...     return Observation(question=question, answer="4")
            >>> guard.run(pipeline, "2+2?").answer
            '4'
        """
        with request_span("run") as span:
            call = Call.new(question)
            records = self._attempts(call, pipeline)
            return observe(self._conclude(call, records), span, self._core.inline)

    def stream(self, source: StreamSource, question: str) -> GatedStream:
        """Release `source`'s text a sentence at a time, each once its claim passed.

        `source` is an iterable of pieces (str or TokenLogprob), a `TokenStream`
        (pieces with the contexts and samples the claim signals read), or a
        pipeline `(question, attempt)` returning one. A sentence the claim
        policy redacts is replaced by its note; one that gates stops the stream
        (the source is closed) and the policy abstains or escalates with what
        was said so far. Nothing of a failed sentence is released. The stream's
        `result` is the GuardResult once it is read out.

        Example:
            >>> stream = guard.stream(tokens, "Who won Super Bowl 50?")
            >>> for chunk in stream:
            ...     print(chunk, end="")
            >>> stream.result.claims.removed
        """
        self._open_workers()
        return GatedStream(self._streamed(source, question))

    def _streamed(
        self, source: StreamSource, question: str
    ) -> Generator[str, None, GuardResult]:
        start, call = time.perf_counter(), Call.new(question)
        opened = open_stream(source, question)
        if isinstance(opened.tokens, AsyncIterable):
            raise InputError("Guard.stream needs sync pieces; use AsyncGuard.astream")
        gate = sentence_gate(self._core, question, opened, self._open_workers())
        stopped = yield from drive(gate, opened.tokens)
        # The span covers the stream's decision only: a span kept current across
        # the yields would be current in the caller's code between chunks.
        with request_span("stream") as span:
            obs = gate.observation()
            with attempt_span(Attempt(number=1)) as attempt:
                results = _score(self._core, obs, self._open_workers())
                record = stream_record(self._core, gate, obs, results, stopped, start)
                end_attempt(attempt, record)
            self._record(call, record)
            result = observe(self._conclude(call, [record]), span, self._core.inline)
        yield from tail(result, gate.released > 0)
        return result

    def _attempts(self, call: Call, pipeline: Pipeline) -> list[AttemptRecord]:
        records: list[AttemptRecord] = []
        for attempt in self._core.retrying(Retrying):
            if records:  # tenacity is retrying, so the last retry decision stands
                self._record(call, records[-1])
            record = self._attempt(call, pipeline, records)
            attempt.retry_state.set_result(record)
            records.append(record)
        records[-1] = self._core.settle(records)
        self._record(call, records[-1])
        return records

    def _attempt(
        self, call: Call, pipeline: Pipeline, records: list[AttemptRecord]
    ) -> AttemptRecord:
        start = time.perf_counter()
        attempt = self._core.next_attempt(records)
        obs = call_pipeline(pipeline, call.question, attempt)
        return self._judge(attempt, obs, records, start)

    def _judge(
        self,
        attempt: Attempt,
        obs: Observation,
        history: list[AttemptRecord],
        start: float,
    ) -> AttemptRecord:
        with attempt_span(attempt) as span:
            results = _score(self._core, obs, self._open_workers())
            record = self._core.judge(
                attempt, obs, results, tuple(history), time.perf_counter() - start
            )
            if self._core.wants_claims(record):
                scored = self._core.claims.score(obs) if self._core.claims else None
                latency = time.perf_counter() - start
                record = self._core.judge(
                    attempt, obs, results, tuple(history), latency, scored
                )
            end_attempt(span, record)
        return record

    def _conclude(self, call: Call, records: list[AttemptRecord]) -> GuardResult:
        outcome: RouteOutcome | None = None
        while True:
            start = time.perf_counter()
            step = self._core.next_step(call, records, outcome, start)
            if isinstance(step, DoEscalate):
                outcome = self._escalate(step)
            elif isinstance(step, DoCheck):
                record = self._judge(step.attempt, step.observation, records, start)
                self._record(call, record)
                records.append(record)
            else:
                return step.unwrap()

    def _escalate(self, step: DoEscalate) -> RouteOutcome:
        """Deliver once in-process; the outbox entry records how it went."""
        with escalation_span(step.request) as span:
            try:
                outcome = step.route.escalate(step.request)
            except Exception as exc:
                failure = _failure(step, exc)
                end_escalation(span, step.request.route, failure.message)
                self._write(_outcome_of(self._core, step, failure))
                return _deferred(self._core, step, failure)
            end_escalation(span, step.request.route, None)
        self._write(_outcome_of(self._core, step, None))
        return outcome

    def _record(self, call: Call, record: AttemptRecord) -> None:
        self._write(self._core.write_of(call, record))

    def _write(self, op: SpoolOp | None) -> None:
        if op is not None and self._recorder is not None:
            self._recorder.write(op)


class AsyncGuard(_Shell):
    """The async twin of Guard: signals run concurrently, each under its timeout.

    A signal that calls no model runs on the guard's own `max_workers` threads, not
    asyncio's default executor, so hung signals cannot starve other guards; a plan's
    model calls are awaited on the event loop (a sync-only generator's `agenerate`
    also runs on the guard's threads). `await guard.aclose()`, or `async with`,
    stops them. `Guard.as_async()` and `AsyncGuard.as_sync()` give the other shell
    over the same configuration, for code that serves both sync and async callers.

    Example:
        >>> guard = AsyncGuard([FunctionSignal(lambda obs: 0.9, name="fixed")])
        >>> result = await guard.arun(my_async_pipeline, "2+2?")
    """

    @classmethod
    def from_config(cls, path: str | os.PathLike[str], **resources: Any) -> AsyncGuard:
        """Async twin of `Guard.from_config` (the same file builds either shell).

        Example:
            >>> guard = AsyncGuard.from_config("examples/guard.yaml")
        """
        from confguard.config import parts  # loaded only when a config is read

        built = parts(path, **resources)
        return cls(built.signals, built.policy, **built.guard_options())

    def as_sync(self) -> Guard:
        """A Guard sharing this guard's configuration and worker threads."""
        return self._twin(Guard)

    async def aclose(self) -> None:
        """Async twin of `close` (it does not wait for hung signals)."""
        self.close()

    async def __aenter__(self) -> AsyncGuard:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def acheck(self, observation: Observation) -> GuardResult:
        """Async twin of `Guard.check`.

        Example:
            >>> obs = Observation(question="Capital?", answer="Paris")
            >>> result = await guard.acheck(obs)
        """
        start = time.perf_counter()
        obs = as_observation(observation, "acheck() was given")
        with request_span("check") as span:
            call = Call.new(obs.question)
            record = await self._judge(Attempt(number=1), obs, [], start)
            await self._record(call, record)
            return observe(
                await self._conclude(call, [record]), span, self._core.inline
            )

    async def arun(self, pipeline: Pipeline | Any, question: str) -> GuardResult:
        """Async twin of `Guard.run`; the pipeline may be a coroutine function.

        Example:
            >>> async def pipeline(question, attempt):
            ...     return Observation(question=question, answer="4")
            >>> (await guard.arun(pipeline, "2+2?")).answer
            '4'
        """
        with request_span("run") as span:
            call = Call.new(question)
            records = await self._attempts(call, pipeline)
            return observe(await self._conclude(call, records), span, self._core.inline)

    def astream(self, source: StreamSource | Any, question: str) -> AsyncGatedStream:
        """Async twin of `Guard.stream`: pieces may come from an async iterable, the
        pipeline may be a coroutine function; claims are scored on the guard's
        threads.

        Example:
            >>> stream = guard.astream(llm_tokens(), "Who won Super Bowl 50?")
            >>> async for chunk in stream:
            ...     print(chunk, end="")
        """
        self._open_workers()
        holder: list[GuardResult] = []
        return AsyncGatedStream(self._astreamed(source, question, holder), holder)

    async def _astreamed(
        self, source: Any, question: str, holder: list[GuardResult]
    ) -> AsyncIterator[str]:
        start, call = time.perf_counter(), Call.new(question)
        opened = open_stream(await opened_source(source, question), question)
        workers = self._open_workers()
        gate = sentence_gate(self._core, question, opened, workers)

        async def judge(segment: Segment) -> GateEvent:
            with using(workers):
                return await run_blocking(gate.judge, segment)

        stopped = False
        async for item in adrive(gate, opened.tokens, judge):
            if isinstance(item, Stopped):
                stopped = True
            else:
                yield item
        with request_span("stream") as span:  # the decision only, as in Guard
            obs = gate.observation()
            with attempt_span(Attempt(number=1)) as attempt:
                results = await _ascore(self._core, obs, workers)
                record = stream_record(self._core, gate, obs, results, stopped, start)
                end_attempt(attempt, record)
            await self._record(call, record)
            concluded = await self._conclude(call, [record])
            result = observe(concluded, span, self._core.inline)
        for chunk in tail(result, gate.released > 0):
            yield chunk
        holder.append(result)

    async def _attempts(self, call: Call, pipeline: Any) -> list[AttemptRecord]:
        records: list[AttemptRecord] = []
        async for attempt in self._core.retrying(AsyncRetrying):
            if records:  # tenacity is retrying, so the last retry decision stands
                await self._record(call, records[-1])
            record = await self._attempt(call, pipeline, records)
            attempt.retry_state.set_result(record)
            records.append(record)
        records[-1] = self._core.settle(records)
        await self._record(call, records[-1])
        return records

    async def _attempt(
        self, call: Call, pipeline: Any, records: list[AttemptRecord]
    ) -> AttemptRecord:
        start = time.perf_counter()
        attempt = self._core.next_attempt(records)
        obs = await acall_pipeline(pipeline, call.question, attempt)
        return await self._judge(attempt, obs, records, start)

    async def _judge(
        self,
        attempt: Attempt,
        obs: Observation,
        history: list[AttemptRecord],
        start: float,
    ) -> AttemptRecord:
        with attempt_span(attempt) as span:
            workers = self._open_workers()
            results = await _ascore(self._core, obs, workers)
            record = self._core.judge(
                attempt, obs, results, tuple(history), time.perf_counter() - start
            )
            if self._core.wants_claims(record):
                scored = await _ascore_claims(self._core, obs, workers)
                latency = time.perf_counter() - start
                record = self._core.judge(
                    attempt, obs, results, tuple(history), latency, scored
                )
            end_attempt(span, record)
        return record

    async def _conclude(self, call: Call, records: list[AttemptRecord]) -> GuardResult:
        outcome: RouteOutcome | None = None
        while True:
            start = time.perf_counter()
            step = self._core.next_step(call, records, outcome, start)
            if isinstance(step, DoEscalate):
                outcome = await self._escalate(step)
            elif isinstance(step, DoCheck):
                record = await self._judge(
                    step.attempt, step.observation, records, start
                )
                await self._record(call, record)
                records.append(record)
            else:
                return step.unwrap()

    async def _escalate(self, step: DoEscalate) -> RouteOutcome:
        """Async twin of `Guard._escalate` (outbox updates in a worker thread)."""
        with escalation_span(step.request) as span:
            try:
                outcome = await step.route.aescalate(step.request)
            except Exception as exc:
                failure = _failure(step, exc)
                end_escalation(span, step.request.route, failure.message)
                await self._write(_outcome_of(self._core, step, failure))
                return _deferred(self._core, step, failure)
            end_escalation(span, step.request.route, None)
        await self._write(_outcome_of(self._core, step, None))
        return outcome

    async def _record(self, call: Call, record: AttemptRecord) -> None:
        await self._write(self._core.write_of(call, record))

    async def _write(self, op: SpoolOp | None) -> None:
        if op is not None and self._recorder is not None:
            await self._recorder.awrite(op)


def _failure(step: DoEscalate, exc: Exception) -> EscalationError:
    # Routes should raise EscalationError; anything else is named the same way.
    if isinstance(exc, EscalationError):
        return exc
    return EscalationError(step.request.route, f"{type(exc).__name__}: {exc}")


def _outcome_of(
    core: GuardCore, step: DoEscalate, failure: EscalationError | None
) -> SpoolOp | None:
    """The outbox update for one in-process delivery (None: no outbox entry)."""
    escalation = step.request.escalation_id
    if core.outbox is None or escalation is None:
        return None
    if failure is None:
        return Delivered(escalation_id=escalation)
    return DeliveryFailed(escalation_id=escalation, error=failure.message)


def _recorder(core: GuardCore) -> Recorder | None:
    if core.store is None:
        return None
    limits = getattr(core.store, "limits", None)
    return Recorder(
        core.store,
        spool_for(core.store, core.spool, core.on_store_error),
        deadline=getattr(limits, "operation", None),
    )


def _deferred(
    core: GuardCore, step: DoEscalate, failure: EscalationError
) -> RouteOutcome:
    """No answer (the pending message), or the error the policy asks for."""
    error = core.deferral(step.request, failure)
    if error is not None:
        raise error from failure
    return RouteOutcome()


def score_cascade(
    cascade: Cascade,
    signals: Sequence[Signal],
    obs: Observation,
    timeouts: Timeouts = None,
    workers: Workers | None = None,
) -> tuple[SignalResult, ...]:
    """Score cheapest first until the rest cannot change the decision.

    Results come back in the guard's signal order; skipped ones say why.
    """
    plan = cascade.plan(signals)
    step = _step(plan, None)
    while not isinstance(step, tuple):
        step = _step(plan, score_all([step], obs, timeouts, workers)[0])
    return step


async def ascore_cascade(
    cascade: Cascade,
    signals: Sequence[Signal],
    obs: Observation,
    timeouts: Timeouts = None,
    workers: Workers | None = None,
) -> tuple[SignalResult, ...]:
    """Async twin of `score_cascade`."""
    plan = cascade.plan(signals)
    step = _step(plan, None)
    with using(workers):
        while not isinstance(step, tuple):
            result = await ascore_signal(step, obs, limit_of(timeouts, step))
            step = _step(plan, result)
    return step


def _step(
    plan: CascadePlan, reply: SignalResult | None
) -> Signal | tuple[SignalResult, ...]:
    # The next signal the plan asks for, or, once it is done, every result.
    try:
        return plan.send(reply)  # type: ignore[arg-type]  # None starts the plan
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]


def _score(
    core: GuardCore, obs: Observation, workers: Workers
) -> tuple[SignalResult, ...]:
    if core.cascade is None:
        return score_all(core.signals, obs, core.timeouts, workers)
    return score_cascade(core.cascade, core.signals, obs, core.timeouts, workers)


async def _ascore(
    core: GuardCore, obs: Observation, workers: Workers
) -> tuple[SignalResult, ...]:
    if core.cascade is None:
        return await ascore_all(core.signals, obs, core.timeouts, workers)
    return await ascore_cascade(core.cascade, core.signals, obs, core.timeouts, workers)


async def _ascore_claims(
    core: GuardCore, obs: Observation, workers: Workers
) -> tuple[ScoredClaim, ...] | None:
    # Claim signals may embed or call a model: on the guard's threads, not the loop.
    if core.claims is None:
        return None
    with using(workers):
        return await run_blocking(core.claims.score, obs)


__all__ = [
    "AsyncGuard",
    "Guard",
    "Timeouts",
    "ascore_all",
    "ascore_cascade",
    "score_all",
    "score_cascade",
]
