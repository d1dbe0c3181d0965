"""Confident RAG: one answer per embedder, keep the one the model is surest of.

From "Each to Their Own: Exploring the Optimal Embedding in RAG" (Chen, Zhao & Chen,
2025, arXiv 2507.17442): retrieve with each of N embedding models, generate an answer
from each retrieval with the same LLM, score every answer with a token metric
(self-certainty by default) and return the most confident one. The paper reports
about 10% over a vanilla LLM and 5% over vanilla RAG.

The returned Observation keeps every candidate: ``candidates[i]`` is the answer
built from embedder i's retrieval (a `confguard.observation.Candidate`: who
retrieved what, the answer, its logprobs and the metric's verdict), ``selected``
says which one is the answer, and ``samples[i]`` repeats each answer for the
consistency signals. ``contexts`` are the passages the selected answer was
generated from.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Literal

from pydantic import BaseModel, ConfigDict

from confguard.llm.base import Completion, GenerationRequest, Generator
from confguard.observation import (
    Candidate,
    Context,
    Issue,
    Observation,
    Sample,
    TokenLogprob,
)
from confguard.prompts import DEFAULT_SHOTS, Shot, completion_prompt
from confguard.rag.index import EmbeddingIndex
from confguard.rag.multi import (
    ANSWER_REQUEST,
    AttemptPlan,
    Retrieval,
    agenerate_each,
    aretrieve_each,
    check_indices,
    check_request,
    generate_each,
    retrieve_each,
)
from confguard.rag.selection import ByMetric, Selector
from confguard.results import Attempt, SignalResult
from confguard.signals.base import Signal, ascore


class RetrievedAnswer(BaseModel):
    """One embedder's answer while Confident RAG works: what it retrieved, said, scored.

    `evidence()` is what the Observation keeps of it (`observation.Candidate`).
    """

    model_config = ConfigDict(frozen=True)

    retriever: str
    answer: str
    logprobs: tuple[TokenLogprob, ...] | None = None
    contexts: tuple[Context, ...] = ()
    finish_reason: Literal["stop", "length"] | None = None
    result: SignalResult | None = None
    """The selection metric's result; None until `score_candidates` ran."""

    def observation(self, question: str) -> Observation:
        """This answer alone, as the metric sees it."""
        return Observation(
            question=question,
            answer=self.answer,
            contexts=self.contexts,
            logprobs=self.logprobs,
            finish_reason=self.finish_reason,
        )

    def evidence(self) -> Candidate:
        """The answer as typed evidence on the Observation."""
        result = self.result
        return Candidate(
            retriever=self.retriever,
            answer=self.answer,
            contexts=self.contexts,
            logprobs=self.logprobs,
            metric=None if result is None else result.name,
            confidence=None if result is None else result.confidence,
            raw=None if result is None else result.raw,
            status=None if result is None else result.status.value,
        )


class ConfidentRAGResult(BaseModel):
    """Every candidate, which one won and why, and the Observation for a guard."""

    model_config = ConfigDict(frozen=True)

    question: str
    candidates: tuple[RetrievedAnswer, ...]
    selected: int
    observation: Observation
    selection: str = ""
    """Why the selected candidate won, in words."""

    @property
    def answer(self) -> str:
        """The selected answer."""
        return self.candidates[self.selected].answer


def candidate_from(retrieval: Retrieval, completion: Completion) -> RetrievedAnswer:
    """The candidate built from one embedder's retrieval and its completion."""
    return RetrievedAnswer(
        retriever=retrieval.retriever,
        answer=completion.text.strip(),
        logprobs=completion.logprobs,
        contexts=tuple(h.to_context() for h in retrieval.hits),
        finish_reason=completion.finish_reason,
    )


def score_candidates(
    question: str, candidates: Sequence[RetrievedAnswer], metric: Signal
) -> tuple[RetrievedAnswer, ...]:
    """Each candidate with the metric's result on it (a signal never raises)."""
    return tuple(
        c.model_copy(update={"result": metric.score(c.observation(question))})
        for c in candidates
    )


async def ascore_candidates(
    question: str, candidates: Sequence[RetrievedAnswer], metric: Signal
) -> tuple[RetrievedAnswer, ...]:
    """Async twin of `score_candidates` (the candidates are scored concurrently)."""
    results = await asyncio.gather(
        *(ascore(metric, c.observation(question)) for c in candidates)
    )
    return tuple(
        c.model_copy(update={"result": r})
        for c, r in zip(candidates, results, strict=True)
    )


def select_candidate(candidates: Sequence[RetrievedAnswer]) -> int:
    """The index of the most confident candidate; ties go to the earlier embedder.

    Candidates the metric could not score rank below every scored one; when none
    could be scored the first embedder's answer is kept (see `selection_reason`).

    Example:
        >>> select_candidate(score_candidates(question, candidates, SelfCertainty()))
        2
    """
    return ByMetric().select("", candidates)


def _unscored(candidates: Sequence[RetrievedAnswer], selected: int) -> bool:
    result = candidates[selected].result
    return result is None or not result.ok


def selection_reason(
    candidates: Sequence[RetrievedAnswer],
    selected: int,
    selector: Selector | None = None,
) -> str:
    """Why the selected candidate won, in words for the audit trail."""
    chooser = selector or ByMetric()
    if isinstance(chooser, ByMetric) and _unscored(candidates, selected):
        reasons = {c.result.reason for c in candidates if c.result is not None}
        why = "; ".join(sorted(r for r in reasons if r)) or "not scored"
        name = candidates[selected].retriever
        return f"no candidate could be scored ({why}); kept the first, {name!r}"
    describe = getattr(chooser, "describe", None)
    if describe is None:
        name = candidates[selected].retriever
        return f"{name!r} was chosen by {type(chooser).__name__}"
    text: str = describe(candidates, selected)
    return text


def confident_observation(
    question: str,
    candidates: Sequence[RetrievedAnswer],
    selected: int,
    attempt: Attempt | None = None,
) -> Observation:
    """The Observation of the selected answer, carrying every candidate.

    When no candidate could be scored, an `Issue` ("candidates_unscored") says so.
    """
    winner = candidates[selected]
    number = 1 if attempt is None else attempt.number
    return Observation(
        question=question,
        answer=winner.answer,
        contexts=winner.contexts,
        logprobs=winner.logprobs,
        samples=tuple(
            Sample(text=c.answer, logprobs=c.logprobs or ()) for c in candidates
        ),
        candidates=tuple(c.evidence() for c in candidates),
        selected=selected,
        issues=_issues(candidates, selected, number),
        pipeline="confident_rag",
        attempt=number,
        finish_reason=winner.finish_reason,
    )


def _issues(
    candidates: Sequence[RetrievedAnswer], selected: int, attempt: int
) -> tuple[Issue, ...]:
    if not _unscored(candidates, selected):
        return ()
    detail = selection_reason(candidates, selected)
    return (Issue(code="candidates_unscored", attempt=attempt, detail=detail),)


def confident_result(
    question: str,
    scored: Sequence[RetrievedAnswer],
    attempt: Attempt | None = None,
    selector: Selector | None = None,
) -> ConfidentRAGResult:
    """Select among scored candidates and build the result with its Observation.

    `selector` picks the answer (the metric's most confident by default).
    """
    selected = (selector or ByMetric()).select(question, scored)
    return ConfidentRAGResult(
        question=question,
        candidates=tuple(scored),
        selected=selected,
        observation=confident_observation(question, scored, selected, attempt),
        selection=selection_reason(scored, selected, selector),
    )


def _default_metric() -> Signal:
    from confguard.signals.token import SelfCertainty

    return SelfCertainty()


class ConfidentRAGPipeline:
    """Answer once per embedder, return the answer the selector picks.

    The selector is the paper's by default — the candidate the token metric
    (`metric`) is surest of; `selector=FittedSelector(...)` weighs more evidence
    (`confguard.rag.selection`).

    Retrieval runs in parallel threads; generations run in parallel where the
    generator allows it (the embedded local model runs them one after another), and
    embedders that retrieved identical passages share one greedy generation. A retry
    strategy's `top_k` applies to every embedder, its `embedder` keeps only that
    embedder's candidate, and its generation settings change every request.

    Example:
        >>> rag = ConfidentRAGPipeline(default_generator(), [minilm, e5, mpnet])
        >>> obs = rag("Who won Super Bowl 50?")
        >>> obs.answer, obs.selected_candidate.retriever
        ('Denver Broncos', 'e5')
    """

    def __init__(
        self,
        generator: Generator,
        indices: Sequence[EmbeddingIndex],
        *,
        metric: Signal | None = None,
        selector: Selector | None = None,
        top_k: int = 1,
        request: GenerationRequest = ANSWER_REQUEST,
        shots: Sequence[Shot] = DEFAULT_SHOTS,
        max_workers: int | None = None,
    ) -> None:
        self.generator = generator
        self.indices = check_indices(indices)
        self.metric = metric if metric is not None else _default_metric()
        self.selector: Selector = selector if selector is not None else ByMetric()
        self.top_k = top_k
        self.request = check_request(request)
        self.shots = tuple(shots)
        self.max_workers = max_workers or len(self.indices)

    def run(self, question: str, attempt: Attempt | None = None) -> ConfidentRAGResult:
        """Every candidate, scored, with the selection and its Observation.

        Example:
            >>> result = rag.run("Who won Super Bowl 50?")
            >>> [(c.retriever, c.answer) for c in result.candidates]
        """
        plan = self._plan(attempt)
        retrievals = retrieve_each(plan.indices, question, plan.top_k)
        requests = self._requests(plan, question, retrievals)
        done = generate_each(self.generator, requests, self.max_workers)
        raw = [candidate_from(r, c) for r, c in zip(retrievals, done, strict=True)]
        scored = score_candidates(question, raw, self.metric)
        return confident_result(question, scored, attempt, self.selector)

    async def arun(
        self, question: str, attempt: Attempt | None = None
    ) -> ConfidentRAGResult:
        """Async twin of `run` (concurrent retrieval and `agenerate` calls)."""
        plan = self._plan(attempt)
        retrievals = await aretrieve_each(plan.indices, question, plan.top_k)
        requests = self._requests(plan, question, retrievals)
        done = await agenerate_each(self.generator, requests)
        raw = [candidate_from(r, c) for r, c in zip(retrievals, done, strict=True)]
        scored = await ascore_candidates(question, raw, self.metric)
        return confident_result(question, scored, attempt, self.selector)

    def __call__(self, question: str, attempt: Attempt | None = None) -> Observation:
        """The Observation of the most confident answer (a guard's pipeline)."""
        return self.run(question, attempt).observation

    async def acall(self, question: str, attempt: Attempt | None = None) -> Observation:
        """Async twin of calling the pipeline."""
        return (await self.arun(question, attempt)).observation

    def _plan(self, attempt: Attempt | None) -> AttemptPlan:
        return AttemptPlan.of(attempt, self.indices, self.top_k, self.request)

    def _requests(
        self, plan: AttemptPlan, question: str, retrievals: Sequence[Retrieval]
    ) -> list[GenerationRequest]:
        return [
            plan.request_for(completion_prompt(question, r.texts, self.shots))
            for r in retrievals
        ]
