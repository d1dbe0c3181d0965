"""Sentence-by-sentence gating of token streams: nothing of a failed sentence leaks.

The fakes are adversarial: pieces cut anywhere (inside words, across sentence
ends, a whole failing sentence in one piece, white-space-only pieces), a failing
last sentence with no full stop, and a source that records how far it was read.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Iterator

import pytest

from confguard import Guard
from confguard.claims import BaseClaimSignal, ClaimScorer
from confguard.observation import Context, Observation, TokenLogprob
from confguard.policy import Policy
from confguard.results import Claim, SignalResult
from confguard.routes.builtin import CallableRoute
from confguard.signals import FunctionSignal
from confguard.store import InMemoryStore
from confguard.streaming import SentenceBuffer, SentenceSplitter, TokenStream
from confguard.testing.generators import fake_tokens

BAD = "cheese"
"""Every sentence with this word fails its claim check."""
GOOD = [
    "Denver won Super Bowl 50.",
    "Dr. Smith paid $3.5 million for it.",
    "The game was in Santa Clara.",
    "- Peyton Manning played.",
]
FAILING = ["The moon is green cheese.", "Ask the cheese oracle"]


class Oracle(BaseClaimSignal):
    """Fails a claim that mentions BAD; logs every claim it scores, in order."""

    name = "oracle"

    def __init__(self) -> None:
        self.scored: list[str] = []

    def _score_claim(self, claim: Claim, obs: Observation) -> SignalResult:
        self.scored.append(claim.text)
        confidence = 0.0 if BAD in claim.text else 1.0
        return SignalResult(name=self.name, confidence=confidence)


class Source:
    """Yields pieces, counting them, and notes when it is closed."""

    def __init__(self, pieces: list[str], logprobs: bool = True) -> None:
        self.pieces, self.logprobs = pieces, logprobs
        self.yielded, self.closed = 0, False

    def __iter__(self) -> Iterator[str | TokenLogprob]:
        try:
            for piece in self.pieces:
                self.yielded += 1
                yield (
                    TokenLogprob(token=piece, logprob=-0.1) if self.logprobs else piece
                )
        finally:
            self.closed = True

    async def aiter(self) -> AsyncIterator[str | TokenLogprob]:
        for piece in self:
            await asyncio.sleep(0)
            yield piece


def cut(text: str, rng: random.Random) -> list[str]:
    """`text` in random pieces of 1 to 12 characters (boundaries anywhere)."""
    pieces, at = [], 0
    while at < len(text):
        step = rng.randint(1, 12)
        pieces.append(text[at : at + step])
        at += step
    return pieces


def make_guard(
    policy: dict[str, object] | None = None, **options: object
) -> tuple[Guard, Oracle]:
    oracle = Oracle()
    full = {"thresholds": {"accept": 0.5}, **(policy or {})}
    g = Guard(
        [FunctionSignal(lambda obs: 0.9, name="fixed")],
        Policy.from_dict(full),
        claims=ClaimScorer([oracle]),
        **options,  # type: ignore[arg-type]
    )
    return g, oracle


NOTE = "[removed: a claim that was not supported]"


def watched(stream: Iterator[str], oracle: Oracle) -> list[str]:
    """Read the stream, checking at each chunk that it is part of the sentence
    scored last, and that this sentence passed (else only its note may come)."""
    out: list[str] = []
    for chunk in stream:
        text = chunk.strip()
        if text:
            last = oracle.scored[-1]
            if text in NOTE and BAD in last:
                pass  # the note of the redacted sentence
            else:
                assert text in last and BAD not in last, (chunk, last)
        out.append(chunk)
    return out


@pytest.mark.parametrize("seed", range(40))
def test_no_character_of_a_failing_sentence_is_ever_released(seed: int) -> None:
    rng = random.Random(seed)
    sentences = [*rng.sample(GOOD, 3), FAILING[0]]
    rng.shuffle(sentences)
    if rng.random() < 0.5:
        sentences.append(FAILING[1])  # failing, last, and with no full stop
    text = " ".join(sentences)
    pieces = cut(text, rng)
    if rng.random() < 0.3:  # the failing sentence in one piece of its own
        pieces = [p for p in text.partition(FAILING[0])]
    g, oracle = make_guard()
    stream = g.stream(Source([p for p in pieces if p]), "What happened?")
    out = "".join(watched(stream, oracle))
    assert BAD not in out and "moon" not in out and "oracle" not in out
    assert stream.result is not None
    assert out == stream.result.answer
    for sentence in sentences:
        if BAD not in sentence:
            assert sentence in out


def test_sentences_are_released_while_the_model_is_still_generating() -> None:
    text = " ".join(GOOD)
    source = Source(cut(text, random.Random(7)))
    g, oracle = make_guard()
    stream = g.stream(source, "What happened?")
    first = next(stream)
    assert source.yielded < len(source.pieces) / 2
    assert oracle.scored == [GOOD[0]]
    assert GOOD[0].startswith(first)
    assert first + "".join(stream) == text


def test_the_released_chunks_keep_the_streams_own_token_boundaries() -> None:
    g, _ = make_guard()
    pieces = ["Denver", " won", " Super", " Bowl", " 50.", " The", " game", " ended."]
    assert list(g.stream(Source(pieces), "Who won?")) == pieces


def test_a_redacted_sentence_is_replaced_by_the_note_and_the_stream_goes_on() -> None:
    g, _ = make_guard()
    text = f"{GOOD[0]} {FAILING[0]} {GOOD[2]}"
    stream = g.stream(Source(cut(text, random.Random(1))), "What happened?")
    out = "".join(stream)
    assert out == (f"{GOOD[0]} [removed: a claim that was not supported] {GOOD[2]}")
    result = stream.result
    assert result is not None and result.decision.action == "accept"
    assert result.claims is not None
    assert [d.action for d in result.claims.decisions] == ["keep", "redact", "keep"]


def test_a_gating_sentence_stops_the_stream_and_closes_the_source() -> None:
    g, oracle = make_guard({"claims": {"essential": "all"}})
    text = f"{GOOD[0]} {FAILING[0]} {GOOD[2]} {GOOD[3]}"
    source = Source(fake_tokens(text))
    stream = g.stream(source, "What happened?")
    out = "".join(stream)
    assert out == f"{GOOD[0]}\n\nI'm not confident enough to answer that."
    assert source.closed and source.yielded < len(source.pieces)
    assert GOOD[2] not in oracle.scored
    assert stream.result is not None and stream.result.decision.action == "abstain"


def test_a_gate_escalates_with_what_was_said_so_far() -> None:
    asked: list[str] = []

    def human(request: object) -> str:
        asked.append(request.answer)  # type: ignore[attr-defined]
        return "A person will follow up."

    g, _ = make_guard(
        {
            "claims": {"essential": "all", "on_gate": "escalate"},
            "escalate": {"route": "human"},
        },
        routes={"human": CallableRoute(human)},
    )
    text = f"{GOOD[0]} {FAILING[0]} {GOOD[2]}"
    stream = g.stream(Source(fake_tokens(text)), "What happened?")
    out = "".join(stream)
    assert out == f"{GOOD[0]}\n\nA person will follow up."
    [said] = asked
    assert said.startswith(f"{GOOD[0]} {FAILING[0]}")  # the held sentence included
    assert stream.result is not None and stream.result.decision.action == "escalate"


def test_too_little_kept_stops_the_stream() -> None:
    g, _ = make_guard()
    text = f"{FAILING[0]} The {BAD} is old. {GOOD[0]}"
    source = Source(fake_tokens(text))
    out = "".join(g.stream(source, "What happened?"))
    assert BAD not in out and GOOD[0] not in out
    assert out.endswith("I'm not confident enough to answer that.")


def test_an_answer_level_doubt_after_release_ends_with_the_caveat() -> None:
    policy = Policy.from_dict({"thresholds": {"accept": 0.95}})
    g = Guard(
        [FunctionSignal(lambda obs: 0.3, name="fixed")],
        policy,
        claims=ClaimScorer([Oracle()]),
    )
    stream = g.stream(Source(fake_tokens(GOOD[0])), "Who won?")
    out = "".join(stream)
    assert out == f"{GOOD[0]}\n\nThis answer may be inaccurate (confidence 30%)."
    assert stream.result is not None
    assert stream.result.decision.action == "annotate"
    assert "streamed sentence by sentence" in stream.result.decision.reason


def test_a_pipeline_gives_the_stream_its_contexts() -> None:
    seen: list[tuple[Context, ...]] = []

    class Reads(Oracle):
        def _score_claim(self, claim: Claim, obs: Observation) -> SignalResult:
            seen.append(obs.contexts)
            return super()._score_claim(claim, obs)

    g = Guard(
        [FunctionSignal(lambda obs: 0.9, name="fixed")],
        Policy(),
        claims=ClaimScorer([Reads()]),
    )
    passage = (Context(text="Denver won."),)

    def pipeline(question: str, attempt: object) -> TokenStream:
        return TokenStream(tokens=Source(fake_tokens(GOOD[0])), contexts=passage)

    assert "".join(g.stream(pipeline, "Who won?")) == GOOD[0]
    assert seen == [passage]


def test_a_reader_that_stops_early_closes_the_source() -> None:
    g, _ = make_guard()
    source = Source(fake_tokens(" ".join(GOOD)))
    stream = g.stream(source, "What happened?")
    next(stream)
    stream.close()
    assert source.closed and stream.result is None


def test_a_streamed_answer_is_audited_with_its_claims() -> None:
    store = InMemoryStore()
    g, _ = make_guard(store=store)
    stream = g.stream(Source(fake_tokens(f"{GOOD[0]} {FAILING[0]}")), "What happened?")
    "".join(stream)
    assert stream.result is not None
    [row] = store.decisions(stream.result.request_id)
    assert [c["action"] for c in row.metadata["claims"]["claims"]] == ["keep", "redact"]


def test_text_pieces_without_logprobs_stream_too() -> None:
    g, _ = make_guard()
    text = f"{GOOD[0]} {FAILING[0]}"
    out = "".join(g.stream(Source(fake_tokens(text), logprobs=False), "What happened?"))
    assert out == f"{GOOD[0]} [removed: a claim that was not supported]"


@pytest.mark.parametrize("seed", range(10))
def test_the_async_stream_releases_exactly_what_the_sync_one_does(seed: int) -> None:
    rng = random.Random(seed)
    text = " ".join([GOOD[0], FAILING[0], GOOD[1], GOOD[2]])
    pieces = cut(text, rng)
    g, _ = make_guard()
    expected = list(g.stream(Source(pieces), "What happened?"))

    async def main() -> list[str]:
        async_guard = g.as_async()
        stream = async_guard.astream(TokenStream(tokens=Source(pieces).aiter()), "Q?")
        out = [chunk async for chunk in stream]
        assert stream.result is not None
        assert stream.result.answer == "".join(out)
        return out

    assert asyncio.run(main()) == expected


def test_the_async_stream_takes_a_coroutine_pipeline_and_stops_on_a_gate() -> None:
    g, _ = make_guard({"claims": {"essential": "all"}})
    source = Source(fake_tokens(f"{GOOD[0]} {FAILING[0]} {GOOD[2]}"))

    async def pipeline(question: str, attempt: object) -> TokenStream:
        return TokenStream(tokens=source.aiter())

    async def main() -> str:
        return "".join([c async for c in g.as_async().astream(pipeline, "Q?")])

    out = asyncio.run(main())
    assert BAD not in out and out.endswith("I'm not confident enough to answer that.")


def test_the_buffer_waits_for_the_next_sentence_before_cutting() -> None:
    buffer = SentenceBuffer(SentenceSplitter())
    found = [buffer.push(p) for p in ["It cost $3.", "5 million", " in 2019.", " Then"]]
    assert found[:3] == [[], [], []]  # "$3." was no sentence end
    [segment] = found[3]
    assert buffer.text[slice(*segment.claim)] == "It cost $3.5 million in 2019."  # type: ignore[misc]
    [last] = buffer.close()
    assert buffer.text[slice(*last.claim)] == "Then"  # type: ignore[misc]


def test_text_a_splitter_leaves_out_is_scored_with_the_next_claim_never_released() -> (
    None
):
    class SkipsCheese:
        """Finds only the sentences without BAD, as a careless decomposition might."""

        def spans(self, text: str) -> list[tuple[int, int]]:
            found = SentenceSplitter().spans(text)
            return [(s, e) for s, e in found if BAD not in text[s:e]]

    oracle = Oracle()
    g = Guard(
        [FunctionSignal(lambda obs: 0.9, name="fixed")],
        Policy.from_dict({"thresholds": {"accept": 0.5}, "claims": {"min_kept": 0.0}}),
        claims=ClaimScorer([oracle], splitter=SkipsCheese()),
    )
    for text in (f"{GOOD[0]} {FAILING[0]} {GOOD[2]}", f"{GOOD[0]} {FAILING[0]}"):
        out = "".join(g.stream(Source(fake_tokens(text)), "What happened?"))
        assert BAD not in out and "moon" not in out
        assert out.startswith(GOOD[0])
    assert any(BAD in claim for claim in oracle.scored)  # it was scored, and failed
