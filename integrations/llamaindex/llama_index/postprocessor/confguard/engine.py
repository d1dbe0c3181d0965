"""GuardedQueryEngine: a confidence gate around any LlamaIndex query engine.

Gating is done here, in a wrapper, because LlamaIndex instrumentation can only
observe. Each query runs the wrapped engine as a confguard pipeline under a Guard
(sync) or AsyncGuard (async): retry, escalate and abstain follow the policy, and
the verdict is merged into ``Response.metadata["confguard"]``. Each query is one
instrumentation span, inside which one `ConfguardVerdictEvent` is dispatched and
whose tags get the decision (see `observability`).

A streaming engine (``streaming=True``) gets a stream back: its chunks are held
back while the guard decides, then the *gated* text is released through a
`StreamingResponse` (`AsyncStreamingResponse` from `aquery`) whose metadata holds
the verdict from the start; an accepted answer keeps its chunks, a refusal is
released in word-sized pieces. No chunk of an attempt is ever released.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import (
    AsyncGenerator,
    Generator,
    Iterable,
    Iterator,
    Mapping,
    Sequence,
)
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any, Literal

from confguard.exceptions import ConfigurationError, LowConfidenceError
from confguard.guard import AsyncGuard, Guard
from confguard.policy.model import Policy
from confguard.results import VERDICT_KEY, Abstain, GuardResult, Verdict
from confguard.streaming import HoldBack
from llama_index.core.base.base_query_engine import BaseQueryEngine
from llama_index.core.base.response.schema import (
    AsyncStreamingResponse,
    Response,
    StreamingResponse,
)
from llama_index.core.callbacks import CallbackManager
from llama_index.core.instrumentation.events.query import (
    QueryEndEvent,
    QueryStartEvent,
)
from llama_index.core.prompts.mixin import PromptDictType, PromptMixinType
from llama_index.core.schema import NodeWithScore, QueryBundle, QueryType
from llama_index_instrumentation import get_dispatcher

from llama_index.postprocessor.confguard.events import LogprobEventHandler
from llama_index.postprocessor.confguard.observability import (
    ConfguardVerdictEvent,
    announce,
)
from llama_index.postprocessor.confguard.pipeline import (
    EMPTY_MARKERS,
    CallTrace,
    QueryEnginePipeline,
    call_trace,
)
from llama_index.postprocessor.confguard.sentences import (
    astream_by_sentence,
    stream_by_sentence,
)

EmptyResponse = Literal["abstain", "keep"]

_dispatcher = get_dispatcher(__name__)


class GuardedQueryEngine(BaseQueryEngine):
    """Wraps a query engine: scores every answer and accepts, retries or refuses it.

    Pass a `Guard` for `query()` and an `AsyncGuard` for `aquery()` (both, ideally;
    `from_signals` builds them). With only one, the other mode falls back: `aquery`
    runs the Guard in a worker thread, `query` runs the AsyncGuard on its own event
    loop in a worker thread. `strategies` maps a retry strategy's name to the
    engine that attempt runs (e.g. ``{"more_context": wide_engine}``; a guard you
    build yourself needs ``strategies=[...]`` for names that are not built in,
    `from_signals` does that). An empty
    response is refused (`on_empty_response="abstain"`) even if the guard accepted
    it. A policy with ``abstain.raise_error`` makes a refusal raise
    `LowConfidenceError`. A streaming engine's answer is held back until gated,
    then the gated text is released as a `StreamingResponse`; with
    ``by_sentence=True`` each sentence is released once the guard's claim policy
    passed it (one run of the engine; the verdict joins the metadata at the end).

    Example:
        >>> engine = GuardedQueryEngine.from_signals(
        ...     index.as_query_engine(), [AverageLogprob()], Policy()
        ... )
        >>> response = engine.query("Who won Super Bowl 50?")
        >>> response.metadata["confguard"]["action"]
        'accept'
    """

    def __init__(
        self,
        query_engine: BaseQueryEngine,
        guard: Guard | AsyncGuard | None = None,
        *,
        async_guard: AsyncGuard | None = None,
        strategies: Mapping[str, BaseQueryEngine] | None = None,
        on_empty_response: EmptyResponse = "abstain",
        append_caveat: bool = True,
        empty_markers: Sequence[str] = EMPTY_MARKERS,
        callback_manager: CallbackManager | None = None,
        by_sentence: bool = False,
    ) -> None:
        self._guard, self._async_guard = _guards(guard, async_guard)
        self._by_sentence = by_sentence
        if on_empty_response not in ("abstain", "keep"):
            raise ConfigurationError(
                "on_empty_response must be 'abstain' or 'keep', "
                f"got {on_empty_response!r}"
            )
        self._query_engine = query_engine
        self._pipeline = QueryEnginePipeline(
            query_engine, strategies=strategies, empty_markers=empty_markers
        )
        self._on_empty = on_empty_response
        self._append_caveat = append_caveat
        LogprobEventHandler.install()
        super().__init__(callback_manager=callback_manager)

    @classmethod
    def from_signals(
        cls,
        query_engine: BaseQueryEngine,
        signals: Sequence[Any],
        policy: Policy | None = None,
        *,
        strategies: Mapping[str, BaseQueryEngine] | None = None,
        on_empty_response: EmptyResponse = "abstain",
        append_caveat: bool = True,
        by_sentence: bool = False,
        **guard_kwargs: Any,
    ) -> GuardedQueryEngine:
        """Build the Guard and the AsyncGuard from the same signals and policy.

        `guard_kwargs` (store, routes, combiner, …) go to both guards, which are
        told the names of `strategies` (a custom name is refused otherwise).

        Example:
            >>> engine = GuardedQueryEngine.from_signals(
            ...     query_engine, [AverageLogprob(), NodeAgreement()], policy,
            ...     store=SQLStore("sqlite:///audit.db"),
            ... )
        """
        names = [*guard_kwargs.pop("strategies", ()), *(strategies or {})]
        guard_kwargs["strategies"] = names
        return cls(
            query_engine,
            Guard(signals, policy, **guard_kwargs),
            async_guard=AsyncGuard(signals, policy, **guard_kwargs),
            strategies=strategies,
            on_empty_response=on_empty_response,
            append_caveat=append_caveat,
            by_sentence=by_sentence,
        )

    @property
    def query_engine(self) -> BaseQueryEngine:
        """The wrapped engine."""
        return self._query_engine

    @property
    def pipeline(self) -> QueryEnginePipeline:
        """The wrapped engine as a confguard pipeline (also usable as a route)."""
        return self._pipeline

    def query(self, str_or_query_bundle: QueryType) -> Response | StreamingResponse:
        """Run a guarded query: a Response, or a stream of the gated text.

        Example:
            >>> engine.query("Who won Super Bowl 50?").response
            'Denver Broncos'
            >>> "".join(streaming_engine.query("Who won?").response_gen)
            'Denver Broncos'
        """
        # This override is the query's one span (DispatcherSpanMixin decorates it).
        # BaseQueryEngine.query and every `_query` are spans too, so going through
        # super().query() showed GuardedQueryEngine.query twice plus `_query`; the
        # base's few steps are repeated here instead.
        _dispatcher.event(QueryStartEvent(query=str_or_query_bundle))
        bundle = _bundle(str_or_query_bundle)
        with self.callback_manager.as_trace("query"):
            response = self._guarded(bundle)
        _dispatcher.event(QueryEndEvent(query=bundle, response=response))
        return response

    async def aquery(
        self, str_or_query_bundle: QueryType
    ) -> Response | AsyncStreamingResponse:
        """Async twin of `query` (a stream is an `AsyncStreamingResponse`).

        Example:
            >>> (await engine.aquery("Who won Super Bowl 50?")).response
        """
        _dispatcher.event(QueryStartEvent(query=str_or_query_bundle))
        bundle = _bundle(str_or_query_bundle)
        with self.callback_manager.as_trace("query"):
            response = await self._aguarded(bundle)
        _dispatcher.event(QueryEndEvent(query=bundle, response=response))
        return response

    def get_prompts(self) -> dict[str, Any]:
        """The wrapped engine's prompts, under the same keys."""
        return self._query_engine.get_prompts()

    def update_prompts(self, prompts_dict: dict[str, Any]) -> None:
        """Update the wrapped engine's prompts."""
        self._query_engine.update_prompts(prompts_dict)

    def _get_prompts(self) -> PromptDictType:
        return {}

    def _update_prompts(self, prompts: PromptDictType) -> None:
        """Prompts live in the wrapped engine (see `update_prompts`)."""

    def _get_prompt_modules(self) -> PromptMixinType:
        return {}

    def retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        """The wrapped engine's retrieval, ungated."""
        return self._query_engine.retrieve(query_bundle)

    def _query(self, query_bundle: QueryBundle) -> Response | StreamingResponse:
        """The guarded answer, for callers of the abstract hook (`query` skips it)."""
        return self._guarded(query_bundle)

    async def _aquery(
        self, query_bundle: QueryBundle
    ) -> Response | AsyncStreamingResponse:
        """Async twin of `_query`."""
        return await self._aguarded(query_bundle)

    def _guarded(self, query_bundle: QueryBundle) -> Response | StreamingResponse:
        if self._by_sentence:
            return self._sentences(query_bundle)
        with call_trace(query_bundle) as trace, _raised_refusal_announced():
            result = self._run(query_bundle.query_str)
        response = self._respond(result, trace)
        if not trace.streamed:
            return response
        chunks = self._release(result, trace, response)
        return StreamingResponse(_gen(chunks), response.source_nodes, response.metadata)

    async def _aguarded(
        self, query_bundle: QueryBundle
    ) -> Response | AsyncStreamingResponse:
        if self._by_sentence:
            return await self._asentences(query_bundle)
        with call_trace(query_bundle) as trace, _raised_refusal_announced():
            result = await self._arun(query_bundle.query_str)
        response = self._respond(result, trace)
        if not trace.streamed:
            return response
        chunks = _aiter(self._release(result, trace, response))
        return AsyncStreamingResponse(chunks, response.source_nodes, response.metadata)

    def _sentences(self, query_bundle: QueryBundle) -> StreamingResponse:
        """One run of the engine, its stream gated a sentence at a time."""
        guard = self._guard or _sync(self._async_guard)
        raw = self._query_engine.query(query_bundle)
        return stream_by_sentence(raw, guard, query_bundle, self._append_caveat)

    async def _asentences(self, query_bundle: QueryBundle) -> AsyncStreamingResponse:
        """Async twin of `_sentences`."""
        guard = self._async_guard or _async(self._guard)
        raw = await self._query_engine.aquery(query_bundle)
        return astream_by_sentence(raw, guard, query_bundle, self._append_caveat)

    def _release(
        self, result: GuardResult, trace: CallTrace, response: Response
    ) -> list[str]:
        """The gated text in chunks: the final attempt's own if it was accepted."""
        final = result.attempts[-1].attempt.number
        held = trace.held.get(final) if result.accepted else None
        return list((held or HoldBack()).release(response.response or ""))

    def _run(self, question: str) -> GuardResult:
        if self._guard is not None:
            return self._guard.run(self._pipeline, question)
        assert self._async_guard is not None  # _guards() ensures one is set
        # A fresh loop in a worker thread works whether or not a loop is running.
        context = contextvars.copy_context()
        coroutine = self._async_guard.arun(self._pipeline, question)
        with ThreadPoolExecutor(max_workers=1) as pool:
            return pool.submit(context.run, asyncio.run, coroutine).result()

    async def _arun(self, question: str) -> GuardResult:
        if self._async_guard is not None:
            return await self._async_guard.arun(self._pipeline, question)
        assert self._guard is not None
        return await asyncio.to_thread(self._guard.run, self._pipeline, question)

    @property
    def _policy(self) -> Policy:
        guard = self._guard or self._async_guard
        assert guard is not None
        return guard.policy

    def _respond(self, result: GuardResult, trace: CallTrace) -> Response:
        verdict = self._decide(result)
        final = result.attempts[-1].attempt.number
        source = trace.response_for(final)
        metadata = {**((source.metadata or {}) if source else {})}
        metadata[VERDICT_KEY] = verdict.to_metadata()
        nodes = list(source.source_nodes) if source else []
        return Response(response=verdict.answer, source_nodes=nodes, metadata=metadata)

    def _decide(self, result: GuardResult) -> Verdict:
        """The verdict, announced; a refused empty answer raises if the policy says."""
        refusal = self._refusal(result)
        verdict = Verdict.from_result(
            result, append_caveat=self._append_caveat, refusal=refusal
        )
        raises = refusal is not None and self._policy.abstain.raise_error
        announce(_dispatcher, ConfguardVerdictEvent.of(result, verdict, raised=raises))
        if refusal is not None and raises:
            raise LowConfidenceError(
                refusal,
                result.assessment,
                result.attempts,
                request_id=result.request_id,
            )
        return verdict

    def _refusal(self, result: GuardResult) -> Abstain | None:
        """An empty accepted answer's refusal, per `on_empty_response`."""
        empty = result.accepted and not (result.answer or "").strip()
        if not empty or self._on_empty != "abstain":
            return None
        reason = (
            "the query engine returned an empty response; refused although the "
            f"guard decided {result.decision.action} ({result.decision.reason})"
        )
        return Abstain(reason=reason, message=self._policy.abstain.message)


def _bundle(str_or_query_bundle: QueryType) -> QueryBundle:
    if isinstance(str_or_query_bundle, str):
        return QueryBundle(str_or_query_bundle)
    return str_or_query_bundle


@contextmanager
def _raised_refusal_announced() -> Iterator[None]:
    """Announce a refusal the guard raised: it is the query's decision too."""
    try:
        yield
    except LowConfidenceError as error:
        announce(_dispatcher, ConfguardVerdictEvent.of_error(error))
        raise


def _gen(chunks: Iterable[str]) -> Generator[str, None, None]:
    yield from chunks


async def _aiter(chunks: Iterable[str]) -> AsyncGenerator[str, None]:
    for chunk in chunks:
        yield chunk


def _sync(guard: AsyncGuard | None) -> Guard:
    assert guard is not None  # _guards() ensures one of the two is set
    return guard.as_sync()


def _async(guard: Guard | None) -> AsyncGuard:
    assert guard is not None  # _guards() ensures one of the two is set
    return guard.as_async()


def _guards(
    guard: Guard | AsyncGuard | None, async_guard: AsyncGuard | None
) -> tuple[Guard | None, AsyncGuard | None]:
    if isinstance(guard, AsyncGuard):
        if async_guard is not None:
            raise ConfigurationError("two AsyncGuards given: pass a Guard as `guard`")
        return None, guard
    if guard is not None and not isinstance(guard, Guard):
        raise ConfigurationError(
            f"guard must be a confguard Guard or AsyncGuard, got {type(guard).__name__}"
        )
    if async_guard is not None and not isinstance(async_guard, AsyncGuard):
        raise ConfigurationError(
            f"async_guard must be an AsyncGuard, got {type(async_guard).__name__}"
        )
    if guard is None and async_guard is None:
        raise ConfigurationError("GuardedQueryEngine needs a Guard or an AsyncGuard")
    return guard, async_guard


__all__ = ["GuardedQueryEngine"]
