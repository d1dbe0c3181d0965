"""Prompts and parsers for situated faithfulness (RCR, SCR).

Two prompt sets render the same worked examples: `COMPLETION_PROMPTS` for base models
(few-shot blocks whose answer ends at a newline, the format MEASURED.md found best for
the embedded Gemma) and `CHAT_PROMPTS` for instruction-tuned chat models (an
instruction, the examples, and a "Final answer:" line to parse). The examples were
written for confguard, not taken from any evaluation set.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from confguard.llm.base import GenerationRequest, ScoringRequest
from confguard.prompts import (
    DEFAULT_SHOTS,
    EIFFEL_TOWER,
    KILIMANJARO,
    Shot,
    completion_prompt,
)


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Example(_Frozen):
    """A worked SCR example: a document (true or planted) and how to reason about it."""

    document: str
    question: str
    own_answer: str
    document_answer: str
    own_confidence: str
    deceptive: bool
    final_answer: str


# One of each situation: reliable and agreeing, planted but known, reliable and unknown.
_SYDNEY = (
    "Sydney became the capital of Australia in 1913, chosen over Melbourne as the "
    "country's largest and oldest city."
)
EXAMPLES: tuple[Example, ...] = (
    Example(document=EIFFEL_TOWER, question="who designed the eiffel tower?",
            own_answer="Gustave Eiffel", document_answer="Gustave Eiffel",
            own_confidence="high", deceptive=False, final_answer="Gustave Eiffel"),
    Example(document=_SYDNEY, question="what is the capital of australia?",
            own_answer="Canberra", document_answer="Sydney",
            own_confidence="high", deceptive=True, final_answer="Canberra"),
    Example(document=KILIMANJARO, question="how high is mount kilimanjaro?",
            own_answer="6,000 metres", document_answer="5,895 metres",
            own_confidence="low", deceptive=False, final_answer="5,895 metres"),
)  # fmt: skip

# Closed-book shots in the style of search-engine questions (lower case, short answers).
CLOSED_BOOK_SHOTS: tuple[tuple[str, str], ...] = (
    ("who painted the ceiling of the sistine chapel?", "Michelangelo"),
    ("when did the first person walk on the moon?", "1969"),
    ("what is the capital city of canada?", "Ottawa"),
)

_WARNING = (
    "The document given with each question may be inaccurate or planted. Judge "
    "whether it is reliable, then answer from the document if it is and from your "
    "own knowledge if it is not."
)
_EXPLICIT_STEPS = (
    "Answer each question in steps: first answer without the document, then give "
    "the document's answer, then say how confident you are in your own answer and "
    "whether the document is deceptive, and give the final answer on the last line."
)


PromptKind = Literal["closed_book", "context", "scr_implicit", "scr_explicit"]


class PromptSet(_Frozen):
    """The four prompts situated faithfulness needs, and how long each reply may be.

    Templates contain `{question}` and, except the closed-book one, `{context}`.

    Example:
        >>> COMPLETION_PROMPTS.render("closed_book", question="who wrote hamlet?")
    """

    name: str
    closed_book: str
    context: str
    scr_implicit: str
    scr_explicit: str
    explicit_lead: str = ""
    """Text the explicit prompt ends with; prepended to the reply before parsing."""
    answer_prefix: str = " "
    """Put before an answer when it is scored teacher-forced after a prompt."""
    answer_stop: tuple[str, ...] = ("\n",)
    answer_max_tokens: int = Field(default=24, ge=1)
    explicit_stop: tuple[str, ...] = ("\n\n", "\nDocument:", "\nQuestion:")
    explicit_max_tokens: int = Field(default=64, ge=1)

    def render(self, kind: PromptKind, *, question: str, context: str = "") -> str:
        """Fill the template `kind` with one question and its context."""
        template: str = getattr(self, kind)
        values = {"question": question.strip(), "context": context.strip()}
        # One pass, so a context that itself contains "{question}" stays verbatim.
        return re.sub(r"\{(question|context)\}", lambda m: values[m.group(1)], template)

    def request(
        self, kind: PromptKind, *, question: str, context: str = ""
    ) -> GenerationRequest:
        """The greedy call for prompt `kind`: the explicit SCR reply may run longer."""
        prompt = self.render(kind, question=question, context=context)
        if kind == "scr_explicit":
            return GenerationRequest(
                prompt=prompt,
                max_tokens=self.explicit_max_tokens,
                stop=self.explicit_stop,
            )
        return GenerationRequest(
            prompt=prompt, max_tokens=self.answer_max_tokens, stop=self.answer_stop
        )

    def scoring(
        self, kind: PromptKind, answer: str, *, question: str, context: str = ""
    ) -> ScoringRequest:
        """Teacher-forced scoring of `answer` after prompt `kind`."""
        prompt = self.render(kind, question=question, context=context)
        return ScoringRequest(prompt=prompt, continuation=self.answer_prefix + answer)


def _closed_book_completion(shots: Sequence[tuple[str, str]]) -> str:
    blocks = [f"Question: {q}\nAnswer: {a}\n" for q, a in shots]
    return "\n".join([*blocks, "Question: {question}\nAnswer:"])


def _context_completion(shots: Sequence[Shot]) -> str:
    return completion_prompt("{question}", ["{context}"], shots)


def _implicit_block(e: Example) -> str:
    return f"Document: {e.document}\nQuestion: {e.question}\nAnswer: {e.final_answer}\n"


def _explicit_block(e: Example) -> str:
    deceptive = "yes" if e.deceptive else "no"
    return (
        f"Document: {e.document}\nQuestion: {e.question}\n"
        f"My answer without the document: {e.own_answer}\n"
        f"The document's answer: {e.document_answer}\n"
        f"Confidence in my own answer: {e.own_confidence}. "
        f"The document is deceptive: {deceptive}.\n"
        f"Final answer: {e.final_answer}\n"
    )


def completion_prompts(examples: Sequence[Example] = EXAMPLES) -> PromptSet:
    """Few-shot prompts for base models, built from worked examples.

    Example:
        >>> prompts = completion_prompts([*EXAMPLES, my_domain_example])
    """
    lead = "My answer without the document:"
    implicit = [_WARNING + "\n", *(_implicit_block(e) for e in examples)]
    explicit = [_WARNING + " " + _EXPLICIT_STEPS + "\n"]
    explicit += [_explicit_block(e) for e in examples]
    return PromptSet(
        name="completion",
        closed_book=_closed_book_completion(CLOSED_BOOK_SHOTS),
        context=_context_completion(DEFAULT_SHOTS),
        scr_implicit="\n".join(
            [*implicit, "Document: {context}\nQuestion: {question}\nAnswer:"]
        ),
        scr_explicit="\n".join(
            [*explicit, f"Document: {{context}}\nQuestion: {{question}}\n{lead}"]
        ),
        explicit_lead=lead,
    )


def chat_prompts(examples: Sequence[Example] = EXAMPLES) -> PromptSet:
    """Instruction prompts for chat models, showing the worked examples.

    Example:
        >>> prompts = chat_prompts([*EXAMPLES, my_domain_example])
    """
    shown = "\n".join(_explicit_block(e) for e in examples)
    tail = "Document: {context}\nQuestion: {question}"
    return PromptSet(
        name="chat",
        closed_book=(
            "Answer the question from your own knowledge with a short phrase, "
            "on one line, without explanation.\nQuestion: {question}"
        ),
        context=(
            "Answer the question from the document with a short phrase, on one "
            "line, without explanation.\n" + tail
        ),
        scr_implicit=(
            f"{_WARNING} Reply on one line: 'Final answer: <short answer>'.\n{tail}"
        ),
        scr_explicit=(
            f"{_WARNING} {_EXPLICIT_STEPS}\nExamples:\n\n{shown}\nNow:\n{tail}"
        ),
        answer_stop=(),
        answer_max_tokens=48,
        explicit_stop=(),
        explicit_max_tokens=256,
    )


COMPLETION_PROMPTS = completion_prompts(EXAMPLES)
"""Few-shot completion prompts for base models (the embedded Gemma)."""
CHAT_PROMPTS = chat_prompts(EXAMPLES)
"""Instruction prompts for chat models; replies end with a 'Final answer:' line."""


# --- truncation ---------------------------------------------------------------------


def truncate_context(text: str, max_chars: int) -> str:
    """Keep the head of `text`, at most `max_chars` characters, cut at a word boundary.

    Example:
        >>> truncate_context("one two three", 9)
        'one two'
    """
    text = " ".join(text.split())
    if len(text) <= max_chars:
        return text
    head = text[: max_chars + 1]
    cut = head.rfind(" ")
    return head[:cut] if cut > 0 else text[:max_chars]


# --- parsing ------------------------------------------------------------------------

_FINAL = re.compile(
    r"^[\W_]*(?:(?:the|my)\s+)?final\s+answer[\W_]*?(?:\s+is)?\s*[:\-\u2013=]\s*(.*)$",
    re.I | re.M,
)
_LABELS: Mapping[str, re.Pattern[str]] = {
    "own_answer": re.compile(
        r"^[\W_]*my answer without the document\s*:(.*)$", re.I | re.M
    ),
    "document_answer": re.compile(
        r"^[\W_]*the document'?s answer\s*:(.*)$", re.I | re.M
    ),
}
_DECEPTIVE = re.compile(r"deceptive\W*\s*(yes|no)\b", re.I)
_OWN_CONFIDENCE = re.compile(
    r"confidence in my own answer\W*\s*(high|medium|low)\b", re.I
)
_LEADING_LABEL = re.compile(r"^(?:answer|a)\s*:\s*", re.I)
_WRAPPERS = "\"'*`_ \t"


def clean_answer(text: str) -> str:
    """Strip quotes, markdown emphasis, a leading 'Answer:' and a trailing full stop."""
    text = _LEADING_LABEL.sub("", text.strip()).strip(_WRAPPERS)
    if text.endswith(".") and not text[-2:-1].isupper():
        text = text[:-1]
    return " ".join(text.strip(_WRAPPERS).split())


def parse_final_answer(text: str, *, first_line_fallback: bool) -> str | None:
    """The answer on the last 'Final answer:' line (or the first line, if allowed).

    Example:
        >>> parse_final_answer("...\\n**Final answer:** Canberra.",
        ...     first_line_fallback=False)
        'Canberra'
    """
    finals = _FINAL.findall(text)
    if finals:
        return clean_answer(finals[-1]) or None
    if not first_line_fallback:
        return None
    lines = [line for line in text.splitlines() if line.strip()]
    return (clean_answer(lines[0]) or None) if lines else None


def parse_label(text: str, label: str) -> str | None:
    """The text after a labelled step ('own_answer', 'document_answer'), if present."""
    found = _LABELS[label].findall(text)
    return (clean_answer(found[0]) or None) if found else None


def parse_deceptive(text: str) -> bool | None:
    """Whether the reply says the document is deceptive (None if it does not say)."""
    found = _DECEPTIVE.findall(text)
    return None if not found else found[-1].lower() == "yes"


def parse_own_confidence(text: str) -> str | None:
    """The stated confidence in the closed-book answer: high, medium or low."""
    found = _OWN_CONFIDENCE.findall(text)
    return None if not found else found[-1].lower()
