"""GuardedRunnable(by_sentence=True): a progressive stream, gated a sentence at a time.

The fake model streams one token per chunk with its logprob; the claim signal
reads the retriever's passage, so a sentence the passage does not support fails.
A client must never see a token of it — neither in the stream nor through
`gated_stream` over ``astream_events``.
"""

from __future__ import annotations

from typing import Any

import pytest
from langchain_confguard import GuardedRunnable, agated_stream, verdict_of
from langchain_confguard.sentences import piece_of
from langchain_confguard.testing import (
    FakeLogprobChatModel,
    FakeResponse,
    FakeRetriever,
)
from langchain_core.documents import Document
from langchain_core.messages import AIMessageChunk
from langchain_core.runnables import RunnableLambda
from lc_helpers import rag_chain

from confguard import Guard, Policy
from confguard.claims import ClaimLexicalSupport, ClaimScorer
from confguard.observation import TokenLogprob
from confguard.signals import AverageLogprob

PASSAGE = Document("Paris is the capital of France. The Seine flows through Paris.")
ANSWER = (
    "Paris is the capital of France. Paris has green cheese moons. "
    "The Seine flows through Paris."
)


def guarded(
    claims: dict[str, Any] | None = None, answer: str = ANSWER
) -> tuple[GuardedRunnable, FakeLogprobChatModel]:
    model = FakeLogprobChatModel(responses=[FakeResponse(text=answer, prob=0.95)])
    chain = rag_chain(model, FakeRetriever(documents=[PASSAGE]))
    policy = Policy.from_dict(
        {"thresholds": {"accept": 0.8}, "claims": claims or {"keep": 0.8, "flag": None}}
    )
    guard = Guard(
        [AverageLogprob()], policy, claims=ClaimScorer([ClaimLexicalSupport()])
    )
    return GuardedRunnable(bound=chain, guard=guard, by_sentence=True), model


def text_of(chunks: list[Any]) -> str:
    return "".join(c.content if isinstance(c, AIMessageChunk) else c for c in chunks)


def test_the_stream_releases_passed_sentences_and_redacts_the_failed_one() -> None:
    runnable, _ = guarded()
    chunks = list(runnable.stream("What is the capital of France?"))
    out = text_of(chunks)
    assert "cheese" not in out and "moons" not in out
    assert out == (
        "Paris is the capital of France. [removed: a claim that was not supported] "
        "The Seine flows through Paris."
    )
    verdict = verdict_of(chunks[-1])
    assert verdict is not None and verdict.action == "accept"
    assert chunks[-1].chunk_position == "last"


def test_chunks_come_one_token_at_a_time_as_the_model_gave_them() -> None:
    runnable, _ = guarded(
        answer="Paris is the capital of France. The Seine flows through Paris."
    )
    chunks = list(runnable.stream("What is the capital of France?"))
    texts = [c.content for c in chunks[:-1]]
    assert texts[:3] == ["Paris", " is", " the"]
    assert all(isinstance(c, AIMessageChunk) for c in chunks)


def test_a_failed_essential_sentence_stops_the_stream_with_the_refusal() -> None:
    runnable, _ = guarded({"keep": 0.8, "flag": None, "essential": "all"})
    out = text_of(list(runnable.stream("What is the capital of France?")))
    assert out == (
        "Paris is the capital of France.\n\nI'm not confident enough to answer that."
    )


async def test_astream_is_gated_the_same_way() -> None:
    runnable, _ = guarded()
    sync = text_of(list(runnable.stream("What is the capital of France?")))
    chunks = [c async for c in runnable.astream("What is the capital of France?")]
    assert text_of(chunks) == sync


async def test_events_through_agated_stream_show_no_token_of_a_failed_one() -> None:
    runnable, _ = guarded()
    seen: list[str] = []
    events = runnable.astream_events("What is the capital of France?", version="v2")
    async for event in agated_stream(events):
        chunk = event.get("data", {}).get("chunk")
        if isinstance(chunk, AIMessageChunk):
            seen.append(chunk.content)  # type: ignore[arg-type]
    joined = "".join(seen)
    assert "cheese" not in joined and "moons" not in joined
    assert "The Seine flows through Paris." in joined


def test_a_string_runnable_streams_strings_progressively() -> None:
    produced: list[str] = []

    def words(value: str) -> Any:
        for piece in ["Paris is big.", " The", " moon", " is", " cheese."]:
            produced.append(piece)
            yield piece

    # No passage and no logprobs: each claim has no evidence and is flagged; the
    # answer-level signal is missing (fail_closed), so the stream ends annotated.
    policy = Policy.from_dict({"thresholds": {"accept": 0.0}, "claims": {}})
    guard = Guard(
        [AverageLogprob()], policy, claims=ClaimScorer([ClaimLexicalSupport()])
    )
    runnable = GuardedRunnable(
        bound=RunnableLambda(words), guard=guard, by_sentence=True
    )
    stream = runnable.stream("Is Paris big?")
    first = next(stream)
    assert first == "Paris is big." and len(produced) == 2
    chunks = [first, *stream]
    assert all(isinstance(c, str) for c in chunks)
    assert "".join(chunks) == (
        "Paris is big. The moon is cheese.\n\n"
        "This answer may be inaccurate (confidence 0%)."
    )


def test_a_chunk_that_is_exactly_one_token_keeps_its_logprob() -> None:
    chunk = AIMessageChunk(
        content=" Paris",
        response_metadata={
            "logprobs": {
                "content": [{"token": " Paris", "logprob": -0.1, "top_logprobs": []}]
            }
        },
    )
    assert piece_of(chunk) == TokenLogprob(token=" Paris", logprob=-0.1)
    assert piece_of(AIMessageChunk(content="")) is None
    assert piece_of(" Lyon") == " Lyon"


def test_without_by_sentence_the_whole_answer_is_still_held_back() -> None:
    runnable, _ = guarded()
    plain = GuardedRunnable(bound=runnable.bound, guard=runnable.guard)
    out = text_of(list(plain.stream("What is the capital of France?")))
    assert "cheese" not in out  # redacted by the claim policy, whole answer at once
    assert out.startswith("Paris is the capital of France. [removed:")


def test_a_raising_policy_raises_after_the_released_sentences() -> None:
    from confguard.exceptions import LowConfidenceError

    model = FakeLogprobChatModel(responses=[FakeResponse(text=ANSWER, prob=0.95)])
    chain = rag_chain(model, FakeRetriever(documents=[PASSAGE]))
    policy = Policy.from_dict(
        {
            "thresholds": {"accept": 0.8},
            "claims": {"keep": 0.8, "flag": None, "essential": "all"},
            "abstain": {"raise_error": True},
        }
    )
    guard = Guard(
        [AverageLogprob()], policy, claims=ClaimScorer([ClaimLexicalSupport()])
    )
    runnable = GuardedRunnable(bound=chain, guard=guard, by_sentence=True)
    seen: list[Any] = []
    with pytest.raises(LowConfidenceError) as raised:
        for chunk in runnable.stream("What is the capital of France?"):
            seen.append(chunk)
    assert raised.value.decision.action == "abstain"
    assert text_of(seen) == "Paris is the capital of France."
