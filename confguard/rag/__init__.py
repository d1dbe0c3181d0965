"""Retrieval: corpora, one faiss index per embedder, and RAG pipelines.

Single-embedder RAG (`RAGPipeline`), the Mixture-Embedding baseline
(`MixtureRAGPipeline`) and Confident RAG (`ConfidentRAGPipeline`, one answer per
embedder, the most confident kept).
"""

from confguard.rag.confident import (
    Candidate,
    ConfidentRAGPipeline,
    ConfidentRAGResult,
    ascore_candidates,
    confident_observation,
    confident_result,
    score_candidates,
    select_candidate,
)
from confguard.rag.corpus import DemoQuestion, Passage, demo_corpus, demo_questions
from confguard.rag.index import (
    EmbeddingIndex,
    Hit,
    IndexManifest,
    SimilarityStats,
    index_folder,
    progress_bar,
)
from confguard.rag.mixture import (
    MixtureRAGPipeline,
    PooledHit,
    StandardisedHit,
    mix,
    pool,
    standardise,
    zscore,
)
from confguard.rag.multi import GenerationSettings, Retrieval, retrieve_each
from confguard.rag.pipeline import DEFAULT_SHOTS, RAGPipeline, Shot, completion_prompt

__all__ = [
    "DEFAULT_SHOTS",
    "Candidate",
    "ConfidentRAGPipeline",
    "ConfidentRAGResult",
    "DemoQuestion",
    "EmbeddingIndex",
    "GenerationSettings",
    "Hit",
    "IndexManifest",
    "MixtureRAGPipeline",
    "Passage",
    "PooledHit",
    "RAGPipeline",
    "Retrieval",
    "Shot",
    "SimilarityStats",
    "StandardisedHit",
    "ascore_candidates",
    "completion_prompt",
    "confident_observation",
    "confident_result",
    "demo_corpus",
    "demo_questions",
    "index_folder",
    "mix",
    "pool",
    "progress_bar",
    "retrieve_each",
    "score_candidates",
    "select_candidate",
    "standardise",
    "zscore",
]
