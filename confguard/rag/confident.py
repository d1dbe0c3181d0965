"""Confident RAG: one answer per embedder, keep the one the model is surest of.

From "Each to Their Own: Exploring the Optimal Embedding in RAG" (Chen, Zhao & Chen,
2025, arXiv 2507.17442): retrieve with each of N embedding models, generate an answer
from each retrieval with the same LLM, score every answer with a token metric
(self-certainty by default) and return the most confident one. The paper reports
about 10% over a vanilla LLM and 5% over vanilla RAG.

The returned Observation keeps every candidate: ``samples[i]`` is the answer built
from embedder i's retrieval (text and logprobs) and ``metadata["candidates"][i]``
says which embedder it was, what it retrieved and how confident the metric was.
``contexts`` are the passages the selected answer was generated from.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict

from confguard.llm.base import Completion, Generator
from confguard.observation import Context, Observation, Sample, TokenLogprob
from confguard.rag.index import EmbeddingIndex
from confguard.rag.multi import (
    GenerationSettings,
    Retrieval,
    agenerate_each,
    aretrieve_each,
    check_indices,
    generate_each,
    plan_attempt,
    retrieve_each,
)
from confguard.rag.pipeline import DEFAULT_SHOTS, Shot, completion_prompt
from confguard.results import Attempt, SignalResult
from confguard.signals.base import Signal, ascore


class Candidate(BaseModel):
    """One embedder's answer: what it retrieved, generated, and how sure it was."""

    model_config = ConfigDict(frozen=True)

    retriever: str
    answer: str
    logprobs: tuple[TokenLogprob, ...] | None = None
    contexts: tuple[Context, ...] = ()
    confidence: SignalResult | None = None
    """The selection metric's result; None until `score_candidates` ran."""

    def observation(self, question: str) -> Observation:
        """This candidate alone, as the metric sees it."""
        return Observation(
            question=question,
            answer=self.answer,
            contexts=self.contexts,
            logprobs=self.logprobs,
        )


class ConfidentRAGResult(BaseModel):
    """Every candidate, which one won, and the Observation to hand to a guard."""

    model_config = ConfigDict(frozen=True)

    question: str
    candidates: tuple[Candidate, ...]
    selected: int
    observation: Observation

    @property
    def answer(self) -> str:
        """The selected answer."""
        return self.candidates[self.selected].answer


def candidate_from(retrieval: Retrieval, completion: Completion) -> Candidate:
    """The candidate built from one embedder's retrieval and its completion."""
    return Candidate(
        retriever=retrieval.retriever,
        answer=completion.text.strip(),
        logprobs=completion.logprobs,
        contexts=tuple(h.to_context() for h in retrieval.hits),
    )


def score_candidates(
    question: str, candidates: Sequence[Candidate], metric: Signal
) -> tuple[Candidate, ...]:
    """Each candidate with the metric's result on it (a signal never raises)."""
    return tuple(
        c.model_copy(update={"confidence": metric.score(c.observation(question))})
        for c in candidates
    )


async def ascore_candidates(
    question: str, candidates: Sequence[Candidate], metric: Signal
) -> tuple[Candidate, ...]:
    """Async twin of `score_candidates` (the candidates are scored concurrently)."""
    results = await asyncio.gather(
        *(ascore(metric, c.observation(question)) for c in candidates)
    )
    return tuple(
        c.model_copy(update={"confidence": r})
        for c, r in zip(candidates, results, strict=True)
    )


def select_candidate(candidates: Sequence[Candidate]) -> int:
    """The index of the most confident candidate; ties go to the earlier embedder.

    Candidates the metric could not score rank below every scored one; when none
    could be scored the first embedder's answer is kept (see `selection_reason`).

    Example:
        >>> select_candidate(score_candidates(question, candidates, SelfCertainty()))
        2
    """
    if not candidates:
        raise ValueError("cannot select among zero candidates")
    values = [_value(c.confidence) for c in candidates]
    # max() returns the first maximal item: ties go to the earlier embedder.
    return max(range(len(values)), key=values.__getitem__)


def _value(result: SignalResult | None) -> float:
    """A confidence to rank by; unscored candidates rank below any score in [0, 1]."""
    if result is None or result.confidence is None:
        return -1.0
    return result.confidence


def selection_reason(candidates: Sequence[Candidate], selected: int) -> str:
    """Why the selected candidate won, in words for the audit trail."""
    result = candidates[selected].confidence
    name = candidates[selected].retriever
    if result is None or not result.ok:
        reasons = {c.confidence.reason for c in candidates if c.confidence is not None}
        why = "; ".join(sorted(r for r in reasons if r)) or "not scored"
        return f"no candidate could be scored ({why}); kept the first, {name!r}"
    return f"{name!r} was the most confident ({result.name} = {result.confidence:.3f})"


def confident_observation(
    question: str,
    candidates: Sequence[Candidate],
    selected: int,
    attempt: Attempt | None = None,
) -> Observation:
    """The Observation of the selected answer, carrying every candidate."""
    winner = candidates[selected]
    return Observation(
        question=question,
        answer=winner.answer,
        contexts=winner.contexts,
        logprobs=winner.logprobs,
        samples=tuple(
            Sample(text=c.answer, logprobs=c.logprobs or ()) for c in candidates
        ),
        metadata={
            "attempt": attempt.number if attempt else 1,
            "method": "confident_rag",
            "selected": selected,
            "selected_retriever": winner.retriever,
            "selection": selection_reason(candidates, selected),
            "candidates": [_describe(c) for c in candidates],
        },
    )


def confident_result(
    question: str, scored: Sequence[Candidate], attempt: Attempt | None = None
) -> ConfidentRAGResult:
    """Select among scored candidates and build the result with its Observation."""
    selected = select_candidate(scored)
    return ConfidentRAGResult(
        question=question,
        candidates=tuple(scored),
        selected=selected,
        observation=confident_observation(question, scored, selected, attempt),
    )


def _describe(candidate: Candidate) -> dict[str, Any]:
    result = candidate.confidence
    return {
        "retriever": candidate.retriever,
        "answer": candidate.answer,
        "metric": None if result is None else result.name,
        "confidence": None if result is None else result.confidence,
        "raw": None if result is None else result.raw,
        "status": None if result is None else result.status.value,
        "sources": [c.source for c in candidate.contexts],
        "scores": [c.score for c in candidate.contexts],
    }


def _default_metric() -> Signal:
    from confguard.signals.token import SelfCertainty

    return SelfCertainty()


class ConfidentRAGPipeline:
    """Answer once per embedder, return the answer the token metric is surest of.

    Retrieval runs in parallel threads; generations run in parallel where the
    generator allows it (the embedded local model runs them one after another), and
    embedders that retrieved identical passages share one greedy generation.

    Example:
        >>> rag = ConfidentRAGPipeline(default_generator(), [minilm, e5, mpnet])
        >>> obs = rag("Who won Super Bowl 50?")
        >>> obs.answer, obs.metadata["selected_retriever"]
        ('Denver Broncos', 'e5')
    """

    def __init__(
        self,
        generator: Generator,
        indices: Sequence[EmbeddingIndex],
        *,
        metric: Signal | None = None,
        top_k: int = 1,
        settings: GenerationSettings | None = None,
        shots: Sequence[Shot] = DEFAULT_SHOTS,
        max_workers: int | None = None,
    ) -> None:
        self.generator = generator
        self.indices = check_indices(indices)
        self.metric = metric if metric is not None else _default_metric()
        self.top_k = top_k
        self.settings = settings or GenerationSettings()
        self.shots = tuple(shots)
        self.max_workers = max_workers or len(self.indices)

    def run(self, question: str, attempt: Attempt | None = None) -> ConfidentRAGResult:
        """Every candidate, scored, with the selection and its Observation.

        Example:
            >>> result = rag.run("Who won Super Bowl 50?")
            >>> [(c.retriever, c.answer) for c in result.candidates]
        """
        k, settings = plan_attempt(attempt, self.top_k, self.settings)
        retrievals = retrieve_each(self.indices, question, k)
        prompts = [self._prompt(question, r) for r in retrievals]
        done = generate_each(self.generator, prompts, settings, self.max_workers)
        raw = [candidate_from(r, c) for r, c in zip(retrievals, done, strict=True)]
        scored = score_candidates(question, raw, self.metric)
        return confident_result(question, scored, attempt)

    async def arun(
        self, question: str, attempt: Attempt | None = None
    ) -> ConfidentRAGResult:
        """Async twin of `run` (concurrent retrieval and `agenerate` calls)."""
        k, settings = plan_attempt(attempt, self.top_k, self.settings)
        retrievals = await aretrieve_each(self.indices, question, k)
        prompts = [self._prompt(question, r) for r in retrievals]
        done = await agenerate_each(self.generator, prompts, settings)
        raw = [candidate_from(r, c) for r, c in zip(retrievals, done, strict=True)]
        scored = await ascore_candidates(question, raw, self.metric)
        return confident_result(question, scored, attempt)

    def __call__(self, question: str, attempt: Attempt | None = None) -> Observation:
        """The Observation of the most confident answer (a guard's pipeline)."""
        return self.run(question, attempt).observation

    async def acall(self, question: str, attempt: Attempt | None = None) -> Observation:
        """Async twin of calling the pipeline."""
        return (await self.arun(question, attempt)).observation

    def _prompt(self, question: str, retrieval: Retrieval) -> str:
        texts = [h.passage.text for h in retrieval.hits]
        return completion_prompt(question, texts, self.shots)
