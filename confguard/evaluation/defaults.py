"""The pipeline and guard `confguard eval` uses unless told otherwise: the demo's.

The demo's guarded RAG (MiniLM retrieval, Gemma 3 270M answering, token, hedging
and retrieval signals under the demo policy), with the corpus built from the
dataset's own passages. Datasets whose items each carry their own passage (the
knowledge conflicts) are answered from that passage, without retrieval.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Literal

from confguard.evaluation.datasets import Dataset
from confguard.evaluation.runner import GivenContexts, ItemPipeline, QuestionPipeline
from confguard.exceptions import ConfigurationError
from confguard.guard import Guard
from confguard.policy import Policy, ReviewQueueRoute
from confguard.signals.base import Signal
from confguard.signals.retrieval import RetrievalSupport
from confguard.store import InMemoryStore

Contexts = Literal["retrieve", "given"]
IndexProgress = Callable[[int, int], None]


def scoring_guard(signals: Sequence[Signal], policy: Policy) -> Guard:
    """A guard used only to score and decide: escalation routes are stand-ins.

    Example:
        >>> scoring_guard([AverageLogprob()], Policy()).policy.thresholds.accept
        0.8
    """
    route = policy.escalate.route
    routes = {route: ReviewQueueRoute(InMemoryStore())} if route else {}
    return Guard(signals, policy, routes=routes)


def demo_signals() -> tuple[Signal, ...]:
    """The signals of `confguard demo`."""
    from confguard.demo import demo_guard
    from confguard.store import SQLStore

    return demo_guard(SQLStore("sqlite://")).signals


def default_guard(policy: Policy | None, contexts: Contexts) -> Guard:
    """The demo's signals under `policy` (the demo policy if None).

    With given contexts there is no retrieval score to judge, so the retrieval
    signal is left out.
    """
    from confguard.demo import demo_policy

    signals = demo_signals()
    if contexts == "given":
        signals = tuple(s for s in signals if not isinstance(s, RetrievalSupport))
    return scoring_guard(signals, policy or demo_policy())


def corpus_folder(cache_dir: Path, dataset: Dataset) -> Path:
    """Where the index over this dataset's passages is cached."""
    digest = hashlib.sha256(dataset.name.encode("utf-8")).hexdigest()[:12]
    return cache_dir / "eval" / f"corpus-{digest}"


def default_pipeline(
    dataset: Dataset,
    contexts: Contexts,
    cache_dir: Path,
    progress: IndexProgress | None = None,
) -> ItemPipeline:
    """The demo's RAG over the dataset's passages, or answers from given passages.

    Example:
        >>> pipeline = default_pipeline(data, "retrieve", Path(".confguard"))
        >>> pipeline.key
        'rag-minilm-gemma-3-270m-q4_k_m-top1'
    """
    from confguard.llm.local import default_generator

    generator = default_generator()
    if contexts == "given":
        return GivenContexts(generator)
    passages = dataset.passages()
    if not passages:
        raise ConfigurationError(
            f"{dataset.name} has no passages to retrieve from; give items "
            "'contexts' or evaluate your own pipeline (--pipeline)"
        )
    from confguard.embeddings import MiniLMEmbedder
    from confguard.rag import EmbeddingIndex, RAGPipeline

    folder = corpus_folder(cache_dir, dataset)
    index = EmbeddingIndex.build(
        MiniLMEmbedder(), passages, cache_dir=folder, progress=progress
    )
    rag = RAGPipeline(generator, index)
    return QuestionPipeline(rag, key=f"rag-{index.name}-{generator.name}-top1")


__all__ = [
    "Contexts",
    "corpus_folder",
    "default_guard",
    "default_pipeline",
    "demo_signals",
    "scoring_guard",
]
