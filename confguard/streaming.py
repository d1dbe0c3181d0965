"""Stream only gated text: hold an attempt's chunks back, release them once gated.

A streaming integration never forwards an attempt's chunks as they arrive (the
gate has not decided yet); it holds them in a `HoldBack` and, once the guard has
decided, releases the *gated* text: the held chunks when they spell it exactly
(an accepted answer keeps its token boundaries), otherwise the gated text cut
into word-sized `pieces` (a refusal, an escalation's answer, a caveat added).
"""

from __future__ import annotations

import re
from collections.abc import (
    AsyncIterable,
    AsyncIterator,
    Awaitable,
    Callable,
    Generator,
    Iterable,
    Iterator,
    Sequence,
)
from concurrent import futures
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

from confguard.claims.align import token_span
from confguard.claims.scorer import ClaimScorer, ScoredClaim
from confguard.claims.split import SentenceSplitter, Splitter
from confguard.exceptions import InputError
from confguard.observation import Context, Observation, Sample, TokenLogprob
from confguard.policy.claims import ClaimPolicy, assess_claim, decide_claim, gate_reason
from confguard.results import (
    Abstain,
    Annotate,
    Attempt,
    Claim,
    ClaimDecision,
    Escalate,
    GuardResult,
)

_PIECE = re.compile(r"\s*\S+\s*$|\s*\S+|\s+")


def pieces(text: str) -> tuple[str, ...]:
    """`text` cut into word-sized chunks that join back to it exactly.

    Example:
        >>> pieces("I can't answer that.")
        ('I', " can't", ' answer', ' that.')
    """
    return tuple(_PIECE.findall(text))


class HoldBack:
    """Chunks of an answer held back until the gate decides what may be released.

    Example:
        >>> held = HoldBack()
        >>> for chunk in ["Den", "ver"]:
        ...     held.hold(chunk)
        >>> list(held.release("Denver"))
        ['Den', 'ver']
    """

    def __init__(self) -> None:
        self._chunks: list[str] = []

    def hold(self, chunk: str) -> None:
        """Keep `chunk` back (nothing is released before `release`)."""
        self._chunks.append(chunk)

    @property
    def text(self) -> str:
        """Everything held so far, joined: the answer the gate scores."""
        return "".join(self._chunks)

    def release(self, gated: str) -> Iterator[str]:
        """The gated text as chunks: the held ones if they spell it, else `pieces`."""
        if self._chunks and self.text == gated:
            yield from (chunk for chunk in self._chunks if chunk)
        else:
            yield from pieces(gated)


# --- sentence-by-sentence gating ---------------------------------------------
#
# A stream of tokens is cut into sentences as they complete (the splitter sees the
# next one begin, or the stream ends); each sentence is scored as a claim and
# released only once the claim policy keeps (or flags) it. A redacted sentence is
# replaced by the policy's note; a gating one stops the stream. The pieces below
# are pure but for the claim signals `SentenceGate.judge` runs; the guards'
# `stream` / `astream` drive them.

Piece = str | TokenLogprob
"""What a token stream yields: a text piece, or a token with its logprob."""
Contexts = Sequence[Context] | Callable[[], Sequence[Context]]
"""Passages, or a function returning them when asked."""
_ENDS = frozenset(".!?;:\n\u2026\u3002")
"""Characters after which a sentence may have ended (the splitter is asked then)."""


@dataclass(frozen=True)
class TokenStream:
    """What a streaming pipeline returns: its tokens as they come, and its evidence.

    Example:
        >>> TokenStream(tokens=llm.stream(prompt), contexts=(Context(text=p),))
    """

    tokens: Iterable[Piece] | AsyncIterable[Piece]
    contexts: Contexts = ()
    """The passages, or a function giving them as they are known (a framework's
    retriever callbacks fill them while the stream runs)."""
    samples: tuple[Sample, ...] = ()


@dataclass(frozen=True)
class Segment:
    """A finished stretch of the stream: characters `release` hold `claim`, a
    sentence (None: only white space)."""

    release: tuple[int, int]
    claim: tuple[int, int] | None


class SentenceBuffer:
    """The text streamed so far, cut into sentences as they complete.

    Example:
        >>> buffer = SentenceBuffer(SentenceSplitter())
        >>> [buffer.push(p) for p in ["He won.", " She", " lost."]]
        [[], [Segment(release=(0, 7), claim=(0, 7))], []]
    """

    def __init__(self, splitter: Splitter) -> None:
        self.splitter = splitter
        self.text = ""
        self.offsets: list[tuple[int, int]] = []
        self.tokens: list[TokenLogprob] | None = []
        self.done = 0
        """Characters already handed out in segments."""
        self._maybe_ended = False

    def push(self, piece: Piece) -> list[Segment]:
        """Add one piece; the sentences it completes (usually none)."""
        text = piece.token if isinstance(piece, TokenLogprob) else piece
        if isinstance(piece, TokenLogprob) and self.tokens is not None:
            self.tokens.append(piece)
        elif not isinstance(piece, TokenLogprob):
            self.tokens = None  # text pieces carry no logprobs
        self.offsets.append((len(self.text), len(self.text) + len(text)))
        self.text += text
        ready = self._maybe_ended and bool(text.strip())
        self._maybe_ended = self._maybe_ended or any(c in _ENDS for c in text)
        return self._complete(final=False) if ready else []

    def close(self) -> list[Segment]:
        """The stream ended: every sentence left, and trailing white space."""
        return self._complete(final=True)

    def _complete(self, final: bool) -> list[Segment]:
        region = self.text[self.done :]
        spans = [(self.done + s, self.done + e) for s, e in self.splitter.spans(region)]
        ready = spans if final else spans[:-1]
        found = []
        for i, claim in enumerate(ready):
            # A sentence is released up to its own end; the white space after it
            # goes with the next one, so a token like " The" stays whole.
            last = final and i + 1 == len(spans)
            end = len(self.text) if last else claim[1]
            found.append(Segment((self.done, end), claim))
            self.done = end
        if final and self.done < len(self.text):
            found.append(Segment((self.done, len(self.text)), None))
            self.done = len(self.text)
        if found:
            rest = self.text[self.done :]
            self._maybe_ended = any(c in _ENDS for c in rest)
        return found

    def chunks(self, start: int, end: int) -> list[str]:
        """The characters `[start, end)` cut at the streamed pieces' boundaries."""
        cut = (self.text[max(s, start) : min(e, end)] for s, e in self.offsets)
        return [
            c
            for c, (s, e) in zip(cut, self.offsets, strict=True)
            if s < end and e > start and c
        ]


@dataclass(frozen=True)
class Released:
    """Text the gate let through, in the stream's own chunks."""

    chunks: tuple[str, ...]
    decision: ClaimDecision | None = None


@dataclass(frozen=True)
class Stopped:
    """A sentence gated the answer: nothing more of the stream is released."""

    reason: str
    decision: ClaimDecision | None = None


GateEvent = Released | Stopped


class SentenceGate:
    """Scores each completed sentence as a claim; says what may be released.

    Example:
        >>> gate = SentenceGate(ClaimScorer(), ClaimPolicy(), question, contexts)
        >>> for piece in tokens:
        ...     for segment in gate.push(piece):
        ...         event = gate.judge(segment)   # Released(...) or Stopped(...)
    """

    def __init__(
        self,
        scorer: ClaimScorer,
        policy: ClaimPolicy,
        question: str,
        contexts: Contexts = (),
        samples: Sequence[Sample] = (),
        pending: Sequence[Future[Any]] = (),
    ) -> None:
        self.scorer, self.policy, self.question = scorer, policy, question
        self.contexts, self.samples = contexts, tuple(samples)
        self.pending = list(pending)
        """Work started with the stream (e.g. embedding the contexts while the
        model generates), waited for before the first sentence is scored."""
        self.buffer = SentenceBuffer(scorer.splitter)
        self.scored: list[ScoredClaim] = []
        self.decisions: list[ClaimDecision] = []
        self.released = 0
        """Chunks let through so far."""

    def push(self, piece: Piece) -> list[Segment]:
        """Add one streamed piece; the sentences it completes."""
        return self.buffer.push(piece)

    def close(self) -> list[Segment]:
        """The stream ended: the sentences left."""
        return self.buffer.close()

    def observation(self, answer: str | None = None) -> Observation:
        """The stream so far as an Observation (the claim signals read it)."""
        tokens = self.buffer.tokens
        return Observation(
            question=self.question,
            answer=self.buffer.text if answer is None else answer,
            contexts=tuple(
                self.contexts() if callable(self.contexts) else self.contexts
            ),
            samples=self.samples,
            logprobs=None if tokens is None or not tokens else tuple(tokens),
        )

    def judge(self, segment: Segment) -> GateEvent:
        """Score the segment's sentence and decide: release, redact or stop."""
        event = self._judged(segment)
        if isinstance(event, Released):
            self.released += len(event.chunks)
        return event

    def _judged(self, segment: Segment) -> GateEvent:
        for future in self.pending:  # its failure shows in the signal itself
            futures.wait([future])
        self.pending.clear()
        start, end = segment.release
        if segment.claim is None:  # white space only
            return Released(tuple(self.buffer.chunks(start, end)))
        scored = self.scorer.score_claim(self._claim(segment.claim), self.observation())
        decision = decide_claim(self.policy, assess_claim(self.policy, scored))
        self.scored.append(scored)
        self.decisions.append(decision)
        gate = gate_reason(self.policy, self.decisions, final=False)
        if gate is not None:
            return Stopped(gate, decision)
        if decision.action == "redact":
            return Released(self._redacted(segment), decision)
        return Released(tuple(self.buffer.chunks(start, end)), decision)

    def _redacted(self, segment: Segment) -> tuple[str, ...]:
        """The note in the sentence's place, the white space around it kept (as
        `redacted` writes the answer), nothing of the sentence itself."""
        (start, end), (first, last) = segment.release, segment.claim or (0, 0)
        text, note = self.buffer.text, self.policy.redaction
        if not note:
            return ()
        return tuple(p for p in (text[start:first], note, text[last:end]) if p)

    def final_gate(self) -> str | None:
        """Why the claims gate the answer now that the stream has ended, or None."""
        return gate_reason(self.policy, self.decisions, final=True)

    def _claim(self, span: tuple[int, int]) -> Claim:
        start, end = span
        tokens = token_span(self.buffer.offsets, start, end)
        claim = Claim(
            index=len(self.scored),
            text=self.buffer.text[start:end],
            start=start,
            end=end,
            token_start=None
            if tokens is None or self.buffer.tokens is None
            else tokens[0],
            token_end=None
            if tokens is None or self.buffer.tokens is None
            else tokens[1],
        )
        essential = self.scorer.essential
        return (
            claim.model_copy(update={"essential": True})
            if essential and essential(claim)
            else claim
        )


# --- driving a stream through the gate (the guards' stream/astream use these) --

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
        for piece in iterator:
            for segment in gate.push(piece):
                if (yield from _released(gate.judge(segment))):
                    return True
        for segment in gate.close():
            if (yield from _released(gate.judge(segment))):
                return True
        return False
    finally:
        _close(iterator)


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
    try:
        async for piece in iterator:
            for segment in gate.push(piece):
                event = await judge(segment)
                if isinstance(event, Stopped):
                    yield event
                    return
                for chunk in event.chunks:
                    yield chunk
        for segment in gate.close():
            event = await judge(segment)
            if isinstance(event, Stopped):
                yield event
                return
            for chunk in event.chunks:
                yield chunk
    finally:
        aclose = getattr(iterator, "aclose", None)
        if callable(aclose):
            await aclose()


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


__all__ = [
    "AsyncGatedStream",
    "Contexts",
    "GateEvent",
    "GatedStream",
    "HoldBack",
    "Piece",
    "Released",
    "Segment",
    "SentenceBuffer",
    "SentenceGate",
    "SentenceSplitter",
    "Stopped",
    "StreamSource",
    "TokenStream",
    "adrive",
    "drive",
    "open_stream",
    "pieces",
    "tail",
]
