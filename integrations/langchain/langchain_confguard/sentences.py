"""GuardedRunnable's sentence-by-sentence stream: the wrapped Runnable streams, the
guard's `stream` gates each sentence, and the caller gets only released text.

The wrapped Runnable runs as attempt 1 (tagged ``confguard:attempt`` and
``nostream``, so `gated_stream` and LangGraph's messages mode drop its raw
tokens); its chunks become pieces (with their logprob when a chunk carries
exactly its own token), the contexts its retrievers return reach the claim
signals as they arrive, and the last chunk carries the verdict.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from typing import TYPE_CHECKING, Any

from langchain_core.callbacks import (
    AsyncCallbackManagerForChainRun,
    CallbackManagerForChainRun,
)
from langchain_core.messages import AIMessageChunk, BaseMessage
from langchain_core.runnables import RunnableConfig

from confguard.exceptions import LogprobFormatError, LowConfidenceError
from confguard.observation import Context
from confguard.results import VERDICT_KEY, Attempt, GuardResult, Verdict
from confguard.streaming import Piece, TokenStream
from langchain_confguard._guards import async_guard, sync_guard
from langchain_confguard.callbacks import ConfidenceCallbackHandler
from langchain_confguard.logprobs import message_logprobs
from langchain_confguard.observability import (
    areport_verdict,
    refusal_verdict,
    report_verdict,
    run_verdict,
)

if TYPE_CHECKING:  # runnable imports this module
    from langchain_confguard.runnable import GuardedRunnable, _Call


def piece_of(chunk: Any) -> Piece | None:
    """A streamed chunk as a gate piece: its token with its logprob when the chunk
    carries exactly that one token, else its text (None: no text at all).

    Example:
        >>> piece_of(AIMessageChunk(content=" Paris"))
        ' Paris'
    """
    text = _text(chunk)
    if not text:
        return None
    if isinstance(chunk, BaseMessage):
        try:
            tokens = message_logprobs(chunk)
        except LogprobFormatError:
            tokens = None
        if tokens is not None and len(tokens) == 1 and tokens[0].token == text:
            return tokens[0]
    return text


def _text(chunk: Any) -> str:
    if isinstance(chunk, str):
        return chunk
    content = getattr(chunk, "content", None)
    return content if isinstance(content, str) else ""


def live_contexts(handler: ConfidenceCallbackHandler) -> Callable[[], list[Context]]:
    """The contexts the attempt's retrievers have returned so far, when asked."""
    return lambda: list(handler._events.collector.latest().contexts)


def _pieces(chunks: Iterator[Any], shapes: list[bool]) -> Iterator[Piece]:
    try:
        for chunk in chunks:
            shapes.append(isinstance(chunk, BaseMessage))
            piece = piece_of(chunk)
            if piece is not None:
                yield piece
    finally:
        getattr(chunks, "close", lambda: None)()  # stop the model on a gate


async def _apieces(
    chunks: AsyncIterator[Any], shapes: list[bool]
) -> AsyncIterator[Piece]:
    try:
        async for chunk in chunks:
            shapes.append(isinstance(chunk, BaseMessage))
            piece = piece_of(chunk)
            if piece is not None:
                yield piece
    finally:
        aclose = getattr(chunks, "aclose", None)
        if aclose is not None:
            await aclose()


def _shaped(text: str, messages: bool) -> Any:
    return AIMessageChunk(content=text) if messages else text


def _last(
    result: GuardResult, messages: bool, runnable: GuardedRunnable
) -> tuple[AIMessageChunk | None, Verdict]:
    """The closing chunk: the verdict (messages), or nothing more (strings)."""
    verdict = Verdict.from_result(result, append_caveat=runnable.append_caveat)
    if not messages:
        return None, verdict
    chunk = AIMessageChunk(
        content="",
        response_metadata={VERDICT_KEY: verdict.to_metadata()},
        chunk_position="last",
    )
    return chunk, verdict


def stream_sentences(
    runnable: GuardedRunnable,
    call: _Call,
    run_manager: CallbackManagerForChainRun,
    config: RunnableConfig,
) -> Iterator[Any]:
    """Stream the wrapped Runnable, releasing each sentence once the guard passed it."""
    value, child, handler = call.start(Attempt(number=1))
    shapes: list[bool] = []
    chunks = runnable.bound.stream(value, child, **call.kwargs)
    source = TokenStream(_pieces(chunks, shapes), contexts=live_contexts(handler))
    stream = sync_guard(runnable.guard).stream(source, call.question)
    try:
        for text in stream:
            yield _shaped(text, bool(shapes) and shapes[0])
    except LowConfidenceError as exc:  # abstain.raise_error: reported, then raised
        refused = refusal_verdict(run_manager.run_id, exc)
        report_verdict(config, refused, runnable.feedback, run_manager.handlers)
        raise
    assert stream.result is not None  # the stream was read out
    last, verdict = _last(stream.result, bool(shapes) and shapes[0], runnable)
    found = run_verdict(run_manager.run_id, stream.result, verdict)
    report_verdict(config, found, runnable.feedback, run_manager.handlers)
    if last is not None:
        yield last


async def astream_sentences(
    runnable: GuardedRunnable,
    call: _Call,
    run_manager: AsyncCallbackManagerForChainRun,
    config: RunnableConfig,
) -> AsyncIterator[Any]:
    """Async twin of `stream_sentences`."""
    value, child, handler = call.start(Attempt(number=1))
    shapes: list[bool] = []
    chunks = runnable.bound.astream(value, child, **call.kwargs)
    source = TokenStream(_apieces(chunks, shapes), contexts=live_contexts(handler))
    stream = async_guard(runnable.guard).astream(source, call.question)
    try:
        async for text in stream:
            yield _shaped(text, bool(shapes) and shapes[0])
    except LowConfidenceError as exc:  # abstain.raise_error: reported, then raised
        refused = refusal_verdict(run_manager.run_id, exc)
        await areport_verdict(config, refused, runnable.feedback, run_manager.handlers)
        raise
    assert stream.result is not None  # the stream was read out
    last, verdict = _last(stream.result, bool(shapes) and shapes[0], runnable)
    found = run_verdict(run_manager.run_id, stream.result, verdict)
    await areport_verdict(config, found, runnable.feedback, run_manager.handlers)
    if last is not None:
        yield last


__all__ = ["astream_sentences", "live_contexts", "piece_of", "stream_sentences"]
