"""Callback handlers that collect what a run saw, to build confguard Observations.

Callbacks can only observe (LangChain logs a handler's errors and cannot take an
answer back), so these never gate: `GuardedRunnable` and the agent middleware do.
Attached to any chain they also monitor: give them a guard and every finished
top-level run is scored with ``guard.check`` (recorded in its store), the result
handed to ``on_result``.

Per run they keep the retrieved documents (``on_retriever_end``), each LLM call's
text and logprobs (``on_llm_end``; streamed slices from ``on_llm_new_token`` when
the final result lost them) and the run's input and output. A run's state is
dropped when its top-level run ends.
"""

from __future__ import annotations

import inspect
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from langchain_core.callbacks import AsyncCallbackHandler, BaseCallbackHandler
from langchain_core.documents import Document
from langchain_core.messages import BaseMessage
from langchain_core.outputs import (
    ChatGenerationChunk,
    Generation,
    GenerationChunk,
    LLMResult,
)

from confguard.exceptions import ConfguardError, LogprobFormatError
from confguard.guard import AsyncGuard, Guard
from confguard.observation import (
    Context,
    Issue,
    Observation,
    Sample,
    TokenLogprob,
)
from confguard.results import Attempt, GuardResult
from langchain_confguard._guards import async_guard, sync_guard
from langchain_confguard.logprobs import generation_logprobs, message_logprobs
from langchain_confguard.text import (
    AnswerFrom,
    QuestionFrom,
    answer_key,
    answer_text,
    document_context,
    question_text,
)

Tokens = tuple[TokenLogprob, ...]
NO_LOGPROBS = "the model exposed no logprobs"
NO_TEXT = "the output carries no text"
ResultHook = Callable[[GuardResult], Any]


@dataclass
class LLMCall:
    """One LLM call of a run: its text, logprobs and any extra generations."""

    text: str
    logprobs: Tokens | None
    samples: tuple[Sample, ...] = ()
    error: str | None = None
    """Why the logprobs could not be read, if they could not."""


@dataclass
class RunTrace:
    """What one top-level run saw (mutable while the run is going on)."""

    question: str | None = None
    output: Any = None
    contexts: list[Context] = field(default_factory=list)
    calls: list[LLMCall] = field(default_factory=list)
    streamed: dict[UUID, list[TokenLogprob]] = field(default_factory=dict)
    retrievers: dict[UUID, str] = field(default_factory=dict)


class _Collector:
    """Run traces keyed by top-level run; thread-safe for batch calls."""

    def __init__(self) -> None:
        self._traces: dict[UUID, RunTrace] = {}
        self._roots: dict[UUID, UUID] = {}
        self._lock = threading.Lock()

    def start(self, run_id: UUID, parent_run_id: UUID | None) -> tuple[RunTrace, bool]:
        """Register a run under its top-level run; the trace and whether it is one."""
        with self._lock:
            root = self._roots.get(parent_run_id, run_id) if parent_run_id else run_id
            self._roots[run_id] = root
            return self._traces.setdefault(root, RunTrace()), root == run_id

    def trace(self, run_id: UUID) -> RunTrace | None:
        """The trace a run belongs to, if it was registered."""
        with self._lock:
            root = self._roots.get(run_id)
            return None if root is None else self._traces.get(root)

    def is_root(self, run_id: UUID) -> bool:
        """True when `run_id` is a top-level run."""
        with self._lock:
            return self._roots.get(run_id) == run_id

    def finish(self, run_id: UUID) -> RunTrace | None:
        """Drop and return the trace if `run_id` is a top-level run."""
        with self._lock:
            if self._roots.get(run_id) != run_id:
                return None
            self._roots = {k: v for k, v in self._roots.items() if v != run_id}
            return self._traces.pop(run_id, None)

    def __len__(self) -> int:
        with self._lock:
            return len(self._traces)

    def latest(self) -> RunTrace:
        """The most recent trace still open (an empty one if none)."""
        with self._lock:
            return next(reversed(self._traces.values()), RunTrace())


def _safe_question(value: Any, question_from: QuestionFrom | None) -> str | None:
    try:
        return (question_from or question_text)(value)
    except (ConfguardError, LookupError, TypeError, ValueError):
        return None  # a run with no recognisable question is still traced


def _streamed(chunk: GenerationChunk | ChatGenerationChunk | None) -> Tokens:
    if chunk is None:
        return ()
    try:
        return generation_logprobs(chunk) or ()
    except LogprobFormatError:
        return ()


def _call(generations: Sequence[Generation], streamed: list[TokenLogprob]) -> LLMCall:
    if not generations:
        return LLMCall(text="", logprobs=None)
    first, error = generations[0], None
    try:
        logprobs = generation_logprobs(first)
        samples = tuple(_sample(g) for g in generations[1:])
    except LogprobFormatError as exc:
        logprobs, samples, error = None, (), str(exc)
    if logprobs is None and streamed:
        logprobs = tuple(streamed)
    return LLMCall(first.text, logprobs, samples, error)


def _sample(generation: Generation) -> Sample:
    return Sample(text=generation.text, logprobs=generation_logprobs(generation) or ())


def _answering_call(calls: Sequence[LLMCall], answer: str) -> LLMCall | None:
    """The last call whose text is the answer, else the last call."""
    wanted = answer.strip()
    matching = [c for c in calls if c.text.strip() == wanted] or list(calls)
    return matching[-1] if matching else None


def output_message(output: Any) -> BaseMessage | None:
    """The message an output is, or holds under its answer key."""
    if isinstance(output, Mapping):
        key = answer_key(output)
        output = output[key] if key is not None else None
    return output if isinstance(output, BaseMessage) else None


def _answer_logprobs(
    output: Any, call: LLMCall | None, attempt: int
) -> tuple[Tokens | None, Issue | None]:
    """The output message's own logprobs, else the answering call's; or the issue."""
    message = output_message(output)
    if message is not None:
        try:
            own = message_logprobs(message)
        except LogprobFormatError as exc:
            return None, Issue(
                code="unreadable_logprobs", attempt=attempt, detail=str(exc)
            )
        if own is not None:
            return own, None
    if call is not None and call.error:
        return None, Issue(
            code="unreadable_logprobs", attempt=attempt, detail=call.error
        )
    if call is not None and call.logprobs is not None:
        return call.logprobs, None
    return None, Issue(code="no_logprobs", attempt=attempt, detail=NO_LOGPROBS)


def build_observation(
    trace: RunTrace,
    question: str,
    answer: str | None,
    attempt: Attempt | None = None,
    output: Any = None,
) -> Observation:
    """The Observation of a traced run; no text and no logprobs are explicit issues.

    Example:
        >>> obs = build_observation(trace, "Who won?", "Denver")
        >>> obs.contexts[0].retriever, obs.logprobs is None, obs.issues
    """
    number = attempt.number if attempt else 1
    call = _answering_call(trace.calls, answer or "")
    logprobs, issue = _answer_logprobs(output, call, number)
    if answer is None:
        logprobs, issue = (
            None,
            Issue(code="empty_response", attempt=number, detail=NO_TEXT),
        )
    return Observation(
        question=question,
        answer=answer or "",
        contexts=tuple(trace.contexts),
        logprobs=logprobs,
        samples=call.samples if call else (),
        issues=() if issue is None else (issue,),
        pipeline="langchain",
        attempt=number,
    )


class _Events:
    """The callback events both handlers share, recorded into a collector."""

    def __init__(self, question_from: QuestionFrom | None) -> None:
        self.collector = _Collector()
        self.question_from = question_from

    def chain_start(self, inputs: Any, run_id: UUID, parent: UUID | None) -> None:
        """Register a chain run; a top-level one gives the question."""
        trace, root = self.collector.start(run_id, parent)
        if root:
            trace.question = _safe_question(inputs, self.question_from)

    def model_start(self, messages: Any, run_id: UUID, parent: UUID | None) -> None:
        """Register a model run (its input is the question if top-level)."""
        self.chain_start(messages, run_id, parent)

    def token(self, chunk: Any, run_id: UUID) -> None:
        """Keep a streamed chunk's logprobs."""
        trace = self.collector.trace(run_id)
        tokens = _streamed(chunk)
        if trace is not None and tokens:
            trace.streamed.setdefault(run_id, []).extend(tokens)

    def llm_end(self, response: LLMResult, run_id: UUID) -> None:
        """Keep a finished LLM call; a top-level model run's reply is the output."""
        trace = self.collector.trace(run_id)
        if trace is None:
            return
        generations = response.generations[0] if response.generations else []
        call = _call(generations, trace.streamed.pop(run_id, []))
        trace.calls.append(call)
        if self.collector.is_root(run_id):
            first = generations[0] if generations else None
            trace.output = getattr(first, "message", None) or call.text

    def retriever_start(self, run_id: UUID, parent: UUID | None, name: Any) -> None:
        """Register a retriever run and its name."""
        trace, _ = self.collector.start(run_id, parent)
        trace.retrievers[run_id] = str(name) if name else "retriever"

    def retriever_end(self, documents: Sequence[Document], run_id: UUID) -> None:
        """Keep the retrieved documents as contexts."""
        trace = self.collector.trace(run_id)
        if trace is not None:
            name = trace.retrievers.get(run_id)
            trace.contexts.extend(document_context(d, name) for d in documents)

    def end(self, output: Any, run_id: UUID) -> RunTrace | None:
        """Close a run; a top-level run's trace is returned and dropped."""
        trace = self.collector.trace(run_id)
        if trace is not None and self.collector.is_root(run_id) and output is not None:
            trace.output = output
        return self.collector.finish(run_id)


class _Handler:
    """Construction and observation building shared by the sync and async handler."""

    def __init__(
        self,
        guard: Guard | AsyncGuard | None = None,
        *,
        on_result: ResultHook | None = None,
        question_from: QuestionFrom | None = None,
        answer_from: AnswerFrom | None = None,
    ) -> None:
        self.guard = guard
        self.on_result = on_result
        self.answer_from = answer_from
        self._events = _Events(question_from)
        self._last: RunTrace | None = None

    @property
    def open_runs(self) -> int:
        """How many top-level runs are being traced right now."""
        return len(self._events.collector)

    def observation(
        self,
        question: str | None = None,
        answer: str | None = None,
        *,
        attempt: Attempt | None = None,
        trace: RunTrace | None = None,
        output: Any = None,
    ) -> Observation:
        """The Observation of the latest (or the given) run and its output.

        The answer is read from `output` (default: the run's output) unless given.

        Example:
            >>> chain.invoke({"question": q}, {"callbacks": [handler]})
            >>> handler.observation(q).contexts
        """
        trace = trace or self._last or self._events.collector.latest()
        output = trace.output if output is None else output
        if answer is None and output is not None:
            answer = (self.answer_from or answer_text)(output)
        question = question or trace.question or ""
        return build_observation(trace, question, answer, attempt, output)

    def _finished(self, output: Any, run_id: UUID) -> Observation | None:
        trace = self._events.end(output, run_id)
        if trace is None:
            return None
        self._last = trace  # what observation() describes by default
        if self.guard is None or trace.output is None:
            return None
        return self.observation(trace=trace)


class ConfidenceCallbackHandler(_Handler, BaseCallbackHandler):
    """Collects contexts, logprobs and outputs per run; monitors with a guard if given.

    Example:
        >>> handler = ConfidenceCallbackHandler(guard, on_result=results.append)
        >>> chain.invoke({"question": "Who won?"}, {"callbacks": [handler]})
        >>> results[-1].decision.action   # scored and recorded, never gated
        'accept'
    """

    run_inline = True  # keep event order; collecting is cheap

    def on_chain_start(
        self, serialized: Any, inputs: Any, *, run_id: UUID, **kwargs: Any
    ) -> None:
        """Note the top-level run's question."""
        self._events.chain_start(inputs, run_id, kwargs.get("parent_run_id"))

    def on_chat_model_start(
        self, serialized: Any, messages: Any, *, run_id: UUID, **kwargs: Any
    ) -> None:
        """Register the model run (its messages hold the question if top-level)."""
        first = messages[0] if messages else []
        self._events.model_start(first, run_id, kwargs.get("parent_run_id"))

    def on_llm_start(
        self, serialized: Any, prompts: list[str], *, run_id: UUID, **kwargs: Any
    ) -> None:
        """Register the LLM run (its prompt is the question if top-level)."""
        first = prompts[0] if prompts else ""
        self._events.model_start(first, run_id, kwargs.get("parent_run_id"))

    def on_llm_new_token(
        self, token: Any, *, chunk: Any = None, run_id: UUID, **kwargs: Any
    ) -> None:
        """Keep a streamed chunk's logprobs."""
        self._events.token(chunk, run_id)

    def on_llm_end(self, response: LLMResult, *, run_id: UUID, **kwargs: Any) -> None:
        """Keep the call's text and logprobs."""
        self._events.llm_end(response, run_id)
        self._settle(None, run_id)

    def on_retriever_start(
        self, serialized: Any, query: str, *, run_id: UUID, **kwargs: Any
    ) -> None:
        """Note which retriever runs."""
        parent, name = kwargs.get("parent_run_id"), kwargs.get("name")
        self._events.retriever_start(run_id, parent, name)

    def on_retriever_end(
        self, documents: Sequence[Document], *, run_id: UUID, **kwargs: Any
    ) -> None:
        """Keep the retrieved documents as contexts."""
        self._events.retriever_end(documents, run_id)
        self._settle(None, run_id)  # a retriever run on its own ends here

    def on_chain_end(self, outputs: Any, *, run_id: UUID, **kwargs: Any) -> None:
        """At the end of a top-level run, score it if monitoring."""
        self._settle(outputs, run_id)

    def on_chain_error(self, error: BaseException, *, run_id: UUID, **kw: Any) -> None:
        """Drop a failed top-level run."""
        self._events.collector.finish(run_id)

    def on_llm_error(self, error: BaseException, *, run_id: UUID, **kw: Any) -> None:
        """Drop a failed top-level model run."""
        self._events.collector.finish(run_id)

    def on_retriever_error(
        self, error: BaseException, *, run_id: UUID, **kw: Any
    ) -> None:
        """Drop a failed top-level retriever run."""
        self._events.collector.finish(run_id)

    def _settle(self, output: Any, run_id: UUID) -> None:
        obs = self._finished(output, run_id)
        if obs is not None and self.guard is not None:
            result = sync_guard(self.guard).check(obs)
            if self.on_result is not None:
                self.on_result(result)


class AsyncConfidenceCallbackHandler(_Handler, AsyncCallbackHandler):
    """Async twin of ConfidenceCallbackHandler: monitors with ``guard.acheck``.

    Example:
        >>> handler = AsyncConfidenceCallbackHandler(guard, on_result=results.append)
        >>> await chain.ainvoke({"question": "Who won?"}, {"callbacks": [handler]})
    """

    async def on_chain_start(
        self, serialized: Any, inputs: Any, *, run_id: UUID, **kwargs: Any
    ) -> None:
        """Note the top-level run's question."""
        self._events.chain_start(inputs, run_id, kwargs.get("parent_run_id"))

    async def on_chat_model_start(
        self, serialized: Any, messages: Any, *, run_id: UUID, **kwargs: Any
    ) -> None:
        """Register the model run."""
        first = messages[0] if messages else []
        self._events.model_start(first, run_id, kwargs.get("parent_run_id"))

    async def on_llm_start(
        self, serialized: Any, prompts: list[str], *, run_id: UUID, **kwargs: Any
    ) -> None:
        """Register the LLM run."""
        first = prompts[0] if prompts else ""
        self._events.model_start(first, run_id, kwargs.get("parent_run_id"))

    async def on_llm_new_token(
        self, token: Any, *, chunk: Any = None, run_id: UUID, **kwargs: Any
    ) -> None:
        """Keep a streamed chunk's logprobs."""
        self._events.token(chunk, run_id)

    async def on_llm_end(
        self, response: LLMResult, *, run_id: UUID, **kwargs: Any
    ) -> None:
        """Keep the call's text and logprobs."""
        self._events.llm_end(response, run_id)
        await self._settle(None, run_id)

    async def on_retriever_start(
        self, serialized: Any, query: str, *, run_id: UUID, **kwargs: Any
    ) -> None:
        """Note which retriever runs."""
        parent, name = kwargs.get("parent_run_id"), kwargs.get("name")
        self._events.retriever_start(run_id, parent, name)

    async def on_retriever_end(
        self, documents: Sequence[Document], *, run_id: UUID, **kwargs: Any
    ) -> None:
        """Keep the retrieved documents as contexts."""
        self._events.retriever_end(documents, run_id)
        await self._settle(None, run_id)  # a retriever run on its own ends here

    async def on_chain_end(self, outputs: Any, *, run_id: UUID, **kwargs: Any) -> None:
        """At the end of a top-level run, score it if monitoring."""
        await self._settle(outputs, run_id)

    async def on_chain_error(
        self, error: BaseException, *, run_id: UUID, **kw: Any
    ) -> None:
        """Drop a failed top-level run."""
        self._events.collector.finish(run_id)

    async def on_llm_error(
        self, error: BaseException, *, run_id: UUID, **kw: Any
    ) -> None:
        """Drop a failed top-level model run."""
        self._events.collector.finish(run_id)

    async def on_retriever_error(
        self, error: BaseException, *, run_id: UUID, **kw: Any
    ) -> None:
        """Drop a failed top-level retriever run."""
        self._events.collector.finish(run_id)

    async def _settle(self, output: Any, run_id: UUID) -> None:
        obs = self._finished(output, run_id)
        if obs is not None and self.guard is not None:
            result = await async_guard(self.guard).acheck(obs)
            if self.on_result is not None:
                reply = self.on_result(result)
                if inspect.isawaitable(reply):
                    await reply


__all__ = [
    "AsyncConfidenceCallbackHandler",
    "ConfidenceCallbackHandler",
    "LLMCall",
    "RunTrace",
    "build_observation",
]
