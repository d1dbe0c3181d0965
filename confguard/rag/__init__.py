"""Retrieval: corpora, one faiss index per embedder, and RAG pipelines.

Single-embedder RAG (`RAGPipeline`), the Mixture-Embedding baseline
(`MixtureRAGPipeline`) and Confident RAG (`ConfidentRAGPipeline`, one answer per
embedder, the most confident kept). The prompt formats (`completion_prompt`,
`DEFAULT_SHOTS`, `Shot`) live in `confguard.prompts` and are re-exported here.
"""

from confguard.prompts import DEFAULT_SHOTS, Shot, completion_prompt
from confguard.rag.confident import (
    ConfidentRAGPipeline,
    ConfidentRAGResult,
    RetrievedAnswer,
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
    MixtureRAGResult,
    PooledHit,
    StandardisedHit,
    mix,
    pool,
    standardise,
    zscore,
)
from confguard.rag.multi import ANSWER_REQUEST, AttemptPlan, Retrieval, retrieve_each
from confguard.rag.pipeline import RAGPipeline

__all__ = [
    "ANSWER_REQUEST",
    "DEFAULT_SHOTS",
    "AttemptPlan",
    "ConfidentRAGPipeline",
    "ConfidentRAGResult",
    "DemoQuestion",
    "EmbeddingIndex",
    "Hit",
    "IndexManifest",
    "MixtureRAGPipeline",
    "MixtureRAGResult",
    "Passage",
    "PooledHit",
    "RAGPipeline",
    "Retrieval",
    "RetrievedAnswer",
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
