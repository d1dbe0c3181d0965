"""Sentence-by-sentence gating of a token stream: the pure parts.

A stream of tokens is cut into sentences as they complete (the splitter sees the
next one begin, or the stream ends); each sentence is scored as a claim and
released only once the claim policy keeps (or flags) it. A redacted sentence is
replaced by the policy's note; a gating one stops the stream. Everything here is
pure but for the claim signals `SentenceGate.judge` runs; `confguard.streaming.drive`
and the guards' `stream` / `astream` drive it.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, Callable, Iterable, Sequence
from concurrent import futures
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

from confguard.claims.align import token_span
from confguard.claims.scorer import ClaimScorer, ScoredClaim
from confguard.claims.split import Splitter
from confguard.observation import Context, Observation, Sample, TokenLogprob
from confguard.policy.claims import (
    ClaimPolicy,
    assess_claim,
    decide_claim,
    gate_reason,
)
from confguard.results import Claim, ClaimDecision

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


def _trimmed(text: str, start: int, end: int) -> tuple[int, int] | None:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return (start, end) if end > start else None


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
        if final and self.text[spans[-1][1] if spans else self.done :].strip():
            spans.append((spans[-1][1] if spans else self.done, len(self.text)))
        found = []
        for _, end in spans if final else spans[:-1]:
            # Each sentence is released up to its own end (the white space after
            # it goes with the next, so a token like " The" stays whole), and its
            # claim covers every character released with it: text a splitter
            # left out between sentences is scored with the one after it.
            claim = _trimmed(self.text, self.done, end)
            found.append(Segment((self.done, end), claim))
            self.done = end
        if final and self.done < len(self.text):  # white space only
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

    def _claim(self, span: tuple[int, int]) -> Claim:
        start, end = span
        known = self.buffer.tokens is not None  # all pieces carried logprobs
        tokens = token_span(self.buffer.offsets, start, end) if known else None
        claim = Claim(
            index=len(self.scored),
            text=self.buffer.text[start:end],
            start=start,
            end=end,
            token_start=tokens[0] if tokens else None,
            token_end=tokens[1] if tokens else None,
        )
        essential = self.scorer.essential
        if essential is not None and essential(claim):
            return claim.model_copy(update={"essential": True})
        return claim


__all__ = [
    "Contexts",
    "GateEvent",
    "Piece",
    "Released",
    "Segment",
    "SentenceBuffer",
    "SentenceGate",
    "Stopped",
    "TokenStream",
]
