"""Run a guarded pipeline over a dataset: generate once (cached), score, grade.

Generation is the slow part, so every observation is appended to a JSONL cache
keyed by the pipeline and the item; re-scoring the same answers with other
signals, another policy or a fitted calibrator regenerates nothing. Scoring is
pure: the guard's signals, combiner, calibrator and `decide` on the first attempt,
with no audit rows written, no retries run and no escalation routes called.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

from confguard.evaluation.datasets import Dataset, EvalItem
from confguard.evaluation.grading import Correctness, F1AtLeast, grade
from confguard.guard import Guard, ascore_all, score_all
from confguard.llm.base import Completion, GenerationRequest, Generator
from confguard.observation import Context, Observation
from confguard.policy.decide import decide
from confguard.prompts import completion_prompt
from confguard.rag.multi import ANSWER_REQUEST, answer_observation
from confguard.results import Attempt, SignalResult, SignalStatus
from confguard.routes.pipeline import Pipeline, acall_pipeline, call_pipeline
from confguard.scoring.aggregate import assess
from confguard.scoring.calibration import LabelledSample

Progress = Callable[[str, int, int], None]
"""Called as progress(stage, done, total); stages are "generating" and "scoring"."""


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


@runtime_checkable
class ItemPipeline(Protocol):
    """Answers one dataset item; `key` names it in the generation cache."""

    key: str

    def answer(self, item: EvalItem) -> Observation: ...

    async def aanswer(self, item: EvalItem) -> Observation: ...


class QuestionPipeline:
    """Any confguard pipeline, asked the item's question (first attempt only).

    Example:
        >>> QuestionPipeline(RAGPipeline(generator, index), key="rag-minilm")
    """

    def __init__(self, pipeline: Pipeline | Any, key: str) -> None:
        self.pipeline, self.key = pipeline, key

    def answer(self, item: EvalItem) -> Observation:
        """The pipeline's observation for the item's question."""
        return call_pipeline(self.pipeline, item.question, Attempt(number=1))

    async def aanswer(self, item: EvalItem) -> Observation:
        """Async twin of `answer`."""
        return await acall_pipeline(self.pipeline, item.question, Attempt(number=1))


class GivenContexts:
    """Answers from each item's own passages with the RAG's 2-shot prompt.

    Example:
        >>> GivenContexts(default_generator()).answer(item).answer
    """

    def __init__(
        self,
        generator: Generator,
        *,
        request: GenerationRequest = ANSWER_REQUEST,
        key: str | None = None,
    ) -> None:
        self.generator, self.request = generator, request
        self.key = key or f"given-{generator.name}"

    def _request(self, item: EvalItem) -> GenerationRequest:
        prompt = completion_prompt(item.question, item.contexts)
        return self.request.with_(prompt=prompt)

    def _observation(self, item: EvalItem, completion: Completion) -> Observation:
        contexts = tuple(Context(text=c, source="given") for c in item.contexts)
        return answer_observation(
            item.question, contexts, completion, None, "given_contexts"
        )

    def answer(self, item: EvalItem) -> Observation:
        """Greedy answer to the item's question from its passages."""
        [done] = self.generator.generate(self._request(item))
        return self._observation(item, done)

    async def aanswer(self, item: EvalItem) -> Observation:
        """Async twin of `answer`."""
        [done] = await self.generator.agenerate(self._request(item))
        return self._observation(item, done)


def item_key(item: EvalItem) -> str:
    """What an observation is cached under: the item's id, question and passages."""
    text = json.dumps([item.id, item.question, list(item.contexts)])
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:24]


class GenerationCache:
    """Observations per item, appended to one JSONL file per pipeline key.

    Example:
        >>> cache = GenerationCache.for_pipeline(Path(".confguard/eval"), pipeline)
        >>> cache.get(item) is None
        True
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._seen: dict[str, Observation] = {}
        if path.is_file():
            for line in path.read_text(encoding="utf-8").splitlines():
                if line.strip():
                    entry = json.loads(line)
                    self._seen[entry["key"]] = Observation.model_validate(
                        entry["observation"]
                    )

    @classmethod
    def for_pipeline(cls, folder: Path, pipeline: ItemPipeline) -> GenerationCache:
        """The cache file of `pipeline` inside `folder`."""
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in pipeline.key)
        return cls(folder / f"generations-{safe}.jsonl")

    def __len__(self) -> int:
        return len(self._seen)

    def get(self, item: EvalItem) -> Observation | None:
        """The cached observation of `item`, if any."""
        return self._seen.get(item_key(item))

    def put(self, item: EvalItem, obs: Observation) -> None:
        """Remember and append one observation."""
        key = item_key(item)
        self._seen[key] = obs
        self.path.parent.mkdir(parents=True, exist_ok=True)
        entry = {"key": key, "id": item.id, "observation": obs.model_dump(mode="json")}
        with self.path.open("a", encoding="utf-8") as file:
            file.write(json.dumps(entry) + "\n")


class EvalSample(_Frozen):
    """One item's answer, its grade, every signal's confidence and the decision."""

    id: str
    question: str
    answer: str
    gold: tuple[str, ...]
    exact_match: bool
    f1: float
    correct: bool
    signals: dict[str, float | None]
    """Each signal's confidence; None when it was skipped or failed."""
    reasons: dict[str, str] = Field(default_factory=dict)
    """Why a signal was skipped or failed."""
    statuses: dict[str, str] = Field(default_factory=dict)
    """Each signal's status (ok, skipped, failed); empty in samples written before
    statuses were recorded."""
    details: dict[str, dict[str, Any]] = Field(default_factory=dict)
    """The details of each signal that reported any (a detected conflict, say)."""
    confidence: float | None
    """The final (combined, calibrated) confidence; None with no evidence."""
    action: str
    llm_calls: int = Field(ge=0)
    """LLM calls the signals made (the answer itself not counted)."""
    metadata: dict[str, Any] = Field(default_factory=dict)

    def labelled(self) -> LabelledSample:
        """The sample as calibration data, with its signal results as recorded
        when the statuses were (so a policy's strata on details can be told)."""
        return LabelledSample(
            signals=self.signals,
            confidence=self.confidence,
            correct=self.correct,
            recorded=self.recorded(),
        )

    def recorded(self) -> tuple[SignalResult, ...]:
        """The signal results as recorded (none for samples without statuses)."""
        if not self.statuses:
            return ()
        return tuple(
            self._result(name, confidence) for name, confidence in self.signals.items()
        )

    def _result(self, name: str, confidence: float | None) -> SignalResult:
        status = SignalStatus(self.statuses.get(name, "skipped"))
        ok = status is SignalStatus.OK
        return SignalResult(
            name=name,
            status=status,
            confidence=confidence if ok else None,
            reason=None if ok else self.reasons.get(name) or "not recorded",
            details=self.details.get(name, {}),
        )


def _sample(
    item: EvalItem,
    obs: Observation,
    results: Sequence[SignalResult],
    guard: Guard,
    rule: Correctness,
) -> EvalSample:
    assessment = assess(results, guard.combiner, guard.calibrator)
    graded = grade(obs.answer, item.answers, rule)
    return EvalSample(
        id=item.id,
        question=item.question,
        answer=obs.answer,
        gold=item.answers,
        exact_match=graded.exact_match,
        f1=graded.f1,
        correct=graded.correct,
        signals={r.name: r.confidence for r in results},
        reasons={r.name: r.reason or "" for r in results if not r.ok},
        statuses={r.name: r.status.value for r in results},
        details={r.name: dict(r.details) for r in results if r.details},
        confidence=assessment.confidence,
        action=decide(guard.policy, assessment).action,
        llm_calls=assessment.cost.llm_calls,
        metadata=item.metadata,
    )


class Evaluation(_Frozen):
    """The samples of one run, and how it was set up."""

    dataset: str
    pipeline: str
    rule: str
    signals: tuple[str, ...]
    samples: tuple[EvalSample, ...]
    generated: int = Field(ge=0)
    """Answers generated in this run (the rest came from the cache)."""
    seconds: float = Field(ge=0.0)


def _observations(
    items: Sequence[EvalItem],
    pipeline: ItemPipeline,
    cache: GenerationCache | None,
    progress: Progress | None,
) -> tuple[list[Observation], int]:
    out, fresh = [], 0
    for done, item in enumerate(items, start=1):
        obs = cache.get(item) if cache is not None else None
        if obs is None:
            obs, fresh = pipeline.answer(item), fresh + 1
            if cache is not None:
                cache.put(item, obs)
        out.append(obs)
        if progress is not None:
            progress("generating", done, len(items))
    return out, fresh


def evaluate(
    dataset: Dataset,
    pipeline: ItemPipeline,
    guard: Guard,
    *,
    rule: Correctness | None = None,
    cache: GenerationCache | None = None,
    progress: Progress | None = None,
) -> Evaluation:
    """Answer (or load) every item, score with the guard's signals, grade, decide.

    Example:
        >>> run = evaluate(load_dataset("squad:dev.json").sample(200), rag, guard)
        >>> sum(s.correct for s in run.samples) / len(run.samples)
    """
    start, rule = time.perf_counter(), rule or F1AtLeast()
    observations, fresh = _observations(dataset.items, pipeline, cache, progress)
    samples = []
    for done, (item, obs) in enumerate(zip(dataset.items, observations, strict=True)):
        results = score_all(guard.signals, obs, None)
        samples.append(_sample(item, obs, results, guard, rule))
        if progress is not None:
            progress("scoring", done + 1, len(observations))
    return _evaluation(dataset, pipeline, guard, rule, samples, fresh, start)


async def aevaluate(
    dataset: Dataset,
    pipeline: ItemPipeline,
    guard: Guard,
    *,
    rule: Correctness | None = None,
    cache: GenerationCache | None = None,
    progress: Progress | None = None,
) -> Evaluation:
    """Async twin of `evaluate`: items one after another, signals concurrently."""
    start, rule = time.perf_counter(), rule or F1AtLeast()
    samples, fresh = [], 0
    for done, item in enumerate(dataset.items, start=1):
        obs = cache.get(item) if cache is not None else None
        if obs is None:
            obs, fresh = await pipeline.aanswer(item), fresh + 1
            if cache is not None:
                await asyncio.to_thread(cache.put, item, obs)
        results = await ascore_all(guard.signals, obs, None)
        samples.append(_sample(item, obs, results, guard, rule))
        if progress is not None:
            progress("scoring", done, len(dataset.items))
    return _evaluation(dataset, pipeline, guard, rule, samples, fresh, start)


def _evaluation(
    dataset: Dataset,
    pipeline: ItemPipeline,
    guard: Guard,
    rule: Correctness,
    samples: list[EvalSample],
    fresh: int,
    start: float,
) -> Evaluation:
    return Evaluation(
        dataset=dataset.name,
        pipeline=pipeline.key,
        rule=rule.name,
        signals=tuple(s.name for s in guard.signals),
        samples=tuple(samples),
        generated=fresh,
        seconds=time.perf_counter() - start,
    )


__all__ = [
    "EvalSample",
    "Evaluation",
    "GenerationCache",
    "GivenContexts",
    "ItemPipeline",
    "Progress",
    "QuestionPipeline",
    "aevaluate",
    "evaluate",
    "item_key",
]
