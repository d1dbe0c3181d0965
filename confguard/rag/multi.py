"""Shared steps of the multi-embedder pipelines: parallel retrieval and generation."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

from pydantic import BaseModel, ConfigDict

from confguard.exceptions import ConfigurationError
from confguard.llm.base import Completion, Generator
from confguard.rag.index import EmbeddingIndex, Hit, SimilarityStats
from confguard.results import Attempt


class Retrieval(BaseModel):
    """What one embedder's index returned for a question."""

    model_config = ConfigDict(frozen=True)

    retriever: str
    hits: tuple[Hit, ...]
    stats: SimilarityStats | None = None
    """The query's similarity distribution over the corpus (for z-scores)."""


class GenerationSettings(BaseModel):
    """How each answer is generated: the same for every candidate."""

    model_config = ConfigDict(frozen=True)

    max_tokens: int = 24
    temperature: float = 0.0
    top_logprobs: int = 5


def check_indices(indices: Sequence[EmbeddingIndex]) -> tuple[EmbeddingIndex, ...]:
    """The indices as a tuple; raises if there are none or two share a name."""
    if not indices:
        raise ConfigurationError("a multi-embedding pipeline needs at least one index")
    names = [index.name for index in indices]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ConfigurationError(
            f"every index needs its own embedder name; repeated: {duplicates}"
        )
    return tuple(indices)


def retrieve_one(
    index: EmbeddingIndex, question: str, k: int, with_stats: bool = False
) -> Retrieval:
    """Embed the question once, then search (and optionally measure) one index."""
    vector = index.embed_query(question)
    stats = index.similarity_stats(vector) if with_stats else None
    hits = tuple(index.search_vector(vector, k))
    return Retrieval(retriever=index.name, hits=hits, stats=stats)


def retrieve_each(
    indices: Sequence[EmbeddingIndex], question: str, k: int, with_stats: bool = False
) -> tuple[Retrieval, ...]:
    """Retrieve from every index in parallel threads, results in index order."""
    if len(indices) == 1:
        return (retrieve_one(indices[0], question, k, with_stats),)
    with ThreadPoolExecutor(max_workers=len(indices)) as pool:
        futures = [
            pool.submit(retrieve_one, index, question, k, with_stats)
            for index in indices
        ]
        return tuple(f.result() for f in futures)


async def aretrieve_each(
    indices: Sequence[EmbeddingIndex], question: str, k: int, with_stats: bool = False
) -> tuple[Retrieval, ...]:
    """Async twin of `retrieve_each`."""
    return tuple(
        await asyncio.gather(
            *(
                asyncio.to_thread(retrieve_one, index, question, k, with_stats)
                for index in indices
            )
        )
    )


def generate_one(
    generator: Generator, prompt: str, settings: GenerationSettings
) -> Completion:
    """One completion that ends at the newline, as the completion prompt expects."""
    [completion] = generator.generate(
        prompt,
        temperature=settings.temperature,
        max_tokens=settings.max_tokens,
        stop=["\n"],
        top_logprobs=settings.top_logprobs,
    )
    return completion


async def agenerate_one(
    generator: Generator, prompt: str, settings: GenerationSettings
) -> Completion:
    """Async twin of `generate_one`."""
    [completion] = await generator.agenerate(
        prompt,
        temperature=settings.temperature,
        max_tokens=settings.max_tokens,
        stop=["\n"],
        top_logprobs=settings.top_logprobs,
    )
    return completion


def generate_each(
    generator: Generator,
    prompts: Sequence[str],
    settings: GenerationSettings,
    max_workers: int,
) -> tuple[Completion, ...]:
    """A completion per prompt, in parallel threads where the generator allows it.

    Greedy decoding is deterministic, so identical prompts (embedders that retrieved
    the same passages) are generated once. A generator that is not thread-safe
    serialises the calls itself (the local model holds a lock).
    """
    jobs, owner = _plan(prompts, settings)
    workers = max(1, min(max_workers, len(jobs)))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        done = list(pool.map(lambda p: generate_one(generator, p, settings), jobs))
    return tuple(done[j] for j in owner)


async def agenerate_each(
    generator: Generator, prompts: Sequence[str], settings: GenerationSettings
) -> tuple[Completion, ...]:
    """Async twin of `generate_each` (concurrent `agenerate` calls)."""
    jobs, owner = _plan(prompts, settings)
    done = await asyncio.gather(*(agenerate_one(generator, p, settings) for p in jobs))
    return tuple(done[j] for j in owner)


def _plan(
    prompts: Sequence[str], settings: GenerationSettings
) -> tuple[list[str], list[int]]:
    """The prompts to generate, and for each input prompt which job answers it."""
    if settings.temperature != 0.0:
        return list(prompts), list(range(len(prompts)))  # samples stay independent
    jobs = list(dict.fromkeys(prompts))
    slot = {p: i for i, p in enumerate(jobs)}
    return jobs, [slot[p] for p in prompts]


def plan_attempt(
    attempt: Attempt | None, top_k: int, settings: GenerationSettings
) -> tuple[int, GenerationSettings]:
    """The attempt's k and settings: a retry strategy may set `top_k`, `temperature`."""
    if attempt is None or attempt.strategy is None:
        return top_k, settings
    params = attempt.strategy.params
    if "temperature" in params:
        settings = settings.model_copy(
            update={"temperature": float(params["temperature"])}
        )
    return int(params.get("top_k", top_k)), settings
