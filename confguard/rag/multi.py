"""Steps every RAG pipeline shares: the attempt's plan, retrieval, generation.

A retry strategy reaches a pipeline only through `AttemptPlan.of`: its `top_k`
sets the retrieval depth, its `embedder` picks the index, and
`GenerationRequest.for_attempt` applies its generation settings.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

from pydantic import BaseModel, ConfigDict

from confguard.exceptions import ConfigurationError, UnknownComponentError
from confguard.llm.base import Completion, GenerationRequest, Generator
from confguard.observation import Context, Observation
from confguard.rag.index import EmbeddingIndex, Hit, SimilarityStats
from confguard.results import Attempt

ANSWER_REQUEST = GenerationRequest(prompt="", max_tokens=24, stop=("\n",))
"""How the built-in pipelines answer: greedy, one line, at most 24 tokens.

Pass `request=ANSWER_REQUEST.with_(max_tokens=48)` to a pipeline to change it; the
pipeline fills in the prompt.
"""


class Retrieval(BaseModel):
    """What one embedder's index returned for a question."""

    model_config = ConfigDict(frozen=True)

    retriever: str
    hits: tuple[Hit, ...]
    stats: SimilarityStats | None = None
    """The query's similarity distribution over the corpus (for z-scores)."""

    @property
    def texts(self) -> list[str]:
        """The retrieved passages' texts, best first."""
        return [h.passage.text for h in self.hits]


class AttemptPlan(BaseModel):
    """What one attempt retrieves with, how many passages, and how it generates.

    Example:
        >>> plan = AttemptPlan.of(Attempt(number=2, strategy=more_context(8)),
        ...                       indices, top_k=1, request=ANSWER_REQUEST)
        >>> plan.top_k
        8
    """

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    indices: tuple[EmbeddingIndex, ...]
    top_k: int
    request: GenerationRequest
    """The request template; `request_for` fills in each prompt."""

    @classmethod
    def of(
        cls,
        attempt: Attempt | None,
        indices: Sequence[EmbeddingIndex],
        top_k: int,
        request: GenerationRequest,
    ) -> AttemptPlan:
        """The pipeline's defaults as the attempt's retry strategy changes them."""
        strategy = None if attempt is None else attempt.strategy
        if strategy is None:
            return cls(indices=tuple(indices), top_k=top_k, request=request)
        return cls(
            indices=named_indices(indices, strategy.embedder),
            top_k=top_k if strategy.top_k is None else strategy.top_k,
            request=request.for_attempt(attempt),
        )

    def request_for(self, prompt: str) -> GenerationRequest:
        """The attempt's request for one prompt."""
        return self.request.with_(prompt=prompt)


def named_indices(
    indices: Sequence[EmbeddingIndex], name: str | None
) -> tuple[EmbeddingIndex, ...]:
    """Every index, or only the one called `name` (unknown names are refused)."""
    if name is None:
        return tuple(indices)
    chosen = tuple(index for index in indices if index.name == name)
    if not chosen:
        raise UnknownComponentError("embedder", name, [i.name for i in indices])
    return chosen


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


def check_request(request: GenerationRequest) -> GenerationRequest:
    """The request template, refused unless it asks for one answer per prompt."""
    if request.n != 1:
        raise ConfigurationError(
            f"a RAG pipeline generates one answer per prompt; request.n={request.n}"
        )
    return request


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


def generate_each(
    generator: Generator, requests: Sequence[GenerationRequest], max_workers: int
) -> tuple[Completion, ...]:
    """The first completion of each request, in parallel threads where allowed.

    Greedy decoding is deterministic, so identical greedy requests (embedders that
    retrieved the same passages) are generated once. A generator that is not
    thread-safe serialises the calls itself (the local model holds a lock).
    """
    jobs, owner = _jobs(requests)
    workers = max(1, min(max_workers, len(jobs)))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        done = list(pool.map(lambda r: generator.generate(r)[0], jobs))
    return tuple(done[j] for j in owner)


async def agenerate_each(
    generator: Generator, requests: Sequence[GenerationRequest]
) -> tuple[Completion, ...]:
    """Async twin of `generate_each` (concurrent `agenerate` calls)."""
    jobs, owner = _jobs(requests)
    done = await asyncio.gather(*(generator.agenerate(r) for r in jobs))
    return tuple(done[j][0] for j in owner)


def _jobs(
    requests: Sequence[GenerationRequest],
) -> tuple[list[GenerationRequest], list[int]]:
    """The requests to run, and for each input request which job answers it."""
    if any(r.temperature != 0.0 for r in requests):
        return list(requests), list(range(len(requests)))  # samples stay independent
    jobs = list(dict.fromkeys(requests))
    slot = {r: i for i, r in enumerate(jobs)}
    return jobs, [slot[r] for r in requests]


def answer_observation(
    question: str,
    contexts: Sequence[Context],
    completion: Completion,
    attempt: Attempt | None,
    pipeline: str,
) -> Observation:
    """The Observation of one generated answer and the passages it was given."""
    return Observation(
        question=question,
        answer=completion.text.strip(),
        contexts=tuple(contexts),
        logprobs=completion.logprobs,
        pipeline=pipeline,
        attempt=1 if attempt is None else attempt.number,
        finish_reason=completion.finish_reason,
    )
