"""The fakes other tests build on: FakeGenerator and FakeEmbedder."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from confguard.embeddings import Embedder
from confguard.exceptions import GenerationError
from confguard.llm import ContinuationScorer, Generator
from confguard.llm.base import GenerationRequest, ScoringRequest
from confguard.testing import FakeEmbedder, FakeGenerator, fake_tokens


def ask(prompt: str, **settings: Any) -> GenerationRequest:
    return GenerationRequest(prompt=prompt, **settings)


def scoring(prompt: str, continuation: str) -> ScoringRequest:
    return ScoringRequest(prompt=prompt, continuation=continuation)


def test_fake_tokens_attach_leading_spaces_to_words() -> None:
    assert fake_tokens(" The Eiffel  Tower.") == [" The", " Eiffel", "  Tower."]


def test_fake_generator_satisfies_both_protocols() -> None:
    gen = FakeGenerator()
    assert isinstance(gen, Generator)
    assert isinstance(gen, ContinuationScorer)


def test_responses_are_served_in_order_and_the_last_repeats() -> None:
    gen = FakeGenerator(["a", "b"])
    texts = [c.text for _ in range(3) for c in gen.generate(ask("q"))]
    assert texts == ["a", "b", "b"]


def test_n_completions_draw_consecutive_responses() -> None:
    gen = FakeGenerator(["a", "b", "c"])
    assert [c.text for c in gen.generate(ask("q", n=2))] == ["a", "b"]


def test_a_function_of_the_prompt_computes_the_response() -> None:
    gen = FakeGenerator(lambda prompt: prompt.upper())
    assert gen.generate(ask("paris"))[0].text == "PARIS"


def test_every_call_is_recorded_with_its_arguments() -> None:
    gen = FakeGenerator(["x"])
    gen.generate(ask("q1", temperature=0.7, stop=("\n",), seed=3, top_k=2))
    gen.generate(ask("q2"))
    assert gen.call_count == 2
    assert gen.calls[0] == GenerationRequest(
        prompt="q1",
        n=1,
        temperature=0.7,
        max_tokens=64,
        stop=("\n",),
        seed=3,
        top_k=2,
    )
    assert gen.calls[1].prompt == "q2"


def test_one_logprob_applies_to_every_token() -> None:
    [c] = FakeGenerator(["Paris is big"], logprobs=-0.5).generate(ask("q"))
    assert [t.token for t in c.logprobs or ()] == ["Paris", " is", " big"]
    assert [t.logprob for t in c.logprobs or ()] == [-0.5, -0.5, -0.5]


def test_a_logprob_list_is_per_position_and_its_last_value_repeats() -> None:
    [c] = FakeGenerator(["a b c"], logprobs=[-1.0, -2.0]).generate(ask("q"))
    assert [t.logprob for t in c.logprobs or ()] == [-1.0, -2.0, -2.0]


def test_a_logprob_function_sees_the_completion_text() -> None:
    gen = FakeGenerator(
        ["sure", "maybe"], logprobs=lambda t: -0.1 if t == "sure" else -3
    )
    first, second = gen.generate(ask("q", n=2))
    assert first.logprobs is not None and first.logprobs[0].logprob == -0.1
    assert second.logprobs is not None and second.logprobs[0].logprob == -3.0


def test_no_logprobs_means_a_model_that_exposes_none() -> None:
    [c] = FakeGenerator(["Paris"], logprobs=None).generate(ask("q"))
    assert c.logprobs is None


def test_a_request_without_logprobs_gets_none() -> None:
    [c] = FakeGenerator(["Paris"], logprobs=-0.1).generate(ask("q", logprobs=False))
    assert (c.text, c.logprobs, c.completion_tokens) == ("Paris", None, 1)


def test_top_logprobs_list_the_token_first_then_alternatives_sharing_the_rest() -> None:
    [c] = FakeGenerator(["Paris"], logprobs=math.log(0.7)).generate(ask("q", top_k=4))
    assert c.logprobs is not None
    top = c.logprobs[0].top_logprobs
    assert [t.token for t in top] == ["Paris", "<alt1>", "<alt2>", "<alt3>"]
    # The remaining 0.3 is split three ways: 0.1 each.
    assert [round(math.exp(t.logprob), 9) for t in top] == [0.7, 0.1, 0.1, 0.1]


def test_a_certain_token_has_no_alternatives() -> None:
    [c] = FakeGenerator(["Paris"], logprobs=0.0).generate(ask("q", top_k=5))
    assert c.logprobs is not None
    assert [t.token for t in c.logprobs[0].top_logprobs] == ["Paris"]


def test_stop_strings_cut_the_text_at_the_first_stop() -> None:
    [c] = FakeGenerator(["Paris\nQuestion: next"]).generate(ask("q", stop=("\n", "Q")))
    assert (c.text, c.finish_reason) == ("Paris", "stop")


def test_max_tokens_truncates_and_reports_length() -> None:
    [c] = FakeGenerator(["one two three"]).generate(ask("q", max_tokens=2))
    assert (c.text, c.finish_reason, c.completion_tokens) == ("one two", "length", 2)


def test_token_counts_use_the_fake_tokenisation() -> None:
    [c] = FakeGenerator(["one two"]).generate(ask("a b c"))
    assert (c.prompt_tokens, c.completion_tokens) == (3, 2)


async def test_agenerate_returns_what_generate_would_and_is_counted() -> None:
    gen = FakeGenerator(["a", "b"])
    [c] = await gen.agenerate(ask("q", top_k=1))
    assert c.text == "a"
    assert gen.calls[0].top_k == 1


def test_score_continuation_uses_the_logprob_spec_on_the_continuation() -> None:
    gen = FakeGenerator(logprobs=lambda t: -2.0 if "Lyon" in t else -0.2)
    assert [t.logprob for t in gen.score_continuation(scoring("q", " Paris"))] == [-0.2]
    assert [t.logprob for t in gen.score_continuation(scoring("q", " Lyon x"))] == [
        -2.0,
        -2.0,
    ]
    assert gen.scored == [scoring("q", " Paris"), scoring("q", " Lyon x")]


async def test_ascore_continuation_matches_the_sync_version() -> None:
    gen = FakeGenerator(logprobs=-1.0)
    assert await gen.ascore_continuation(scoring("q", "a b")) == gen.score_continuation(
        scoring("q", "a b")
    )


def test_score_continuation_without_logprobs_is_an_error() -> None:
    with pytest.raises(GenerationError, match="no logprobs"):
        FakeGenerator(logprobs=None).score_continuation(scoring("q", "a"))


def test_an_empty_response_list_is_rejected() -> None:
    with pytest.raises(ValueError, match="at least one response"):
        FakeGenerator([])


# --- FakeEmbedder ------------------------------------------------------------------


def test_fake_embedder_satisfies_the_embedder_protocol() -> None:
    assert isinstance(FakeEmbedder(), Embedder)


def test_fake_embeddings_are_unit_float32_rows() -> None:
    vectors = FakeEmbedder(dim=16).embed_documents(["a b", "c"])
    assert vectors.shape == (2, 16)
    assert vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0)


def test_word_order_and_case_do_not_matter() -> None:
    e = FakeEmbedder()
    assert np.allclose(e.embed_query("Red apple"), e.embed_query("apple red"))


def test_fake_embeddings_do_not_depend_on_the_process_hash_seed() -> None:
    # blake2b, not Python's salted hash(): "paris" always lands at +1 in slot 6 of 8.
    expected = np.array([0, 0, 0, 0, 0, 0, 1, 0], dtype=np.float32)
    assert np.array_equal(FakeEmbedder(dim=8).embed_query("paris"), expected)
    assert np.array_equal(FakeEmbedder(dim=8).embed_query("PARIS"), expected)


def test_shared_words_rank_a_passage_above_an_unrelated_one() -> None:
    e = FakeEmbedder(dim=256)
    docs = e.embed_documents(["the eiffel tower is in paris", "plants use sunlight"])
    scores = docs @ e.embed_query("where is the eiffel tower")
    assert scores[0] > scores[1]


def test_a_text_without_words_embeds_to_zero() -> None:
    assert not FakeEmbedder().embed_query("?!").any()


def test_progress_is_reported_after_each_batch() -> None:
    seen: list[tuple[int, int]] = []
    FakeEmbedder(batch_size=2).embed_documents(
        ["a", "b", "c"], progress=lambda d, n: seen.append((d, n))
    )
    assert seen == [(2, 3), (3, 3)]


async def test_async_twins_match_the_sync_results() -> None:
    e = FakeEmbedder()
    assert np.array_equal(await e.aembed_documents(["x y"]), e.embed_documents(["x y"]))
    assert np.array_equal(await e.aembed_query("x"), e.embed_query("x"))
