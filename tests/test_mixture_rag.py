"""Mixture-Embedding RAG: z-scores per embedder, pooling, one generation."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pytest

from confguard.exceptions import UnknownComponentError
from confguard.llm.base import Completion, GenerationRequest
from confguard.rag import (
    EmbeddingIndex,
    Hit,
    MixtureRAGPipeline,
    Passage,
    Retrieval,
    SimilarityStats,
    StandardisedHit,
    mix,
    pool,
    standardise,
    zscore,
)
from confguard.results import Attempt
from confguard.strategies import more_context, other_embedder, temperature


def hit(passage: str, score: float, retriever: str, rank: int = 0) -> Hit:
    return Hit(
        passage=Passage(id=passage, text=f"text of {passage}"),
        score=score,
        rank=rank,
        retriever=retriever,
    )


def retrieval(
    retriever: str, scores: Mapping[str, float], mean: float, std: float
) -> Retrieval:
    hits = tuple(hit(p, s, retriever, i) for i, (p, s) in enumerate(scores.items()))
    return Retrieval(
        retriever=retriever, hits=hits, stats=SimilarityStats(mean=mean, std=std)
    )


def test_zscore_measures_distance_from_the_mean_in_standard_deviations() -> None:
    assert zscore(0.8, SimilarityStats(mean=0.2, std=0.3)) == pytest.approx(2.0)
    assert zscore(0.1, SimilarityStats(mean=0.2, std=0.05)) == pytest.approx(-2.0)


def test_zscore_is_zero_when_an_embedder_scores_every_passage_alike() -> None:
    assert zscore(0.7, SimilarityStats(mean=0.7, std=0.0)) == 0.0


def test_standardise_uses_each_embedders_own_statistics() -> None:
    r = retrieval("minilm", {"a": 0.9, "b": 0.8}, mean=0.5, std=0.2)
    assert [s.z for s in standardise(r)] == pytest.approx([2.0, 1.5])


def test_standardise_needs_similarity_statistics() -> None:
    bare = Retrieval(retriever="minilm", hits=(hit("a", 0.9, "minilm"),))
    with pytest.raises(ValueError, match="no similarity statistics"):
        standardise(bare)


def test_pooling_lets_a_low_cosine_embedder_win_when_its_hit_is_more_exceptional() -> (
    None
):
    # Raw cosines favour minilm (0.9 > 0.3), but e5's 0.3 is 4 sigma above its mean.
    minilm = retrieval("minilm", {"a": 0.9, "b": 0.8}, mean=0.5, std=0.2)  # z 2, 1.5
    e5 = retrieval("e5", {"c": 0.3, "d": 0.25}, mean=0.1, std=0.05)  # z 4, 3
    pooled = mix([minilm, e5], k=3)
    assert [p.hit.passage.id for p in pooled] == ["c", "d", "a"]
    assert [p.z for p in pooled] == pytest.approx([4.0, 3.0, 2.0])


def test_pooling_merges_a_passage_found_twice_keeping_its_best_z() -> None:
    minilm = retrieval("minilm", {"a": 0.9, "b": 0.8}, mean=0.5, std=0.2)  # z 2, 1.5
    e5 = retrieval("e5", {"b": 0.3, "c": 0.15}, mean=0.1, std=0.05)  # z 4, 1
    pooled = mix([minilm, e5], k=4)
    assert [p.hit.passage.id for p in pooled] == ["b", "a", "c"]
    b = pooled[0]
    assert b.z == pytest.approx(4.0)
    assert b.retrievers == ("minilm", "e5")
    assert b.hit.retriever == "e5"
    assert b.to_context().score == pytest.approx(0.3)


def test_pooling_breaks_ties_by_arrival_order_and_keeps_top_k() -> None:
    items = [
        StandardisedHit(hit=hit("x", 0.5, "first"), z=1.0),
        StandardisedHit(hit=hit("y", 0.5, "second"), z=1.0),
        StandardisedHit(hit=hit("z", 0.5, "second"), z=0.5),
    ]
    assert [p.hit.passage.id for p in pool(items, k=2)] == ["x", "y"]
    with pytest.raises(ValueError, match="k must be >= 1"):
        pool(items, k=0)


# --- the pipeline, with fakes ---------------------------------------------------


class TableEmbedder:
    def __init__(self, name: str, table: Mapping[str, Sequence[float]]) -> None:
        self.name, self.dim, self.table = name, 2, table

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        return np.array([self.table[t] for t in texts], dtype=np.float32)

    def embed_query(self, text: str) -> np.ndarray:
        return np.array(self.table[text], dtype=np.float32)


class EchoGenerator:
    """Answers with the last passage of the prompt; records every prompt."""

    name = "echo"

    def __init__(self) -> None:
        self.requests: list[GenerationRequest] = []

    @property
    def prompts(self) -> list[str]:
        return [r.prompt for r in self.requests]

    def generate(self, request: GenerationRequest) -> tuple[Completion, ...]:
        self.requests.append(request)
        last = request.prompt.rsplit("Context: ", 1)[1].split("\n", 1)[0]
        return (Completion(text=f" {last}\n", finish_reason="length"),)

    async def agenerate(self, request: GenerationRequest) -> tuple[Completion, ...]:
        return self.generate(request)


PASSAGES = tuple(Passage(id=p, text=p) for p in ("alpha", "beta", "gamma"))
QUESTION = "which?"


def indices() -> list[EmbeddingIndex]:
    # "wide" scores everything alike: alpha wins on raw cosine (0.995) but only
    # 1.16 sigma above its mean; "sharp" finds gamma at cosine 0.507, 1.41 sigma up.
    wide = {"alpha": [1.0, 0.1], "beta": [1.0, 0.15], "gamma": [1.0, 0.2]}
    sharp = {"alpha": [0.0, 1.0], "beta": [0.01, 1.0], "gamma": [1.0, 1.7]}
    query = {QUESTION: [1.0, 0.0]}
    return [
        EmbeddingIndex.build(TableEmbedder("wide", {**wide, **query}), PASSAGES),
        EmbeddingIndex.build(TableEmbedder("sharp", {**sharp, **query}), PASSAGES),
    ]


def test_the_pipeline_answers_from_the_pooled_top_passage() -> None:
    generator = EchoGenerator()
    result = MixtureRAGPipeline(generator, indices()).run(QUESTION)
    obs = result.observation
    assert obs.answer == result.answer == "gamma"
    assert len(generator.prompts) == 1
    assert [c.source for c in obs.contexts] == ["gamma"]
    assert obs.contexts[0].retriever == "sharp"
    assert obs.contexts[0].score == pytest.approx(0.507, abs=1e-3)
    assert result.pooled[0].z == pytest.approx(1.41, abs=0.01)
    assert result.pooled[0].retrievers == ("sharp",)
    assert (obs.pipeline, obs.attempt, obs.finish_reason) == (
        "mixture_rag",
        1,
        "length",
    )
    assert obs.metadata == {}


def test_a_call_returns_the_runs_observation() -> None:
    rag = MixtureRAGPipeline(EchoGenerator(), indices())
    assert rag(QUESTION) == rag.run(QUESTION).observation


def test_a_retry_strategy_can_widen_the_pool() -> None:
    generator = EchoGenerator()
    attempt = Attempt(number=2, strategy=more_context(2))
    obs = MixtureRAGPipeline(generator, indices())(QUESTION, attempt)
    assert [c.source for c in obs.contexts] == ["gamma", "alpha"]
    assert obs.attempt == 2


def test_another_embedder_strategy_pools_that_embedders_hits_alone() -> None:
    attempt = Attempt(number=2, strategy=other_embedder("wide"))
    result = MixtureRAGPipeline(EchoGenerator(), indices()).run(QUESTION, attempt)
    assert [p.retrievers for p in result.pooled] == [("wide",)]
    assert result.answer == "alpha"


def test_an_unknown_embedder_is_refused() -> None:
    attempt = Attempt(number=2, strategy=other_embedder("e5"))
    with pytest.raises(UnknownComponentError, match="known: sharp, wide"):
        MixtureRAGPipeline(EchoGenerator(), indices())(QUESTION, attempt)


def test_a_temperature_strategy_changes_only_the_request_temperature() -> None:
    generator = EchoGenerator()
    rag = MixtureRAGPipeline(generator, indices())
    rag(QUESTION, Attempt(number=2, strategy=temperature(0.7)))
    [request] = generator.requests
    assert (request.temperature, request.max_tokens, request.stop) == (
        0.7,
        24,
        ("\n",),
    )


async def test_acall_gives_the_same_observation_as_a_call() -> None:
    rag = MixtureRAGPipeline(EchoGenerator(), indices(), top_k=2)
    assert await rag.acall(QUESTION) == rag(QUESTION)
