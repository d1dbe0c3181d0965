"""Mixture-Embedding RAG: z-scores per embedder, pooling, one generation."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pytest

from confguard.llm.base import Completion
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
from confguard.results import Attempt, RetryStrategy


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
        self.prompts: list[str] = []

    def generate(self, prompt: str, **_: object) -> tuple[Completion, ...]:
        self.prompts.append(prompt)
        last = prompt.rsplit("Context: ", 1)[1].split("\n", 1)[0]
        return (Completion(text=f" {last}\n"),)

    async def agenerate(self, prompt: str, **kwargs: object) -> tuple[Completion, ...]:
        return self.generate(prompt, **kwargs)


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
    obs = MixtureRAGPipeline(generator, indices())(QUESTION)
    assert obs.answer == "gamma"
    assert len(generator.prompts) == 1
    assert [c.source for c in obs.contexts] == ["gamma"]
    assert obs.contexts[0].retriever == "sharp"
    assert obs.contexts[0].score == pytest.approx(0.507, abs=1e-3)
    assert obs.metadata["pooled"][0]["z"] == pytest.approx(1.41, abs=0.01)
    assert obs.metadata["method"] == "mixture_rag"
    assert obs.metadata["pooled"][0]["retrievers"] == ["sharp"]


def test_a_retry_strategy_can_widen_the_pool() -> None:
    generator = EchoGenerator()
    attempt = Attempt(
        number=2, strategy=RetryStrategy(name="more", params={"top_k": 2})
    )
    obs = MixtureRAGPipeline(generator, indices())(QUESTION, attempt)
    assert [c.source for c in obs.contexts] == ["gamma", "alpha"]
    assert obs.metadata["attempt"] == 2


async def test_acall_gives_the_same_observation_as_a_call() -> None:
    rag = MixtureRAGPipeline(EchoGenerator(), indices(), top_k=2)
    assert await rag.acall(QUESTION) == rag(QUESTION)
