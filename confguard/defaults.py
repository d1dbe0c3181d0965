"""The demo's defaults, defined once: its questions, signals, policy, guard and RAG.

`confguard demo` runs them over the bundled corpus; `confguard eval` scores with the
same signals and policy, and answers with the same RAG over a dataset's passages.

Example:
    >>> from confguard.defaults import demo_guard, demo_pipeline
    >>> guard = demo_guard(SQLStore("sqlite:///audit.sqlite", store_answers=True))
    >>> result = guard.run(demo_pipeline(Path(".confguard")), "Who won Super Bowl 50?")
    >>> result.decision.action
    'accept'
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

from confguard.embeddings.base import Embedder
from confguard.guard import Guard
from confguard.llm.base import Generator
from confguard.policy import Policy
from confguard.rag import (
    EmbeddingIndex,
    Passage,
    RAGPipeline,
    demo_corpus,
    demo_questions,
)
from confguard.routes import ReviewQueueRoute
from confguard.signals import AverageLogprob, HedgingSignal, MinTokenProbability
from confguard.signals.base import Signal
from confguard.signals.retrieval import AnswerSupport, RetrievalSupport
from confguard.store.base import AuditStore

if TYPE_CHECKING:  # built only when a preset runs
    from confguard.presets.build import PresetPipeline

IndexProgress = Callable[[int, int], None]
"""Called as progress(done, total) while passages are embedded."""

# Six questions the corpus answers and four it does not: the guard must tell them apart
# from evidence alone (retrieval, answer support, token probabilities, hedging).
IN_CORPUS_IDS = (
    "56be4db0acb8001400a502ec",  # Super Bowl 50: AFC team
    "5733a5f54776f41900660f45",  # Warsaw: Curie's first
    "5726642f5951b619008f7157",  # Newcastle: miles south of Edinburgh
    "5733cf61d058e614000b62e9",  # French and Indian War: when
    "572970c11d04691400779463",  # Prime numbers: how many
    "572647935951b619008f6ec9",  # Black Death: enzootic
)
OFF_CORPUS = (
    "What is the name of the largest moon of Neptune?",
    "Who composed the opera The Magic Flute?",
    "At what temperature in kelvin does liquid nitrogen boil?",
    "Which company makes the PlayStation 5 console?",
)


@dataclass(frozen=True)
class DemoQuestion:
    """A question to ask, with the corpus's gold answers when it has them."""

    question: str
    gold: tuple[str, ...] = ()


def default_questions() -> list[DemoQuestion]:
    """The demo's ten questions: six from the corpus, four from outside it."""
    by_id = {q.id: q for q in demo_questions()}
    inside = [DemoQuestion(by_id[i].question, by_id[i].answers) for i in IN_CORPUS_IDS]
    return inside + [DemoQuestion(q) for q in OFF_CORPUS]


def demo_policy() -> Policy:
    """The demo's policy, kept as YAML beside the corpus."""
    text = resources.files("confguard.data").joinpath("demo_policy.yaml").read_text()
    return Policy.from_yaml(text)


def demo_signals(*, retrieval: bool = True) -> tuple[Signal, ...]:
    """Token, hedging, retrieval and answer-support signals, freshly built.

    With ``retrieval=False`` the retrieval score is left out: answers from given
    passages have none to judge.

    Example:
        >>> [s.name for s in demo_signals(retrieval=False)]
        ['avg_logprob', 'min_token_prob', 'hedging', 'answer_support']
    """
    signals: list[Signal] = [AverageLogprob(), MinTokenProbability(), HedgingSignal()]
    if retrieval:
        signals.append(RetrievalSupport())
    return (*signals, AnswerSupport())


def demo_guard(store: AuditStore) -> Guard:
    """The demo's signals under the demo policy; escalations wait in `store`'s queue."""
    return Guard(
        signals=list(demo_signals()),
        policy=demo_policy(),
        store=store,
        routes={"review": ReviewQueueRoute(store)},
    )


DEFAULT_PRESET = "balanced"
"""The preset `confguard demo` runs unless told otherwise."""


def preset_demo(
    source: str | Path,
    cache_dir: Path,
    store: AuditStore,
    progress: IndexProgress | None = None,
    *,
    generator: Generator | None = None,
    embedder_for: Callable[[str], Embedder] | None = None,
) -> tuple[Guard, PresetPipeline]:
    """A preset's (or config file's) guard and pipeline over the bundled corpus.

    Escalations wait in `store`'s review queue and every decision is recorded
    there. The embedded models load only when not given.

    Example:
        >>> guard, rag = preset_demo("balanced", Path(".confguard"), store)
        >>> guard.run(rag, "Who won Super Bowl 50?").decision.action
        'accept'
    """
    from confguard.config import load
    from confguard.presets import build_pipeline, preset_guard

    if generator is None:
        from confguard.llm.local import default_generator

        generator = default_generator()
    guard = preset_guard(source, generator=generator, store=store)
    pipeline = build_pipeline(
        load(source).config,
        demo_corpus(),
        cache_dir,
        generator,
        progress,
        **({} if embedder_for is None else {"embedder_for": embedder_for}),
    )
    return guard, pipeline


def rag_pipeline(
    passages: Sequence[Passage],
    cache_dir: Path,
    progress: IndexProgress | None = None,
    *,
    generator: Generator | None = None,
    embedder: Embedder | None = None,
) -> RAGPipeline:
    """The demo's RAG over `passages`: MiniLM retrieval, Gemma 3 270M answering.

    The index is cached in `cache_dir`; the models load only when not given.

    Example:
        >>> rag = rag_pipeline(dataset.passages(), Path(".confguard/eval/corpus"))
        >>> rag("Who won Super Bowl 50?").answer
        'Denver Broncos'
    """
    if embedder is None:
        from confguard.embeddings import MiniLMEmbedder

        embedder = MiniLMEmbedder()
    if generator is None:
        from confguard.llm.local import default_generator

        generator = default_generator()
    index = EmbeddingIndex.build(
        embedder, passages, cache_dir=cache_dir, progress=progress
    )
    return RAGPipeline(generator, index)


def demo_pipeline(
    cache_dir: Path,
    progress: IndexProgress | None = None,
    *,
    generator: Generator | None = None,
    embedder: Embedder | None = None,
) -> RAGPipeline:
    """The demo's RAG over the bundled corpus (see `rag_pipeline`)."""
    return rag_pipeline(
        demo_corpus(), cache_dir, progress, generator=generator, embedder=embedder
    )


__all__ = [
    "DEFAULT_PRESET",
    "IN_CORPUS_IDS",
    "OFF_CORPUS",
    "DemoQuestion",
    "IndexProgress",
    "default_questions",
    "demo_guard",
    "demo_pipeline",
    "demo_policy",
    "demo_signals",
    "preset_demo",
    "rag_pipeline",
]
