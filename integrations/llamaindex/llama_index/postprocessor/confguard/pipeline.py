"""A LlamaIndex query engine as a pipeline: `(question, attempt) -> Observation`.

Each attempt runs the query engine inside a `capture_logprobs()` block, so the
Observation carries the answer, the source nodes as contexts and the logprobs of
the LLM call that produced the answer. Whatever cannot be used (an empty response,
nodes without text, an LLM without logprobs) becomes an explicit `Issue` in
``observation.issues``, never an exception; the postprocessor's `NodeScore`s go to
``observation.node_scores``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, Literal

from confguard.observation import Issue, Observation
from confguard.results import Attempt
from confguard.streaming import HoldBack
from llama_index.core.base.base_query_engine import BaseQueryEngine
from llama_index.core.base.response.schema import (
    AsyncStreamingResponse,
    PydanticResponse,
    Response,
    StreamingResponse,
)
from llama_index.core.schema import NodeWithScore, QueryBundle, QueryType

from llama_index.postprocessor.confguard.events import Capture, capture_logprobs
from llama_index.postprocessor.confguard.nodes import (
    has_text,
    scored_nodes,
    to_context,
)

IssueCode = Literal[
    "empty_response",
    "node_without_text",
    "no_llm_call",
    "no_logprobs",
    "unreadable_logprobs",
    "all_nodes_dropped",
    "nodes_below_threshold",
    "strategy_without_engine",
]
"""Every issue code this pipeline writes (see docs/llamaindex.md)."""

_STREAMS = (StreamingResponse, AsyncStreamingResponse)
EMPTY_MARKERS = ("Empty Response",)
"""What LlamaIndex's synthesizers answer when they had no node to answer from."""


class CallTrace:
    """One guarded query: its QueryBundle and its responses by attempt number."""

    def __init__(self, bundle: QueryBundle | None = None) -> None:
        self.bundle = bundle
        self.responses: dict[int, Response] = {}
        self.held: dict[int, HoldBack] = {}
        """The streamed chunks of each attempt, held back until the gate decides."""

    @property
    def streamed(self) -> bool:
        """Whether the engine streamed (so the gated answer is released as one)."""
        return bool(self.held)

    def query_for(self, question: str) -> QueryType:
        """The caller's QueryBundle (custom embeddings kept) if it asks `question`."""
        if self.bundle is not None and self.bundle.query_str == question:
            return self.bundle
        return question

    def response_for(self, attempt: int) -> Response | None:
        """The response of `attempt`, or else of the latest attempt before it."""
        earlier = [n for n in self.responses if n <= attempt]
        return self.responses[max(earlier)] if earlier else None


_CALL: ContextVar[CallTrace | None] = ContextVar(
    "confguard_llamaindex_call", default=None
)


@contextmanager
def call_trace(bundle: QueryBundle | None = None) -> Iterator[CallTrace]:
    """Keep the LlamaIndex responses of the attempts run inside the block."""
    trace = CallTrace(bundle)
    token = _CALL.set(trace)
    try:
        yield trace
    finally:
        _CALL.reset(token)


class QueryEnginePipeline:
    """Runs a query engine as one attempt; a retry strategy may pick another engine.

    Example:
        >>> pipeline = QueryEnginePipeline(
        ...     engine, strategies={"more_context": wide_engine}
        ... )
        >>> Guard(signals, policy).run(pipeline, "Who won Super Bowl 50?")
    """

    def __init__(
        self,
        query_engine: BaseQueryEngine,
        *,
        strategies: Mapping[str, BaseQueryEngine] | None = None,
        empty_markers: Sequence[str] = EMPTY_MARKERS,
    ) -> None:
        self.query_engine = query_engine
        self.strategies = dict(strategies or {})
        self.empty_markers = tuple(empty_markers)

    def __call__(self, question: str, attempt: Attempt | None = None) -> Observation:
        """Run the attempt synchronously."""
        engine, issues = self.engine_for(attempt)
        held = HoldBack()
        with capture_logprobs() as capture:
            raw = engine.query(_query(question))
            response = as_response(raw, held)
        self._hold(attempt, raw, held)
        return self._observe(question, attempt, response, capture, issues)

    async def acall(self, question: str, attempt: Attempt | None = None) -> Observation:
        """Run the attempt with the engine's `aquery`."""
        engine, issues = self.engine_for(attempt)
        held = HoldBack()
        with capture_logprobs() as capture:
            raw = await engine.aquery(_query(question))
            response = await aas_response(raw, held)
        self._hold(attempt, raw, held)
        return self._observe(question, attempt, response, capture, issues)

    def _hold(self, attempt: Attempt | None, raw: object, held: HoldBack) -> None:
        trace = _CALL.get()
        if trace is not None and isinstance(raw, _STREAMS):
            trace.held[attempt.number if attempt else 1] = held

    def engine_for(
        self, attempt: Attempt | None
    ) -> tuple[BaseQueryEngine, list[Issue]]:
        """The engine of the attempt's strategy (the base engine if it has none)."""
        strategy = attempt.strategy if attempt else None
        if strategy is None or strategy.name in ("repeat", ""):
            return self.query_engine, []
        if strategy.name in self.strategies:
            return self.strategies[strategy.name], []
        detail = (
            f"retry strategy {strategy.name!r} has no engine (known: "
            f"{sorted(self.strategies) or 'none'}); the base engine ran again"
        )
        number = attempt.number if attempt else 1
        return self.query_engine, [issue("strategy_without_engine", number, detail)]

    def _observe(
        self,
        question: str,
        attempt: Attempt | None,
        response: Response,
        capture: Capture,
        issues: list[Issue],
    ) -> Observation:
        number = attempt.number if attempt else 1
        trace = _CALL.get()
        if trace is not None:
            trace.responses[number] = response
        nodes = list(response.source_nodes)
        answer = _answer(response, self.empty_markers)
        issues = [*issues, *_issues(number, answer, nodes, capture)]
        return Observation(
            question=question,
            answer=answer,
            contexts=tuple(c for c in map(to_context, nodes) if c is not None),
            logprobs=capture.logprobs,
            node_scores=scored_nodes(nodes),
            issues=tuple(issues),
            pipeline="llamaindex",
            attempt=number,
        )


def issue(code: IssueCode, attempt: int, detail: str) -> Issue:
    """An issue of this pipeline (its code checked against `IssueCode`)."""
    return Issue(code=code, attempt=attempt, detail=detail)


def _query(question: str) -> QueryType:
    trace = _CALL.get()
    return question if trace is None else trace.query_for(question)


def as_response(response: Any, held: HoldBack | None = None) -> Response:
    """A plain Response from any sync response type (a stream is read to the end).

    A stream's chunks go to `held` (none of them is released here).
    """
    if isinstance(response, Response):
        return response
    if isinstance(response, StreamingResponse):
        held = held or HoldBack()
        for chunk in response.response_gen:
            held.hold(chunk)
        return _read(response, held)
    if isinstance(response, PydanticResponse):
        return response.get_response()
    raise TypeError(
        f"the query engine returned {type(response).__name__}; a sync query needs "
        "Response, StreamingResponse or PydanticResponse"
    )


async def aas_response(response: Any, held: HoldBack | None = None) -> Response:
    """Async twin of `as_response`, which also reads an AsyncStreamingResponse."""
    if isinstance(response, AsyncStreamingResponse):
        held = held or HoldBack()
        async for chunk in response.response_gen:
            held.hold(chunk)
        return _read(response, held)
    return as_response(response, held)


def _read(
    response: StreamingResponse | AsyncStreamingResponse, held: HoldBack
) -> Response:
    return Response(held.text, list(response.source_nodes), response.metadata)


def _answer(response: Response, markers: Sequence[str]) -> str:
    text = (response.response or "").strip()
    if text in markers and not response.source_nodes:
        return ""  # the synthesizer had nothing to answer from: no answer
    return text


def _issues(
    number: int, answer: str, nodes: list[NodeWithScore], capture: Capture
) -> list[Issue]:
    found = [*_answer_issues(number, answer, nodes, capture)]
    found += _node_issues(number, nodes, capture)
    return found


def _answer_issues(
    number: int, answer: str, nodes: list[NodeWithScore], capture: Capture
) -> list[Issue]:
    if not answer:
        where = "with no source nodes" if not nodes else f"from {len(nodes)} nodes"
        detail = f"the query engine returned an empty response ({where})"
        return [issue("empty_response", number, detail)]
    last = capture.last_call
    if last is None:
        detail = (
            "no LLM call was seen during the query (an LLM working in a plain "
            "thread pool is not captured), so the answer has no logprobs"
        )
        return [issue("no_llm_call", number, detail)]
    if last.problem is not None:
        unreadable = "unreadable" in last.problem
        code: IssueCode = "unreadable_logprobs" if unreadable else "no_logprobs"
        return [issue(code, number, last.problem)]
    return []


def _node_issues(
    number: int, nodes: list[NodeWithScore], capture: Capture
) -> list[Issue]:
    found = []
    textless = [n.node.node_id for n in nodes if not has_text(n)]
    if textless:
        detail = (
            f"{len(textless)} source node(s) carry no text and were left out of the "
            f"contexts: {', '.join(textless[:5])}"
        )
        found.append(issue("node_without_text", number, detail))
    for report in capture.reports:
        if report.note is None:
            continue
        code: IssueCode = (
            "all_nodes_dropped" if report.empty else "nodes_below_threshold"
        )
        found.append(issue(code, number, report.note))
    return found


__all__ = [
    "EMPTY_MARKERS",
    "CallTrace",
    "IssueCode",
    "QueryEnginePipeline",
    "aas_response",
    "as_response",
    "call_trace",
    "issue",
]
