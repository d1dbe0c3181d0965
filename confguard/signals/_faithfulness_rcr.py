"""Rule-based confidence reasoning (RCR): evidence from both sources, a rule picks one.

Adapted to small base models: besides the closed-book answer's own confidence (which
a 270M model rarely earns), the context's answer is scored teacher-forced after the
closed-book prompt and after a prompt with no question. The difference per token is
the pointwise mutual information of question and answer: it flags an answer the model
finds implausible for this question, without favouring short or common answers as a
summed logprob does.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Protocol

from pydantic import Field

from confguard.observation import TokenLogprob
from confguard.results import SignalStatus
from confguard.signals._faithfulness_core import (
    Case,
    Frozen,
    SituatedVerdict,
    Source,
    answers_match,
    context_support,
    mean_prob,
    unusable,
)
from confguard.signals._faithfulness_prompts import (
    COMPLETION_PROMPTS,
    PromptSet,
    parse_final_answer,
)
from confguard.signals._plans import complete, score
from confguard.signals.base import Plan


class RCREvidence(Frozen):
    """Everything RCR's rules look at, for one question and context."""

    context_answer: str
    context_confidence: float = Field(ge=0.0, le=1.0)
    """Token confidence of the context answer (geometric-mean probability)."""
    context_support: float = Field(ge=0.0, le=1.0)
    """1 when the context states the answer verbatim (see `context_support`)."""
    internal_answer: str | None
    internal_confidence: float = Field(ge=0.0, le=1.0)
    """Token confidence of the closed-book answer (0 when there is none)."""
    plausibility: float | None = None
    """Per-token PMI of question and context answer (see `Plausibility`)."""
    context_trust: float | None = Field(default=None, ge=0.0, le=1.0)
    answers_agree: bool = False

    @property
    def context_score(self) -> float:
        """P(context answer right) = token confidence x support x trust (if known)."""
        trust = 1.0 if self.context_trust is None else self.context_trust
        return self.context_confidence * self.context_support * trust


class RCRChoice(Frozen):
    """A rule's pick: which source's answer, with what confidence, and why."""

    source: Source
    answer: str
    confidence: float = Field(ge=0.0, le=1.0)
    conflict: bool
    conflict_detail: str | None = None
    reasons: tuple[str, ...] = ()


class RCRRule(Protocol):
    """Picks the source from RCR's evidence (one method, like tenacity's stop_*)."""

    def choose(self, evidence: RCREvidence) -> RCRChoice: ...


def _evidence_reasons(e: RCREvidence) -> list[str]:
    reasons = [
        f"context answer {e.context_answer!r}, token confidence "
        f"{e.context_confidence:.2f}"
    ]
    if e.context_support < 1.0:
        reasons.append(
            f"the context does not state it verbatim ({e.context_support:.2f})"
        )
    if e.internal_answer is None:
        reasons.append("no closed-book answer")
    else:
        reasons.append(
            f"closed-book answer {e.internal_answer!r}, confidence "
            f"{e.internal_confidence:.2f}"
        )
    if e.context_trust is not None and e.plausibility is not None:
        reasons.append(
            f"context trust {e.context_trust:.2f} (PMI {e.plausibility:.2f}/token)"
        )
    return reasons


def _agreed(e: RCREvidence) -> RCRChoice:
    # Two sources saying the same thing: the surer of them counts.
    return RCRChoice(
        source=Source.BOTH,
        answer=e.context_answer,
        confidence=max(e.context_score, e.internal_confidence),
        conflict=False,
        reasons=(*_evidence_reasons(e), "closed-book and context answers agree"),
    )


def _conflict_detail(e: RCREvidence) -> str:
    detail = f"the context says {e.context_answer!r}"
    if e.internal_answer is not None:
        detail += f"; without it the model says {e.internal_answer!r}"
    if e.context_trust is not None:
        detail += f"; context trust {e.context_trust:.2f}"
    return detail


def _pick(e: RCREvidence, internal: bool, conflict: bool, why: str) -> RCRChoice:
    chosen = e.internal_answer if internal else None
    return RCRChoice(
        source=Source.INTERNAL if chosen else Source.CONTEXT,
        answer=chosen or e.context_answer,
        confidence=e.internal_confidence if chosen else e.context_score,
        conflict=conflict,
        conflict_detail=_conflict_detail(e) if conflict else None,
        reasons=(*_evidence_reasons(e), why),
    )


def _distrusted(e: RCREvidence, min_trust: float) -> bool:
    return e.context_trust is not None and e.context_trust < min_trust


def _sure(e: RCREvidence, min_internal: float) -> bool:
    return e.internal_answer is not None and e.internal_confidence >= min_internal


class HigherConfidenceWins:
    """The paper's rule: the surer source wins, if its confidence clears a floor.

    The closed-book answer replaces the context's only when its confidence is at
    least `min_internal` and beats the context's score by more than `margin`. A
    conflict is reported when the answers differ and either the model is sure of its
    own answer or the context's answer looks implausible (trust < `min_trust`).

    Example:
        >>> RCR(rule=HigherConfidenceWins(margin=0.1, min_internal=0.6))
    """

    def __init__(
        self, margin: float = 0.1, min_internal: float = 0.6, min_trust: float = 0.5
    ) -> None:
        self.margin, self.min_internal, self.min_trust = margin, min_internal, min_trust

    def choose(self, evidence: RCREvidence) -> RCRChoice:
        """The closed-book answer when it is the surer one, else the context's."""
        e = evidence
        if e.answers_agree:
            return _agreed(e)
        sure = _sure(e, self.min_internal)
        internal = sure and e.internal_confidence > e.context_score + self.margin
        why = (
            f"closed-book confidence {e.internal_confidence:.2f} beats the "
            f"context's {e.context_score:.2f}"
            if internal
            else f"the context's score {e.context_score:.2f} wins"
        )
        return _pick(e, internal, sure or _distrusted(e, self.min_trust), why)


class TrustThreshold:
    """Follow the context unless its answer is implausible and the model is sure.

    Suits small models, whose closed-book answers are rarely right: the context is
    overruled only when `context_trust < min_trust` and the closed-book confidence is
    at least `min_internal`; a distrusted context is still reported as a conflict.

    Example:
        >>> RCR(rule=TrustThreshold(min_trust=0.3, min_internal=0.7))
    """

    def __init__(self, min_trust: float = 0.5, min_internal: float = 0.7) -> None:
        self.min_trust, self.min_internal = min_trust, min_internal

    def choose(self, evidence: RCREvidence) -> RCRChoice:
        """Overrule a distrusted context with a sure closed-book answer."""
        e = evidence
        if e.answers_agree:
            return _agreed(e)
        distrusted, sure = _distrusted(e, self.min_trust), _sure(e, self.min_internal)
        why = (
            "an implausible context answer and a sure closed-book answer"
            if distrusted and sure
            else "the context is followed"
        )
        return _pick(e, distrusted and sure, distrusted or sure, why)


class Plausibility(Frozen):
    """Turns the closed-book scores of the context's answer into a trust in [0, 1].

    raw = (log P(answer | question) - log P(answer | no question)) / answer tokens,
    both teacher-forced after the closed-book prompt; trust = logistic((raw -
    center) / scale).

    Example:
        >>> Plausibility(center=1.0, scale=0.5).trust(1.0)
        0.5
    """

    center: float = 1.0
    scale: float = Field(default=1.0, gt=0.0)

    def raw(
        self, with_question: Sequence[TokenLogprob], without: Sequence[TokenLogprob]
    ) -> float:
        """Per-token PMI of the answer and the question."""
        gain = sum(t.logprob for t in with_question) - sum(t.logprob for t in without)
        return gain / max(1, len(with_question))

    def trust(self, raw: float) -> float:
        """The logistic map of a raw score to a trust."""
        return 1.0 / (1.0 + math.exp(-(raw - self.center) / self.scale))


_NO_CONFIDENCE = (
    "RCR needs the context answer's confidence: the observation carries no logprobs "
    "and the generator cannot score continuations"
)
_Answer = Plan[tuple[str | None, float | None]]


class RCR:
    """Rule-based confidence reasoning: a rule weighs context against closed book.

    Steps: (a) the closed-book answer and its token confidence; (b) the context answer
    (the one under test, or generated) and its token confidence; (c) whether the
    context states it, and how plausible the model finds it without the context.
    Costs 2 generations and up to 3 teacher-forced scores.

    Example:
        >>> SituatedFaithfulness(generator, mode=RCR(rule=TrustThreshold()))
    """

    name = "rcr"
    llm_calls = 4

    def __init__(
        self,
        rule: RCRRule | None = None,
        prompts: PromptSet = COMPLETION_PROMPTS,
        plausibility: Plausibility | None = None,
        *,
        center: float | None = None,
        scale: float | None = None,
        min_trust: float | None = None,
    ) -> None:
        # center / scale / min_trust are the plain-number form a YAML config writes
        # (`SituatedFaithfulness(method_params=...)`); the objects win when given.
        if plausibility is not None and (center is not None or scale is not None):
            raise ValueError("give plausibility or center/scale, not both")
        if rule is not None and min_trust is not None:
            raise ValueError("give rule or min_trust, not both")
        trust = {} if min_trust is None else {"min_trust": min_trust}
        self.rule = rule or HigherConfidenceWins(**trust)
        self.prompts = prompts
        self.plausibility = plausibility or Plausibility(
            center=1.0 if center is None else center,
            scale=1.0 if scale is None else scale,
        )

    def plan(self, case: Case) -> Plan[SituatedVerdict]:
        """Context answer, closed-book answer, plausibility, then the rule."""
        answer, confidence = yield from self._context_answer(case)
        if answer is None:
            reason = "the model gave no answer from the context"
            return unusable(self.name, SignalStatus.FAILED, reason)
        if confidence is None:
            return unusable(self.name, SignalStatus.SKIPPED, _NO_CONFIDENCE)
        internal, internal_confidence = yield from self._closed_book(case.question)
        raw = yield from self._plausibility(case, answer)
        evidence = RCREvidence(
            context_answer=answer,
            context_confidence=confidence,
            context_support=context_support(answer, case.context),
            internal_answer=internal,
            internal_confidence=internal_confidence or 0.0,
            plausibility=raw,
            context_trust=None if raw is None else self.plausibility.trust(raw),
            answers_agree=internal is not None and answers_match(internal, answer),
        )
        return _verdict(self.name, self.rule.choose(evidence), evidence)

    def _context_answer(self, case: Case) -> _Answer:
        p, asked = self.prompts, {"question": case.question, "context": case.context}
        if case.answer is None:
            reply = yield from complete(p.request("context", **asked))
            answer = parse_final_answer(reply.text, first_line_fallback=True)
            return answer, mean_prob(reply.logprobs)
        logprobs = case.answer_logprobs
        if logprobs is None and case.can_score:
            logprobs = yield from score(p.scoring("context", case.answer, **asked))
        return case.answer, mean_prob(logprobs)

    def _closed_book(self, question: str) -> _Answer:
        asked = self.prompts.request("closed_book", question=question)
        reply = yield from complete(asked)
        internal = parse_final_answer(reply.text, first_line_fallback=True)
        return internal, mean_prob(reply.logprobs) if internal else None

    def _plausibility(self, case: Case, answer: str) -> Plan[float | None]:
        if not case.can_score:
            return None
        p = self.prompts
        asked = p.scoring("closed_book", answer, question=case.question)
        with_question = yield from score(asked)
        without = yield from score(p.scoring("closed_book", answer, question=""))
        return self.plausibility.raw(with_question, without)


def _verdict(method: str, choice: RCRChoice, e: RCREvidence) -> SituatedVerdict:
    return SituatedVerdict(
        method=method,
        answer=choice.answer,
        source=choice.source,
        confidence=choice.confidence,
        conflict=choice.conflict,
        conflict_detail=choice.conflict_detail,
        reasons=choice.reasons,
        internal_answer=e.internal_answer,
        context_answer=e.context_answer,
        context_trust=e.context_trust,
    )
