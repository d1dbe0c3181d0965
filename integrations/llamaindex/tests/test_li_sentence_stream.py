"""GuardedQueryEngine(by_sentence=True): the answer streams a sentence at a time.

A streaming index engine answers three sentences, one of them unsupported by the
retrieved passage; the client reading ``response_gen`` must see the others as
they pass and never a token of the unsupported one.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any, ClassVar

from confguard import Guard, Policy
from confguard.claims import ClaimLexicalSupport, ClaimScorer
from confguard.results import VERDICT_KEY
from confguard.signals import AnswerSupport, AverageLogprob
from li_fakes import PASSAGES
from llama_index.core.base.response.schema import (
    AsyncStreamingResponse,
    StreamingResponse,
)
from llama_index.core.query_engine import CustomQueryEngine

from llama_index.postprocessor.confguard import GuardedQueryEngine, verdict_of
from llama_index.postprocessor.confguard.testing import LogprobMockLLM

ANSWER = (
    "The Denver Broncos won Super Bowl 50. Their mascot is a purple cheese. "
    "They defeated the Carolina Panthers."
)
NOTE = "[removed: a claim that was not supported]"


def engine(index: Any, claims: dict[str, Any] | None = None) -> GuardedQueryEngine:
    llm = LogprobMockLLM([ANSWER], logprobs=-0.01)
    inner = index.as_query_engine(llm=llm, streaming=True, similarity_top_k=1)
    # LlamaIndex streams text deltas without logprobs: the answer-level signal is
    # one that reads the passages.
    policy = Policy.from_dict(
        {"thresholds": {"accept": 0.5}, "claims": claims or {"keep": 0.7, "flag": None}}
    )
    return GuardedQueryEngine.from_signals(
        inner,
        [AnswerSupport()],
        policy,
        by_sentence=True,
        claims=ClaimScorer([ClaimLexicalSupport()]),
    )


def test_the_stream_redacts_the_unsupported_sentence(hash_index: Any) -> None:
    response = engine(hash_index).query("Who won Super Bowl 50?")
    assert isinstance(response, StreamingResponse)
    chunks = list(response.response_gen)
    out = "".join(chunks)
    assert "cheese" not in out and "purple" not in out and "mascot" not in out
    assert out == (
        f"The Denver Broncos won Super Bowl 50. {NOTE} "
        "They defeated the Carolina Panthers."
    )
    assert len(chunks) > 3  # progressive, not one final chunk
    verdict = verdict_of(response)
    assert verdict.action == "accept" and verdict.answer == out
    assert response.source_nodes[0].node.get_content() == PASSAGES["broncos"]


def test_an_essential_failure_stops_the_stream_with_the_refusal(
    hash_index: Any,
) -> None:
    response = engine(hash_index, {"keep": 0.7, "flag": None, "essential": "all"})
    streamed = response.query("Who won Super Bowl 50?")
    out = "".join(streamed.response_gen)  # type: ignore[union-attr]
    assert out == (
        "The Denver Broncos won Super Bowl 50.\n\n"
        "I'm not confident enough to answer that."
    )
    assert verdict_of(streamed).action == "abstain"


async def test_aquery_streams_the_same_gated_text(hash_index: Any) -> None:
    guarded = engine(hash_index)
    expected = "".join(guarded.query("Who won Super Bowl 50?").response_gen)  # type: ignore[union-attr]
    response = await guarded.aquery("Who won Super Bowl 50?")
    assert isinstance(response, AsyncStreamingResponse)
    chunks = [chunk async for chunk in response.response_gen]
    assert "".join(chunks) == expected
    assert response.metadata is not None and VERDICT_KEY in response.metadata


class Sentences(CustomQueryEngine):
    """Streams three sentences, counting how many pieces it produced."""

    produced: ClassVar[list[str]] = []

    def custom_query(self, query_str: str) -> StreamingResponse:
        return StreamingResponse(self._gen())

    def _gen(self) -> Generator[str, None, None]:
        for piece in ["Warsaw is", " in Poland.", " It", " is big."]:
            self.produced.append(piece)
            yield piece


def test_the_first_sentence_comes_before_the_engine_has_finished() -> None:
    inner = Sentences()
    policy = Policy.from_dict({"thresholds": {"accept": 0.0}, "claims": {}})
    guard = Guard(
        [AverageLogprob()], policy, claims=ClaimScorer([ClaimLexicalSupport()])
    )
    response = GuardedQueryEngine(inner, guard, by_sentence=True).query("Where?")
    stream = iter(response.response_gen)  # type: ignore[union-attr]
    assert "".join([next(stream), next(stream)]) == "Warsaw is in Poland."
    assert len(inner.produced) == 3
    assert VERDICT_KEY not in (response.metadata or {})  # decided at the end
    rest = "".join(stream)
    assert rest.startswith(" It is big.")
    assert VERDICT_KEY in (response.metadata or {})
