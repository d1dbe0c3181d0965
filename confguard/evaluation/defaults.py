"""The pipeline and guard `confguard eval` uses unless told otherwise: the demo's.

The demo's signals and policy (`confguard.defaults`) score the answers. The demo's
RAG answers, over a corpus built from the dataset's own passages; datasets whose
items each carry their own passage (the knowledge conflicts) are answered from
that passage, without retrieval.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

from confguard.defaults import IndexProgress, demo_policy, demo_signals, rag_pipeline
from confguard.evaluation.datasets import Dataset
from confguard.evaluation.runner import GivenContexts, ItemPipeline, QuestionPipeline
from confguard.exceptions import ConfigurationError
from confguard.guard import Guard
from confguard.policy import Policy
from confguard.routes import ReviewQueueRoute
from confguard.signals.base import Signal
from confguard.store import InMemoryStore

Contexts = Literal["retrieve", "given"]


def scoring_guard(signals: Sequence[Signal], policy: Policy) -> Guard:
    """A guard used only to score and decide: escalation routes are stand-ins.

    Example:
        >>> scoring_guard([AverageLogprob()], Policy()).policy.thresholds.accept
        0.8
    """
    route = policy.escalate.route
    routes = {route: ReviewQueueRoute(InMemoryStore())} if route else {}
    return Guard(signals, policy, routes=routes)


def default_guard(policy: Policy | None, contexts: Contexts) -> Guard:
    """The demo's signals under `policy` (the demo policy if None).

    With given contexts there is no retrieval score to judge, so the retrieval
    signal is left out.

    Example:
        >>> [s.name for s in default_guard(None, "given").signals][-1]
        'answer_support'
    """
    signals = demo_signals(retrieval=contexts == "retrieve")
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
    if contexts == "given":
        from confguard.llm.local import default_generator

        return GivenContexts(default_generator())
    passages = dataset.passages()
    if not passages:
        raise ConfigurationError(
            f"{dataset.name} has no passages to retrieve from; give items "
            "'contexts' or evaluate your own pipeline (--pipeline)"
        )
    folder = corpus_folder(cache_dir, dataset)
    rag = rag_pipeline(passages, folder, progress)
    key = f"rag-{rag.index.name}-{rag.generator.name}-top1"
    return QuestionPipeline(rag, key=key)


__all__ = [
    "Contexts",
    "corpus_folder",
    "default_guard",
    "default_pipeline",
    "scoring_guard",
]
