"""`confguard demo`: a guarded RAG over the bundled corpus on the embedded defaults."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from confguard.embeddings.base import Embedder
from confguard.guard import Guard
from confguard.llm.base import Generator
from confguard.policy import Policy, ReviewQueueRoute
from confguard.rag import EmbeddingIndex, RAGPipeline, demo_corpus, demo_questions
from confguard.results import GuardResult
from confguard.signals import AverageLogprob, HedgingSignal, MinTokenProbability
from confguard.signals.retrieval import AnswerSupport, RetrievalSupport
from confguard.store import SQLStore

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


def demo_guard(store: SQLStore) -> Guard:
    """Token, hedging and retrieval signals under the demo policy."""
    return Guard(
        signals=[
            AverageLogprob(),
            MinTokenProbability(),
            HedgingSignal(),
            RetrievalSupport(),
            AnswerSupport(),
        ],
        policy=demo_policy(),
        store=store,
        routes={"review": ReviewQueueRoute(store)},
        store_answers=True,
    )


def demo_pipeline(
    cache_dir: Path,
    progress: Callable[[int, int], None] | None = None,
    *,
    generator: Generator | None = None,
    embedder: Embedder | None = None,
) -> RAGPipeline:
    """Retrieval over the demo corpus (MiniLM by default), Gemma 3 270M answering."""
    if embedder is None:
        from confguard.embeddings import MiniLMEmbedder

        embedder = MiniLMEmbedder()
    if generator is None:
        from confguard.llm.local import default_generator

        generator = default_generator()
    index = EmbeddingIndex.build(
        embedder, demo_corpus(), cache_dir=cache_dir, progress=progress
    )
    return RAGPipeline(generator, index)


def ask(guard: Guard, pipeline: RAGPipeline, question: DemoQuestion) -> GuardResult:
    """Run one question through the guarded pipeline."""
    return guard.run(pipeline, question.question)
