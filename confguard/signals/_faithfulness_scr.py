"""Self-guided confidence reasoning (SCR): the model judges the document itself.

Implicit: one prompt warns that the document may be planted and asks for the answer.
Explicit: one generation in steps (closed-book answer, the document's answer, the
model's confidence in its own answer, whether the document is deceptive) ending in a
"Final answer:" line. The confidence is the geometric-mean probability of the final
answer's tokens; the conflict is read from the answer and, for explicit, the steps.
"""

from __future__ import annotations

from confguard.llm.base import Completion
from confguard.results import SignalStatus
from confguard.signals._faithfulness_core import (
    Case,
    SituatedVerdict,
    Source,
    answers_match,
    mean_prob,
    source_of,
    span_logprobs,
    unusable,
)
from confguard.signals._faithfulness_prompts import (
    COMPLETION_PROMPTS,
    PromptKind,
    PromptSet,
    parse_deceptive,
    parse_final_answer,
    parse_label,
    parse_own_confidence,
)
from confguard.signals._plans import complete
from confguard.signals.base import Plan


def _conflict(case: Case, answer: str, source: Source) -> str | None:
    if case.answer is not None and not answers_match(answer, case.answer):
        return f"the model answers {answer!r}, not the given answer {case.answer!r}"
    if source in (Source.INTERNAL, Source.NEITHER):
        return f"the model answers {answer!r}, which the context does not state"
    return None


def _verdict(
    method: str,
    case: Case,
    reply: Completion,
    answer: str,
    internal: str | None = None,
    steps: tuple[str, ...] = (),
) -> SituatedVerdict:
    confidence = mean_prob(span_logprobs(reply, answer))
    if confidence is None:
        reason = "the generator returned no logprobs; SCR's confidence needs them"
        return unusable(method, SignalStatus.SKIPPED, reason)
    source = source_of(answer, case.context, internal)
    detail = _conflict(case, answer, source)
    summary = f"answer {answer!r} follows {source.value}, confidence {confidence:.2f}"
    return SituatedVerdict(
        method=method,
        answer=answer,
        source=source,
        confidence=confidence,
        conflict=detail is not None,
        conflict_detail=detail,
        reasons=(summary, *steps),
        internal_answer=internal,
        context_answer=case.answer,
    )


def unparsed(reply: Completion) -> str:
    """The reason given when no final answer can be read from a reply."""
    cut = " (cut at max_tokens)" if reply.finish_reason == "length" else ""
    return f"no final answer could be parsed from the reply{cut}: {reply.text[:120]!r}"


class _SCR:
    """One generation with the prompt set's SCR prompt; subclasses read the reply."""

    name: str
    kind: PromptKind
    """Which of the prompt set's prompts the method asks with."""
    llm_calls = 1

    def __init__(self, prompts: PromptSet = COMPLETION_PROMPTS) -> None:
        self.prompts = prompts

    def plan(self, case: Case) -> Plan[SituatedVerdict]:
        """One generation, then the verdict read from it."""
        asked = {"question": case.question, "context": case.context}
        reply = yield from complete(self.prompts.request(self.kind, **asked))
        return self.read(case, reply)

    def read(self, case: Case, reply: Completion) -> SituatedVerdict:
        """The verdict in one reply."""
        raise NotImplementedError


class SCRImplicit(_SCR):
    """Self-guided confidence reasoning in one prompt: judge the document, answer.

    Example:
        >>> SituatedFaithfulness(generator, mode="scr_implicit").judge(q, [doc])
    """

    name = "scr_implicit"
    kind: PromptKind = "scr_implicit"

    def read(self, case: Case, reply: Completion) -> SituatedVerdict:
        """The answer is the reply's 'Final answer:' line or its first line."""
        answer = parse_final_answer(reply.text, first_line_fallback=True)
        if answer is None:
            return unusable(self.name, SignalStatus.FAILED, unparsed(reply))
        return _verdict(self.name, case, reply, answer)


class SCRExplicit(_SCR):
    """Self-guided confidence reasoning in steps, ending in a 'Final answer:' line.

    The reply is cut at the prompt set's `explicit_max_tokens` (64 for completion
    prompts) to keep it cheap; a reply cut before its final line is `failed`.

    Example:
        >>> SituatedFaithfulness(generator, mode="scr_explicit").judge(q, [doc])
    """

    name = "scr_explicit"
    kind: PromptKind = "scr_explicit"

    def read(self, case: Case, reply: Completion) -> SituatedVerdict:
        """The reply parsed step by step."""
        text = self.prompts.explicit_lead + reply.text
        answer = parse_final_answer(text, first_line_fallback=False)
        if answer is None:
            return unusable(self.name, SignalStatus.FAILED, unparsed(reply))
        internal = parse_label(text, "own_answer")
        verdict = _verdict(self.name, case, reply, answer, internal, _steps(text))
        return _with_stated_conflict(verdict, text)


def _steps(text: str) -> tuple[str, ...]:
    deceptive = {True: "yes", False: "no", None: None}[parse_deceptive(text)]
    said = {
        "closed-book answer": parse_label(text, "own_answer"),
        "document's answer": parse_label(text, "document_answer"),
        "own confidence": parse_own_confidence(text),
        "document deceptive": deceptive,
    }
    return tuple(f"{k}: {v}" for k, v in said.items() if v is not None)


def _with_stated_conflict(verdict: SituatedVerdict, text: str) -> SituatedVerdict:
    """Report a conflict when the model itself calls the document deceptive."""
    if not verdict.ok or verdict.conflict or parse_deceptive(text) is not True:
        return verdict
    said = parse_label(text, "document_answer")
    detail = f"the model calls the document deceptive (its answer: {said!r})"
    return verdict.model_copy(update={"conflict": True, "conflict_detail": detail})
