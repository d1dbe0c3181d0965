"""Retrieval: corpora, one faiss index per embedder, and RAG pipelines."""

from confguard.rag.corpus import DemoQuestion, Passage, demo_corpus, demo_questions
from confguard.rag.index import EmbeddingIndex, Hit, IndexManifest
from confguard.rag.pipeline import DEFAULT_SHOTS, RAGPipeline, Shot, completion_prompt

__all__ = [
    "DEFAULT_SHOTS",
    "DemoQuestion",
    "EmbeddingIndex",
    "Hit",
    "IndexManifest",
    "Passage",
    "RAGPipeline",
    "Shot",
    "completion_prompt",
    "demo_corpus",
    "demo_questions",
]
