"""Situated faithfulness: should the answer follow the context or the model's knowledge?

After Huang et al. (2024), "Enhancing Large Language Models' Situated Faithfulness to
External Contexts" (arXiv 2410.14675). Retrieved context can be wrong or planted, and
groundedness scores reward an answer that faithfully repeats a wrong document. Three
methods, each a small strategy object:

- `RCR` (rule-based confidence reasoning): closed-book and context answers with their
  confidences, whether the context states its answer, and how plausible the model
  finds that answer without the context; an `RCRRule` picks the source.
- `SCRImplicit`: one prompt warns that the document may be planted and asks for the
  answer from the model's judgement of it and its own knowledge.
- `SCRExplicit`: one generation in steps, ending in a "Final answer:" line.

Each method is written once as a plan of requests (generate, score) that the signal
driver of `confguard.signals.base` runs sync or async, so `score`, `ascore`, `judge`
and `ajudge` share every decision.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

from confguard import registry
from confguard.exceptions import UnknownComponentError
from confguard.llm.base import ContinuationScorer, Generator
from confguard.observation import Observation, TokenLogprob
from confguard.results import Cost, SignalResult, SignalStatus
from confguard.signals._faithfulness_core import (
    Case,
    Method,
    SituatedVerdict,
    Source,
    answers_match,
    context_support,
    source_of,
    unusable,
)
from confguard.signals._faithfulness_prompts import (
    CHAT_PROMPTS,
    COMPLETION_PROMPTS,
    EXAMPLES,
    Example,
    PromptSet,
    chat_prompts,
    completion_prompts,
    parse_final_answer,
    truncate_context,
)
from confguard.signals._faithfulness_rcr import (
    RCR,
    HigherConfidenceWins,
    Plausibility,
    RCRChoice,
    RCREvidence,
    RCRRule,
    TrustThreshold,
)
from confguard.signals._faithfulness_scr import SCRExplicit, SCRImplicit
from confguard.signals.base import BaseSignal, DeclaredCost, Plan, arun_plan, run_plan
from confguard.text import answer_tokens

__all__ = [
    "CHAT_PROMPTS",
    "COMPLETION_PROMPTS",
    "EXAMPLES",
    "RCR",
    "Case",
    "Example",
    "HigherConfidenceWins",
    "Method",
    "Plausibility",
    "PromptSet",
    "RCRChoice",
    "RCREvidence",
    "RCRRule",
    "SCRExplicit",
    "SCRImplicit",
    "SituatedFaithfulness",
    "SituatedVerdict",
    "Source",
    "TrustThreshold",
    "answers_match",
    "chat_prompts",
    "completion_prompts",
    "context_support",
    "parse_final_answer",
]

# --- the signal ----------------------------------------------------------------------


def _method(
    mode: str | Method, prompts: PromptSet, params: Mapping[str, Any] | None = None
) -> Method:
    """A method object as given, or the `faithfulness_method` registered as `mode`."""
    if not isinstance(mode, str):
        if params:
            raise ValueError("method_params apply to a mode given by name")
        return mode
    known = registry.names("faithfulness_method")
    if mode not in known:
        raise UnknownComponentError("situated-faithfulness mode", mode, known)
    method: Method = registry.create(
        "faithfulness_method", mode, dict(params or {}), prompts=prompts
    )
    return method


class SituatedFaithfulness(BaseSignal):
    """Does the answer follow the context or the model's own knowledge, and should it?

    Runs one method (`mode`: a registered `faithfulness_method` name — "rcr",
    "scr_implicit", "scr_explicit" — or a configured method object) with
    `generator`. The confidence is the method's confidence in the observation's
    answer: its own confidence when it agrees with the answer, one minus it when it
    picked another answer. `details` say what the answer follows
    (`follows`), whether the context and the model conflict (`conflict`,
    `conflict_detail`) and the method's own answer (`suggested_answer`).

    Contexts are joined with spaces and cut to `max_context_chars` (the head is kept,
    cut at a word boundary): 1,500 characters is about 400 Gemma tokens, leaving room
    for the few-shot examples in a 2,048-token window.

    Example:
        >>> signal = SituatedFaithfulness(default_generator(), mode="rcr")
        >>> result = signal.score(obs)
        >>> result.confidence, result.details["conflict"], result.details["follows"]
        (0.08, True, 'context')
    """

    def __init__(
        self,
        generator: Generator,
        mode: str | Method = "rcr",
        *,
        prompts: PromptSet = COMPLETION_PROMPTS,
        max_context_chars: int = 1500,
        name: str | None = None,
        method_params: Mapping[str, Any] | None = None,
    ) -> None:
        if max_context_chars < 1:
            raise ValueError(f"max_context_chars must be >= 1, got {max_context_chars}")
        self.generator = generator
        self.method = _method(mode, prompts, method_params)
        self.max_context_chars = max_context_chars
        self.name = name or f"situated_{self.method.name}"
        self.cost = DeclaredCost(llm_calls=self.method.llm_calls, relative=1.0)

    def judge(
        self,
        question: str,
        contexts: Sequence[str],
        answer: str | None = None,
        answer_logprobs: Sequence[TokenLogprob] | None = None,
    ) -> SituatedVerdict:
        """Run the method on one question; `answer` is the context's answer, if known.

        Example:
            >>> verdict = signal.judge("who designed the eiffel tower?", [doc])
            >>> verdict.answer, verdict.source, verdict.conflict
            ('Gustave Eiffel', <Source.CONTEXT: 'context'>, False)
        """
        start = time.perf_counter()
        case = self._case(question, contexts, answer, answer_logprobs)
        plan = self._verdict_plan(case)
        return _costed(*run_plan(plan, self.generator), start)

    async def ajudge(
        self,
        question: str,
        contexts: Sequence[str],
        answer: str | None = None,
        answer_logprobs: Sequence[TokenLogprob] | None = None,
    ) -> SituatedVerdict:
        """Async twin of `judge`.

        Example:
            >>> verdict = await signal.ajudge("who designed the eiffel tower?", [doc])
        """
        start = time.perf_counter()
        case = self._case(question, contexts, answer, answer_logprobs)
        plan = self._verdict_plan(case)
        return _costed(*await arun_plan(plan, self.generator), start)

    def _verdict_plan(self, case: Case | SituatedVerdict) -> Plan[SituatedVerdict]:
        """The method's plan for one case (an unusable input is its own verdict)."""
        if isinstance(case, SituatedVerdict):
            return case
        return (yield from self.method.plan(case))

    def _plan(self, obs: Observation) -> Plan[SignalResult]:
        case = self._case(obs.question, _texts(obs), obs.answer, obs.logprobs)
        verdict = yield from self._verdict_plan(case)
        return to_signal_result(self.name, verdict, obs.answer, self._joined(obs))

    def context_of(self, contexts: Sequence[str]) -> str:
        """The contexts as the methods see them: joined, then truncated."""
        joined = " ".join(c.strip() for c in contexts if c.strip())
        return truncate_context(joined, self.max_context_chars)

    def _joined(self, obs: Observation) -> str:
        return self.context_of(_texts(obs))

    def _case(
        self,
        question: str,
        contexts: Sequence[str],
        answer: str | None,
        logprobs: Sequence[TokenLogprob] | None,
    ) -> Case | SituatedVerdict:
        context = self.context_of(contexts)
        problem = _bad_input(question, context, answer)
        if problem is not None:
            return unusable(self.method.name, SignalStatus.SKIPPED, problem)
        return Case(
            question=question,
            context=context,
            answer=answer,
            answer_logprobs=None if logprobs is None else tuple(logprobs),
            can_score=isinstance(self.generator, ContinuationScorer),
        )


def _bad_input(question: str, context: str, answer: str | None) -> str | None:
    if not context:
        return "no contexts: situated faithfulness weighs an answer against its context"
    if not question.strip():
        return "the question is empty"
    if answer is not None and not answer_tokens(answer):
        return f"the answer is empty after normalisation ({answer!r}); nothing to judge"
    return None


def _texts(obs: Observation) -> list[str]:
    return [c.text for c in obs.contexts]


def _costed(verdict: SituatedVerdict, spent: Cost, start: float) -> SituatedVerdict:
    """The verdict with the plan's measured calls and tokens, and the wall time."""
    cost = spent.model_copy(update={"seconds": time.perf_counter() - start})
    return verdict.model_copy(update={"cost": cost})


def to_signal_result(
    name: str, verdict: SituatedVerdict, answer: str, context: str
) -> SignalResult:
    """The signal's view of a verdict: its confidence in `answer`, with details.

    Example:
        >>> to_signal_result("situated_rcr", verdict, obs.answer, context).details
    """
    if not verdict.ok or verdict.answer is None or verdict.confidence is None:
        return SignalResult(
            name=name,
            status=verdict.status,
            reason=verdict.reason,
            details={"mode": verdict.method},
            cost=verdict.cost,
        )
    agrees = answers_match(answer, verdict.answer)
    follows = source_of(answer, context, verdict.internal_answer)
    return SignalResult(
        name=name,
        confidence=verdict.confidence if agrees else 1.0 - verdict.confidence,
        raw=verdict.confidence,
        reason=_summary(follows, verdict, agrees),
        details=_details(verdict, follows, agrees),
        cost=verdict.cost,
    )


def _details(verdict: SituatedVerdict, follows: Source, agrees: bool) -> dict[str, Any]:
    return {
        "mode": verdict.method,
        "follows": follows.value,
        "conflict": verdict.conflict,
        "conflict_detail": verdict.conflict_detail,
        "suggested_answer": verdict.answer,
        "suggested_source": verdict.source.value if verdict.source else None,
        "agrees_with_answer": agrees,
        "context_trust": verdict.context_trust,
        "internal_answer": verdict.internal_answer,
        "reasons": list(verdict.reasons),
    }


def _summary(follows: Source, verdict: SituatedVerdict, agrees: bool) -> str:
    said = f"the answer follows {follows.value}"
    if not agrees and verdict.source is not None:
        said += (
            f"; {verdict.method} prefers {verdict.answer!r} ({verdict.source.value})"
        )
    if verdict.conflict:
        said += f"; conflict: {verdict.conflict_detail}"
    return said
