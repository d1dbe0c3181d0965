"""Callback handlers that collect what a run saw, to build confguard Observations.

Callbacks can only observe (LangChain logs a handler's errors and cannot take an
answer back), so these never gate: `GuardedRunnable` and the agent middleware do.
Attached to any chain they also monitor: give them a guard and every finished
top-level run is scored with ``guard.check`` (recorded in its store), the result
handed to ``on_result``. What a run saw is kept as in `langchain_confguard._runs`.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping, Sequence
from typing import Any
from uuid import UUID

from langchain_core.callbacks import AsyncCallbackHandler, BaseCallbackHandler
from langchain_core.documents import Document
from langchain_core.messages import BaseMessage
from langchain_core.outputs import LLMResult

from confguard.exceptions import LogprobFormatError
from confguard.guard import AsyncGuard, Guard
from confguard.observation import Issue, Observation, TokenLogprob
from confguard.results import Attempt, GuardResult
from langchain_confguard._guards import async_guard, sync_guard
from langchain_confguard._runs import LLMCall, RunEvents, RunTrace
from langchain_confguard.logprobs import message_logprobs
from langchain_confguard.text import AnswerFrom, QuestionFrom, answer_key, answer_text

Tokens = tuple[TokenLogprob, ...]
NO_LOGPROBS = "the model exposed no logprobs"
NO_TEXT = "the output carries no text"
ResultHook = Callable[[GuardResult], Any]


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
        self._events = RunEvents(question_from)
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
