"""GuardedRunnable: confidence-gate any Runnable (a RAG chain, a chat model, LCEL).

Each attempt runs the wrapped Runnable as a child run tagged ``confguard:attempt``
and ``nostream`` (with ``confguard_attempt`` in its metadata); a retry strategy
reaches it through ``configurable``: ``confguard_strategy`` holds its name and
each of its params is a key of its own, so
``retriever.configurable_fields(k=ConfigurableField(id="top_k"))`` picks up a
``more_context`` strategy's ``{top_k: 8}``.

The output keeps the wrapped Runnable's type: an accepted answer is the attempt's
own output, a refusal (abstain, escalate) the same shape with the guard's text.
A custom ``answer_from`` needs its writer ``answer_to`` unless the default
shaping already writes where it reads (checked on every call), so a refused
answer is never handed back under a key the guard did not know.
The verdict rides along (see `langchain_confguard.verdict`), and the guarded run
carries it in its metadata and tags (see `langchain_confguard.observability`).
``invoke``/``ainvoke``
go through ``_call_with_config``, so batch, tracing and config propagation come
from LangChain's defaults. ``stream``/``astream`` hold every attempt back and
release only the gated answer, cut into chunks (see `langchain_confguard.streaming`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from langchain_core.callbacks import (
    AsyncCallbackManagerForChainRun,
    BaseCallbackManager,
    CallbackManagerForChainRun,
)
from langchain_core.runnables import Runnable, RunnableConfig, RunnableSerializable
from langchain_core.runnables.config import patch_config
from langchain_core.runnables.utils import ConfigurableFieldSpec
from langchain_core.utils.pydantic import TypeBaseModel
from pydantic import ConfigDict, field_validator

from confguard.exceptions import ConfigurationError, LowConfidenceError
from confguard.guard import AsyncGuard, Guard
from confguard.observation import Observation
from confguard.results import Attempt, GuardResult, Verdict
from langchain_confguard._guards import arun_guarded, checked_guard, run_guarded
from langchain_confguard._shaping import Shape, attach, replace
from langchain_confguard.callbacks import ConfidenceCallbackHandler
from langchain_confguard.observability import (
    FeedbackClient,
    areport_verdict,
    refusal_verdict,
    report_verdict,
    run_verdict,
)
from langchain_confguard.sentences import astream_sentences, stream_sentences
from langchain_confguard.streaming import ATTEMPT_TAG, ATTEMPT_TAGS, text_chunks
from langchain_confguard.text import (
    AnswerFrom,
    QuestionFrom,
    answer_text,
    question_text,
)

Prepare = Callable[[Any, Attempt], Any]
AnswerTo = Callable[[Any, str], Any]
"""Writes the gated text into an output: ``answer_to(output, text) -> output``."""
_PROBE = "\x00confguard-probe\x00"
_ATTEMPT = "__confguard_attempt"
"""The configurable key holding the whole Attempt (dunder keys stay out of traces)."""


def attempt_config(
    config: RunnableConfig,
    callbacks: BaseCallbackManager,
    attempt: Attempt,
    handler: ConfidenceCallbackHandler,
) -> RunnableConfig:
    """The config an attempt runs under: its collector, tag, metadata and strategy.

    Example:
        >>> attempt_config(config, run_manager.get_child(), Attempt(number=2), h)
    """
    callbacks.add_handler(handler, inherit=True)
    configurable: dict[str, Any] = {
        "confguard_attempt": attempt.number,
        _ATTEMPT: attempt,
    }
    if attempt.strategy is not None:
        configurable["confguard_strategy"] = attempt.strategy.name
        configurable.update(attempt.strategy.params)
    child = patch_config(config, callbacks=callbacks, configurable=configurable)
    child["tags"] = [*config.get("tags", []), *ATTEMPT_TAGS]
    child["metadata"] = {
        **config.get("metadata", {}),
        "confguard_attempt": attempt.number,
    }
    return child


def attempt_of(config: RunnableConfig) -> Attempt | None:
    """The guard attempt a GuardedRunnable runs `config` under, if any.

    Example:
        >>> attempt_of(config).strategy.top_k  # inside a GuardedRunnable's retry
        8
    """
    found = (config.get("configurable") or {}).get(_ATTEMPT)
    return found if isinstance(found, Attempt) else None


@dataclass
class _Call:
    """One guarded call: its input and the outputs of its attempts."""

    runnable: GuardedRunnable
    input: Any
    config: RunnableConfig
    kwargs: dict[str, Any]
    manager: CallbackManagerForChainRun | AsyncCallbackManagerForChainRun
    question: str
    outputs: dict[int, Any] = field(default_factory=dict)

    def start(
        self, attempt: Attempt
    ) -> tuple[Any, RunnableConfig, ConfidenceCallbackHandler]:
        """The attempt's input, config and collector."""
        handler = ConfidenceCallbackHandler(question_from=self.runnable.question_from)
        callbacks = self.manager.get_child()
        config = attempt_config(self.config, callbacks, attempt, handler)
        prepare = self.runnable.prepare
        value = prepare(self.input, attempt) if prepare else self.input
        return value, config, handler

    def run(self, attempt: Attempt) -> Observation:
        """Run one attempt of the wrapped Runnable."""
        value, config, handler = self.start(attempt)
        output = self.runnable.bound.invoke(value, config, **self.kwargs)
        return self.observe(output, attempt, handler)

    async def arun(self, attempt: Attempt) -> Observation:
        """Async twin of `run`."""
        value, config, handler = self.start(attempt)
        output = await self.runnable.bound.ainvoke(value, config, **self.kwargs)
        return self.observe(output, attempt, handler)

    def observe(
        self, output: Any, attempt: Attempt, handler: ConfidenceCallbackHandler
    ) -> Observation:
        """The Observation of an attempt's output."""
        self.outputs[attempt.number] = output
        ready = getattr(output, "observation", None)
        if isinstance(ready, Observation):  # e.g. ConfidentAnswer built its own
            return ready.model_copy(update={"attempt": attempt.number})
        answer = (self.runnable.answer_from or answer_text)(output)
        return handler.observation(
            self.question, answer, attempt=attempt, output=output
        )


class GuardedRunnable(RunnableSerializable[Any, Any]):
    """Wraps any Runnable: score each answer, then accept, retry, escalate or abstain.

    Where the verdict goes: ``response_metadata["confguard"]`` of message outputs,
    ``output["confguard"]`` of dict outputs (read both with `verdict_of`), or the
    whole `GuardResult` with ``return_result=True``; for any output, the run's
    metadata and ``confguard:<action>`` tag and the ``confguard_verdict`` event
    (`VerdictCallback`; see `langchain_confguard.observability`). A policy with
    ``abstain.raise_error`` raises `LowConfidenceError`, so
    ``.with_fallbacks([...], exceptions_to_handle=(LowConfidenceError,))`` works.

    Example:
        >>> guarded = GuardedRunnable(bound=rag_chain, guard=Guard(signals, policy))
        >>> message = guarded.invoke({"question": "Who won Super Bowl 50?"})
        >>> verdict_of(message).action
        'accept'
    """

    bound: Runnable[Any, Any]
    guard: Guard | AsyncGuard
    question_from: QuestionFrom | None = None
    """Finds the question in the input (default: `question_text`)."""
    answer_from: AnswerFrom | None = None
    """Finds the answer text in the output (default: `answer_text`)."""
    answer_to: AnswerTo | None = None
    """Writes the gated text where `answer_from` reads it (needed for custom keys)."""
    prepare: Prepare | None = None
    """Rewrites the input for an attempt: ``prepare(input, attempt) -> input``."""
    append_caveat: bool = True
    """Append an annotated answer's caveat to its text."""
    return_result: bool = False
    """Return the GuardResult instead of the wrapped Runnable's output type."""
    feedback: FeedbackClient | None = None
    """Post each confidence as run feedback through it (e.g. ``langsmith.Client()``)."""
    by_sentence: bool = False
    """``stream``/``astream`` release the answer a sentence at a time, each once the
    guard's claim policy passed it (`Guard.stream`); False holds the whole answer
    back until the guard decided. One attempt: a released sentence cannot retry.
    A sentence stream yields text chunks whatever `return_result` says (the
    verdict is on the last chunk)."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    @field_validator("guard", mode="before")
    @classmethod
    def _is_guard(cls, value: object) -> Guard | AsyncGuard:
        return checked_guard(value)

    def invoke(
        self, input: Any, config: RunnableConfig | None = None, **kwargs: Any
    ) -> Any:
        """Run the wrapped Runnable under the guard's policy.

        Example:
            >>> guarded.invoke({"question": "Who won Super Bowl 50?"})
        """
        return self._call_with_config(self._guarded, input, config, **kwargs)

    async def ainvoke(
        self, input: Any, config: RunnableConfig | None = None, **kwargs: Any
    ) -> Any:
        """Async twin of `invoke` (the wrapped Runnable's ``ainvoke`` per attempt).

        Example:
            >>> await guarded.ainvoke({"question": "Who won Super Bowl 50?"})
        """
        return await self._acall_with_config(self._aguarded, input, config, **kwargs)

    def stream(
        self, input: Any, config: RunnableConfig | None = None, **kwargs: Any
    ) -> Iterator[Any]:
        """Yield the gated answer in chunks, once gated (attempts are held back).

        A message comes as `AIMessageChunk`s (the verdict on the last), a string
        as pieces of it, any other output whole.

        Example:
            >>> "".join(c.content for c in guarded.stream("Who won Super Bowl 50?"))
            'Denver Broncos'
        """
        yield from self._transform_stream_with_config(
            iter([input]), self._stream_guarded, config, **kwargs
        )

    async def astream(
        self, input: Any, config: RunnableConfig | None = None, **kwargs: Any
    ) -> AsyncIterator[Any]:
        """Async twin of `stream`.

        Example:
            >>> [chunk async for chunk in guarded.astream({"question": q})]
        """
        async for chunk in self._atransform_stream_with_config(
            _aiter_one(input), self._astream_guarded, config, **kwargs
        ):
            yield chunk

    def _stream_guarded(
        self,
        inputs: Iterator[Any],
        run_manager: CallbackManagerForChainRun,
        config: RunnableConfig,
        **kwargs: Any,
    ) -> Iterator[Any]:
        for input in inputs:
            if self.by_sentence:
                call = self._call(input, config, kwargs, run_manager)
                yield from stream_sentences(self, call, run_manager, config)
                continue
            yield from text_chunks(self._guarded(input, run_manager, config, **kwargs))

    async def _astream_guarded(
        self,
        inputs: AsyncIterator[Any],
        run_manager: AsyncCallbackManagerForChainRun,
        config: RunnableConfig,
        **kwargs: Any,
    ) -> AsyncIterator[Any]:
        async for input in inputs:
            if self.by_sentence:
                call = self._call(input, config, kwargs, run_manager)
                async for chunk in astream_sentences(self, call, run_manager, config):
                    yield chunk
                continue
            output = await self._aguarded(input, run_manager, config, **kwargs)
            for chunk in text_chunks(output):
                yield chunk

    def _guarded(
        self,
        input: Any,
        run_manager: CallbackManagerForChainRun,
        config: RunnableConfig,
        **kwargs: Any,
    ) -> Any:
        call = self._call(input, config, kwargs, run_manager)
        run_id, handlers = run_manager.run_id, run_manager.handlers
        try:
            result = run_guarded(self.guard, call.question, call.run)
        except LowConfidenceError as exc:
            report_verdict(
                config, refusal_verdict(run_id, exc), self.feedback, handlers
            )
            raise
        output, verdict = self._output(result, call)
        found = run_verdict(run_id, result, verdict)
        report_verdict(config, found, self.feedback, handlers)
        return output

    async def _aguarded(
        self,
        input: Any,
        run_manager: AsyncCallbackManagerForChainRun,
        config: RunnableConfig,
        **kwargs: Any,
    ) -> Any:
        call = self._call(input, config, kwargs, run_manager)
        run_id, handlers = run_manager.run_id, run_manager.handlers
        try:
            result = await arun_guarded(self.guard, call.question, call.arun)
        except LowConfidenceError as exc:
            refused = refusal_verdict(run_id, exc)
            await areport_verdict(config, refused, self.feedback, handlers)
            raise
        output, verdict = self._output(result, call)
        found = run_verdict(run_id, result, verdict)
        await areport_verdict(config, found, self.feedback, handlers)
        return output

    def _call(
        self,
        input: Any,
        config: RunnableConfig,
        kwargs: dict[str, Any],
        manager: CallbackManagerForChainRun | AsyncCallbackManagerForChainRun,
    ) -> _Call:
        question = (self.question_from or question_text)(input)
        return _Call(self, input, config, kwargs, manager, question)

    def _output(self, result: GuardResult, call: _Call) -> tuple[Any, Verdict]:
        """What to return, and the verdict the run reports."""
        verdict = Verdict.from_result(result, append_caveat=self.append_caveat)
        if self.return_result:
            return result, verdict
        text, outputs = verdict.answer or "", call.outputs
        last = result.attempts[-1].attempt
        own = outputs.get(last.number) if last.route is None else None
        if result.accepted and own is not None:
            return self._write(own, text, verdict, attach), verdict
        last_output = outputs[max(outputs)] if outputs else None
        return self._write(last_output, text, verdict, replace), verdict

    def _write(self, output: Any, text: str, verdict: Verdict, shape: Shape) -> Any:
        """`output` carrying the gated text and verdict, read back to be sure."""
        if self.answer_to is not None:
            written = shape(self.answer_to(output, text), text, verdict)
            self._check_reads(written, text)
            return written
        if self.answer_from is not None and output is not None:
            self._check_reads(shape(output, _PROBE, verdict), _PROBE)
        return shape(output, text, verdict)

    def _check_reads(self, output: Any, text: str) -> None:
        # An answer_from reading a place the guard cannot write would hand the
        # refused answer back under it: refuse the call instead.
        try:
            read = (self.answer_from or answer_text)(output) or ""
        except (KeyError, IndexError, TypeError, AttributeError):
            read = None
        if read != text:
            raise ConfigurationError(
                "answer_from reads the answer where the guard cannot write the "
                f"gated text (in a {type(output).__name__} output); pass "
                "answer_to=<function (output, text) -> output>"
            )

    @property
    def InputType(self) -> Any:
        """The wrapped Runnable's input type."""
        return self.bound.InputType

    @property
    def OutputType(self) -> Any:
        """The wrapped Runnable's output type (GuardResult with return_result)."""
        return GuardResult if self.return_result else self.bound.OutputType

    def get_input_schema(self, config: RunnableConfig | None = None) -> TypeBaseModel:
        """The wrapped Runnable's input schema."""
        return self.bound.get_input_schema(config)

    def get_output_schema(self, config: RunnableConfig | None = None) -> TypeBaseModel:
        """The wrapped Runnable's output schema (GuardResult with return_result)."""
        if self.return_result:
            return GuardResult
        return self.bound.get_output_schema(config)

    @property
    def config_specs(self) -> list[ConfigurableFieldSpec]:
        """The wrapped Runnable's configurable fields."""
        return self.bound.config_specs


async def _aiter_one(value: Any) -> AsyncIterator[Any]:
    yield value


__all__ = [
    "ATTEMPT_TAG",
    "AnswerTo",
    "GuardedRunnable",
    "Prepare",
    "attempt_config",
    "attempt_of",
]
