"""GuardedQueryEngine(by_sentence=True): stream the answer a sentence at a time.

The wrapped engine runs once (a released sentence cannot be retried); its
stream's chunks go through the guard's `stream` (`astream` from `aquery`), so
each sentence is released only once the claim policy passed it, a redacted one
is replaced by the note, and a gating one stops the stream with the refusal or
the escalation's answer. The contexts are the response's source nodes. The
verdict is written into the response's metadata, and announced, when the stream
has been read out (it cannot be known before).
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterable, Generator, Iterable
from typing import Any

from confguard.guard import AsyncGuard, Guard
from confguard.observation import Context
from confguard.results import VERDICT_KEY, GuardResult, Verdict
from confguard.streaming import TokenStream, pieces
from llama_index.core.base.response.schema import (
    AsyncStreamingResponse,
    Response,
    StreamingResponse,
)
from llama_index.core.schema import NodeWithScore, QueryBundle
from llama_index_instrumentation import get_dispatcher

from llama_index.postprocessor.confguard.nodes import to_context
from llama_index.postprocessor.confguard.observability import (
    ConfguardVerdictEvent,
    announce,
)

_dispatcher = get_dispatcher(__name__)


def _contexts(nodes: Iterable[NodeWithScore]) -> tuple[Context, ...]:
    return tuple(c for c in map(to_context, nodes) if c is not None)


def _chunks(raw: Any) -> Iterable[str] | AsyncIterable[str]:
    """The response's text as it streams (a plain response: cut into words)."""
    if isinstance(raw, AsyncStreamingResponse):
        return raw.async_response_gen()
    if isinstance(raw, StreamingResponse) and raw.response_gen is not None:
        return raw.response_gen
    text = raw.response if isinstance(raw, Response) else str(raw)
    return pieces(text or "")


def _conclude(
    result: GuardResult | None, metadata: dict[str, Any], append_caveat: bool
) -> None:
    if result is None:  # the reader stopped early: no decision was made
        return
    verdict = Verdict.from_result(result, append_caveat=append_caveat)
    metadata[VERDICT_KEY] = verdict.to_metadata()
    announce(_dispatcher, ConfguardVerdictEvent.of(result, verdict, raised=False))


def stream_by_sentence(
    raw: Any, guard: Guard, bundle: QueryBundle, append_caveat: bool
) -> StreamingResponse:
    """The gated stream of one engine response."""
    nodes = list(getattr(raw, "source_nodes", []) or [])
    metadata: dict[str, Any] = dict(getattr(raw, "metadata", None) or {})
    chunks = _chunks(raw)
    if isinstance(chunks, AsyncIterable):
        raise TypeError("an async stream needs aquery()")
    source = TokenStream(tokens=chunks, contexts=_contexts(nodes))
    stream = guard.stream(source, bundle.query_str)

    def released() -> Generator[str, None, None]:
        yield from stream
        _conclude(stream.result, metadata, append_caveat)

    return StreamingResponse(released(), nodes, metadata)


def astream_by_sentence(
    raw: Any, guard: AsyncGuard, bundle: QueryBundle, append_caveat: bool
) -> AsyncStreamingResponse:
    """Async twin of `stream_by_sentence`."""
    nodes = list(getattr(raw, "source_nodes", []) or [])
    metadata: dict[str, Any] = dict(getattr(raw, "metadata", None) or {})
    source = TokenStream(tokens=_chunks(raw), contexts=_contexts(nodes))
    stream = guard.astream(source, bundle.query_str)

    async def released() -> AsyncGenerator[str, None]:
        async for chunk in stream:
            yield chunk
        _conclude(stream.result, metadata, append_caveat)

    return AsyncStreamingResponse(released(), nodes, metadata)


__all__ = ["astream_by_sentence", "stream_by_sentence"]
