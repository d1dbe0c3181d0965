"""Driving a token stream through the sentence gate, sync and async.

`drive` / `adrive` feed the pieces to a `SentenceGate` and yield what it
releases; `GatedStream` / `AsyncGatedStream` are what `Guard.stream` /
`AsyncGuard.astream` return; `sentence_gate` and `stream_record` are the guards'
steps before and after the stream.
"""

from __future__ import annotations

import inspect
import time
from collections.abc import (
    AsyncGenerator,
    AsyncIterable,
    AsyncIterator,
    Awaitable,
    Callable,
    Generator,
    Iterable,
    Iterator,
    Sequence,
)
from typing import Any

from confguard._core import GuardCore
from confguard.claims.scorer import ClaimScorer
from confguard.exceptions import InputError
from confguard.llm.workers import Workers
from confguard.observation import Observation
from confguard.results import (
    Abstain,
    Annotate,
    Attempt,
    AttemptRecord,
    Escalate,
    GuardResult,
    SignalResult,
)
from confguard.streaming.gate import (
    GateEvent,
    Piece,
    Segment,
    SentenceGate,
    Stopped,
    TokenStream,
)
from confguard.streaming.holdback import pieces

StreamSource = TokenStream | Iterable[Piece] | AsyncIterable[Piece] | Callable[..., Any]
"""A token stream, an iterable of pieces, or a pipeline `(question, attempt)`
returning either."""


def open_stream(source: StreamSource, question: str) -> TokenStream:
    """The TokenStream of a source (a pipeline is called for attempt 1)."""
    if callable(source) and not isinstance(source, TokenStream):
        source = source(question, Attempt(number=1))
    if isinstance(source, TokenStream):
        return source
    if isinstance(source, Iterable | AsyncIterable) and not isinstance(source, str):
        return TokenStream(tokens=source)
    raise InputError(
        "a stream needs a TokenStream, an iterable of str/TokenLogprob pieces, or a "
        f"pipeline returning one; got {type(source).__name__}"
    )


def drive(gate: SentenceGate, tokens: Iterable[Piece]) -> Generator[str, None, bool]:
    """Yield what the gate releases; return True when a sentence stopped it.

    The source is closed when the gate stops (or the caller stops reading), so
    generation stops too.
    """
    iterator = iter(tokens)
    try:
        for segment in _segments(gate, iterator):
            if (yield from _released(gate.judge(segment))):
                return True
        return False
    finally:
        _close(iterator)


def _segments(gate: SentenceGate, source: Iterator[Piece]) -> Iterator[Segment]:
    """Every segment the gate cuts: while the source runs, then at its end."""
    for piece in source:
        yield from gate.push(piece)
    yield from gate.close()


def _released(event: GateEvent) -> Generator[str, None, bool]:
    if isinstance(event, Stopped):
        return True
    yield from event.chunks
    return False


def _close(iterator: object) -> None:
    close = getattr(iterator, "close", None)
    if callable(close):
        close()


async def adrive(
    gate: SentenceGate,
    tokens: Iterable[Piece] | AsyncIterable[Piece],
    judge: Callable[[Segment], Awaitable[GateEvent]],
) -> AsyncIterator[str | Stopped]:
    """Async twin of `drive`: `judge` scores off the event loop; a `Stopped` is
    the last item when a sentence stopped the gate."""
    iterator = _aiter(tokens)
    segments = _asegments(gate, iterator)
    try:
        async for segment in segments:
            event = await judge(segment)
            if isinstance(event, Stopped):
                yield event
                return
            for chunk in event.chunks:
                yield chunk
    finally:
        await segments.aclose()
        aclose = getattr(iterator, "aclose", None)
        if callable(aclose):
            await aclose()


async def _asegments(
    gate: SentenceGate, source: AsyncIterator[Piece]
) -> AsyncGenerator[Segment, None]:
    """Async twin of `_segments`."""
    async for piece in source:
        for segment in gate.push(piece):
            yield segment
    for segment in gate.close():
        yield segment


async def _aiter(
    tokens: Iterable[Piece] | AsyncIterable[Piece],
) -> AsyncIterator[Piece]:
    if isinstance(tokens, AsyncIterable):
        async for piece in tokens:
            yield piece
        return
    iterator = iter(tokens)
    try:
        for piece in iterator:
            yield piece
    finally:
        _close(iterator)


def tail(result: GuardResult, released: bool) -> tuple[str, ...]:
    """What follows the released sentences: an annotation's caveat, or the text
    of an abstention or escalation (after a blank line when text went before)."""
    decision = result.decision
    if isinstance(decision, Annotate):
        text: str | None = decision.caveat
    elif isinstance(decision, Abstain | Escalate):
        text = result.answer
    else:
        text = None
    if not text:
        return ()
    return pieces(("\n\n" if released else "") + text)


class GatedStream(Iterator[str]):
    """The gated text of a stream, chunk by chunk; `result` once it is read out.

    Example:
        >>> stream = guard.stream(token_pipeline, "Who won Super Bowl 50?")
        >>> text = "".join(stream)
        >>> stream.result.decision.action, stream.result.claims.removed
    """

    def __init__(self, chunks: Generator[str, None, GuardResult]) -> None:
        self._chunks = chunks
        self.result: GuardResult | None = None
        """The GuardResult, set when the stream is exhausted."""

    def __iter__(self) -> GatedStream:
        return self

    def __next__(self) -> str:
        try:
            return next(self._chunks)
        except StopIteration as done:
            self.result = done.value
            raise

    def close(self) -> None:
        """Stop reading: the source stream is closed too."""
        self._chunks.close()


class AsyncGatedStream(AsyncIterator[str]):
    """Async twin of `GatedStream`: ``async for chunk in guard.astream(...)``."""

    def __init__(self, chunks: AsyncIterator[str], holder: list[GuardResult]) -> None:
        self._chunks, self._holder = chunks, holder

    @property
    def result(self) -> GuardResult | None:
        """The GuardResult, set when the stream is exhausted."""
        return self._holder[0] if self._holder else None

    def __aiter__(self) -> AsyncGatedStream:
        return self

    async def __anext__(self) -> str:
        return await self._chunks.__anext__()

    async def aclose(self) -> None:
        """Stop reading: the source stream is closed too."""
        aclose = getattr(self._chunks, "aclose", None)
        if callable(aclose):
            await aclose()


def sentence_gate(
    core: GuardCore, question: str, opened: TokenStream, workers: Workers
) -> SentenceGate:
    """The gate of one stream under a guard's claim signals and claim policy."""
    scorer = core.claims or ClaimScorer()  # no claim signals: the cheap defaults
    pending = []
    if opened.contexts and not callable(opened.contexts):
        # Embed the passages on a worker while the model writes its first sentence.
        known = Observation(question=question, answer="", contexts=opened.contexts)
        pending.append(workers.submit(scorer.prepare, known))
    return SentenceGate(
        scorer, core.claim_policy, question, opened.contexts, opened.samples, pending
    )


async def opened_source(source: Any, question: str) -> Any:
    """An async source called (a coroutine pipeline awaited) for attempt 1."""
    if callable(source) and not isinstance(source, TokenStream):
        source = source(question, Attempt(number=1))
    return await source if inspect.isawaitable(source) else source


def stream_record(
    core: GuardCore,
    gate: SentenceGate,
    obs: Observation,
    results: Sequence[SignalResult],
    stopped: bool,
    start: float,
) -> AttemptRecord:
    """The streamed attempt's record: claims as the gate scored them, no retry."""
    latency = time.perf_counter() - start
    record = core.judge(
        Attempt(number=1),
        obs,
        results,
        (),
        latency,
        tuple(gate.scored),
        can_retry=False,
    )
    return core.streamed(record, stopped)


__all__ = [
    "AsyncGatedStream",
    "GatedStream",
    "StreamSource",
    "adrive",
    "drive",
    "open_stream",
    "opened_source",
    "sentence_gate",
    "stream_record",
    "tail",
]
