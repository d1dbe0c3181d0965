"""Mixture-Embedding RAG: pool every embedder's top-k by standardised similarity.

The baseline of "Each to Their Own: Exploring the Optimal Embedding in RAG" (Chen,
Zhao & Chen, 2025, arXiv 2507.17442): take the top-k passages of each embedder,
standardise each embedder's similarities, pool them, keep the overall top-k and
generate one answer. Cosines of different models live on different scales (MiniLM's
unrelated passages score ~0.1, E5's ~0.7), so raw scores cannot be compared; each is
turned into a z-score against that query's similarity to the whole corpus under the
same embedder (exact, from the corpus mean and covariance: see
`EmbeddingIndex.similarity_stats`). The paper found this did not beat vanilla RAG.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from pydantic import BaseModel, ConfigDict

from confguard.llm.base import Completion, GenerationRequest, Generator
from confguard.observation import Context, Observation
from confguard.prompts import DEFAULT_SHOTS, Shot, completion_prompt
from confguard.rag.index import EmbeddingIndex, Hit, SimilarityStats
from confguard.rag.multi import (
    ANSWER_REQUEST,
    AttemptPlan,
    Retrieval,
    answer_observation,
    aretrieve_each,
    check_indices,
    check_request,
    retrieve_each,
)
from confguard.results import Attempt


class StandardisedHit(BaseModel):
    """A hit with its similarity as a z-score within its own embedder."""

    model_config = ConfigDict(frozen=True)

    hit: Hit
    z: float


class PooledHit(BaseModel):
    """A passage in the pooled ranking: its best z-score and who retrieved it."""

    model_config = ConfigDict(frozen=True)

    hit: Hit
    """The hit of the embedder that gave the passage its best z-score."""
    z: float
    retrievers: tuple[str, ...]

    def to_context(self) -> Context:
        """The passage as a context: cosine of its best retriever, tagged with it."""
        return self.hit.to_context()


def zscore(value: float, stats: SimilarityStats) -> float:
    """(value - mean) / std; 0 when the embedder scores every passage alike.

    Example:
        >>> zscore(0.8, SimilarityStats(mean=0.2, std=0.3))
        2.0
    """
    if stats.std <= 0.0:
        return 0.0
    return (value - stats.mean) / stats.std


def standardise(retrieval: Retrieval) -> tuple[StandardisedHit, ...]:
    """Each hit of one embedder with its z-score under that embedder's statistics."""
    if retrieval.stats is None:
        raise ValueError(
            f"retrieval by {retrieval.retriever!r} carries no similarity statistics; "
            "retrieve with with_stats=True"
        )
    stats = retrieval.stats
    return tuple(
        StandardisedHit(hit=h, z=zscore(h.score, stats)) for h in retrieval.hits
    )


def pool(hits: Iterable[StandardisedHit], k: int) -> tuple[PooledHit, ...]:
    """Merge standardised hits: one entry per passage (its best z), top-k by z.

    Ties keep the order the hits came in (first embedder first).

    Example:
        >>> [p.hit.passage.id for p in pool(standardised_hits, k=2)]
    """
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    best: dict[str, PooledHit] = {}
    for item in hits:
        key = item.hit.passage.id
        seen = best.get(key)
        if seen is None:
            best[key] = PooledHit(
                hit=item.hit, z=item.z, retrievers=(item.hit.retriever,)
            )
            continue
        retrievers = (*seen.retrievers, item.hit.retriever)
        winner = item if item.z > seen.z else seen
        best[key] = PooledHit(hit=winner.hit, z=winner.z, retrievers=retrievers)
    ranked = sorted(best.values(), key=lambda p: -p.z)  # sorted() is stable
    return tuple(ranked[:k])


def mix(retrievals: Sequence[Retrieval], k: int) -> tuple[PooledHit, ...]:
    """Standardise every embedder's hits, pool them and keep the top-k."""
    return pool((s for r in retrievals for s in standardise(r)), k)


class MixtureRAGResult(BaseModel):
    """The pooled passages with their z-scores, and the Observation of the answer."""

    model_config = ConfigDict(frozen=True)

    question: str
    pooled: tuple[PooledHit, ...]
    observation: Observation

    @property
    def answer(self) -> str:
        """The generated answer."""
        return self.observation.answer


class MixtureRAGPipeline:
    """Mixture-Embedding RAG: one answer from the pooled, standardised top-k.

    A retry strategy's `top_k` sets k for every embedder and for the pool, its
    `embedder` pools that embedder's hits alone, and its generation settings
    (e.g. `temperature`) change the request.

    Example:
        >>> rag = MixtureRAGPipeline(default_generator(), [minilm_index, e5_index])
        >>> obs = rag("Who won Super Bowl 50?")
        >>> rag.run("Who won Super Bowl 50?").pooled[0].retrievers
        ('minilm', 'e5')
    """

    def __init__(
        self,
        generator: Generator,
        indices: Sequence[EmbeddingIndex],
        *,
        top_k: int = 1,
        request: GenerationRequest = ANSWER_REQUEST,
        shots: Sequence[Shot] = DEFAULT_SHOTS,
    ) -> None:
        self.generator = generator
        self.indices = check_indices(indices)
        self.top_k = top_k
        self.request = check_request(request)
        self.shots = tuple(shots)

    def run(self, question: str, attempt: Attempt | None = None) -> MixtureRAGResult:
        """The pooled passages, their z-scores and the answer's Observation."""
        plan = self._plan(attempt)
        retrievals = retrieve_each(plan.indices, question, plan.top_k, with_stats=True)
        pooled = mix(retrievals, plan.top_k)
        [completion] = self.generator.generate(self._request(plan, question, pooled))
        return self._result(question, pooled, completion, attempt)

    async def arun(
        self, question: str, attempt: Attempt | None = None
    ) -> MixtureRAGResult:
        """Async twin of `run`."""
        plan = self._plan(attempt)
        retrievals = await aretrieve_each(
            plan.indices, question, plan.top_k, with_stats=True
        )
        pooled = mix(retrievals, plan.top_k)
        request = self._request(plan, question, pooled)
        [completion] = await self.generator.agenerate(request)
        return self._result(question, pooled, completion, attempt)

    def __call__(self, question: str, attempt: Attempt | None = None) -> Observation:
        """The Observation of the answer (a guard's pipeline)."""
        return self.run(question, attempt).observation

    async def acall(self, question: str, attempt: Attempt | None = None) -> Observation:
        """Async twin of calling the pipeline."""
        return (await self.arun(question, attempt)).observation

    def _plan(self, attempt: Attempt | None) -> AttemptPlan:
        return AttemptPlan.of(attempt, self.indices, self.top_k, self.request)

    def _request(
        self, plan: AttemptPlan, question: str, pooled: Sequence[PooledHit]
    ) -> GenerationRequest:
        texts = [p.hit.passage.text for p in pooled]
        return plan.request_for(completion_prompt(question, texts, self.shots))

    @staticmethod
    def _result(
        question: str,
        pooled: tuple[PooledHit, ...],
        completion: Completion,
        attempt: Attempt | None,
    ) -> MixtureRAGResult:
        contexts = [p.to_context() for p in pooled]
        obs = answer_observation(question, contexts, completion, attempt, "mixture_rag")
        return MixtureRAGResult(question=question, pooled=pooled, observation=obs)
