"""A streaming query engine behind GuardedQueryEngine streams gated text only.

The LLM answers "Maybe Triton" with token probability 0.1 (the policy abstains);
a client that reads ``response_gen`` as the docs say must see no token of it and
must see the refusal; a confident answer streams out in its own chunks once
gated. Each test counts the refused tokens the client saw into LEAKS; the last
test prints the table.
"""

from __future__ import annotations

import math
from collections.abc import Generator
from typing import Any

import pytest
from confguard import Policy
from confguard.results import VERDICT_KEY
from confguard.signals import AverageLogprob
from llama_index.core.base.response.schema import (
    AsyncStreamingResponse,
    StreamingResponse,
)
from llama_index.core.llms import LLM
from llama_index.core.query_engine import CustomQueryEngine

from llama_index.postprocessor.confguard import GuardedQueryEngine, verdict_of
from llama_index.postprocessor.confguard.testing import LogprobMockLLM

REFUSED = "Maybe Triton"
REFUSAL = "I'm not confident enough to answer that."
LEAKS: dict[str, int] = {}


def refused_words(chunks: list[str], response: Any) -> int:
    """The refused answer's words in what a streaming client saw (verdict left out)."""
    metadata = {k: v for k, v in (response.metadata or {}).items() if k != VERDICT_KEY}
    text = " ".join([*chunks, repr(metadata), str(response.response_txt or "")])
    return text.count("Triton") + text.count("Maybe")


def leaked(path: str, chunks: list[str], response: Any) -> int:
    """Count the refused answer's words in what a client saw (and record it)."""
    LEAKS[path] = count = refused_words(chunks, response)
    return count


def guarded(engine: Any) -> GuardedQueryEngine:
    policy = Policy.from_dict({"thresholds": {"accept": 0.8}})
    return GuardedQueryEngine.from_signals(engine, [AverageLogprob()], policy)


def unsure_llm() -> LogprobMockLLM:
    return LogprobMockLLM([REFUSED], logprobs=math.log(0.1))


class TokenStreamingEngine(CustomQueryEngine):
    """Asks the LLM, then streams its answer word by word (like a real stream)."""

    llm: LLM

    def custom_query(self, query_str: str) -> StreamingResponse:
        text = self.llm.complete(query_str).text
        return StreamingResponse(_words(text))


def _words(text: str) -> Generator[str, None, None]:
    head, *rest = text.split(" ")
    yield head
    for word in rest:
        yield f" {word}"


def test_the_measure_sees_the_tokens_of_an_ungated_stream(hash_index: Any) -> None:
    inner = hash_index.as_query_engine(llm=unsure_llm(), streaming=True)
    response = inner.query("Which god is Poseidon's son?")
    assert refused_words(list(response.response_gen), response) > 0


def test_a_streaming_index_engine_leaks_0_refused_tokens(hash_index: Any) -> None:
    inner = hash_index.as_query_engine(llm=unsure_llm(), streaming=True)
    response = guarded(inner).query("Which god is Poseidon's son?")
    assert isinstance(response, StreamingResponse)
    chunks = list(response.response_gen)
    assert leaked("query(), as_query_engine(streaming=True)", chunks, response) == 0
    assert "".join(chunks) == REFUSAL
    assert len(chunks) > 1  # released as a stream, not one final chunk
    assert verdict_of(response).action == "abstain"


async def test_an_async_streaming_engine_leaks_0_refused_tokens(
    hash_index: Any,
) -> None:
    inner = hash_index.as_query_engine(llm=unsure_llm(), streaming=True)
    response = await guarded(inner).aquery("Which god is Poseidon's son?")
    assert isinstance(response, AsyncStreamingResponse)
    chunks = [chunk async for chunk in response.response_gen]
    assert leaked("aquery(), as_query_engine(streaming=True)", chunks, response) == 0
    assert "".join(chunks) == REFUSAL


def test_a_token_stream_leaks_0_refused_tokens() -> None:
    response = guarded(TokenStreamingEngine(llm=unsure_llm())).query("Son?")
    assert isinstance(response, StreamingResponse)
    chunks = list(response.response_gen)
    assert leaked("query(), a word-by-word StreamingResponse", chunks, response) == 0
    assert "".join(chunks) == REFUSAL


def test_an_accepted_answer_is_released_in_its_own_chunks() -> None:
    llm = LogprobMockLLM(["The Denver Broncos"], logprobs=-0.01)
    response = guarded(TokenStreamingEngine(llm=llm)).query("Who won?")
    assert isinstance(response, StreamingResponse)
    assert verdict_of(response).action == "accept"
    assert list(response.response_gen) == ["The", " Denver", " Broncos"]


def test_a_plain_engine_still_answers_with_a_plain_response(hash_index: Any) -> None:
    inner = hash_index.as_query_engine(llm=unsure_llm())
    response = guarded(inner).query("Which god is Poseidon's son?")
    assert not isinstance(response, StreamingResponse | AsyncStreamingResponse)
    assert response.response == REFUSAL


def test_zz_refused_tokens_leaked_per_streaming_path(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert LEAKS, "run with the whole file: the table collects the paths above"
    with capsys.disabled():
        print("\nrefused tokens leaked per streaming path (LlamaIndex)")
        for path, count in LEAKS.items():
            print(f"  {count:>3}  {path}")
    assert sum(LEAKS.values()) == 0
