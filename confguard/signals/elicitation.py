"""Verbalized confidence elicitation: ask the model how sure it is, in words.

Tian et al. (2023), "Just Ask for Calibration": a model asked for an answer and
a confidence ("verb. 1S top-1"), or for its k best guesses each with a
probability ("top-k"), states confidences that are often better calibrated than
its token probabilities. For base models the prompts here are completion-style
few-shot prompts in the RAG's Context / Question / Answer format, extended by a
``Confidence: NN%`` line. The stated numbers are read by
`confguard.signals.verbal.find_statements`.

`ElicitedConfidence` scores the observed answer: its answer slot is filled with
that answer, so the model states a confidence about it. `elicit` asks for a fresh
answer and a confidence in one call.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field

from confguard.llm.base import GenerationRequest, Generator
from confguard.observation import Observation
from confguard.prompts import EIFFEL_TOWER, KILIMANJARO
from confguard.results import SignalResult
from confguard.signals._plans import complete
from confguard.signals.base import BaseSignal, DeclaredCost, Plan, run_plan
from confguard.signals.verbal import find_statements
from confguard.text import token_f1

__all__ = [
    "ElicitationStyle",
    "Elicited",
    "ElicitedConfidence",
    "Guess",
    "PlainStyle",
    "TopKStyle",
    "elicit",
    "parse_guesses",
]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Guess(_Frozen):
    """One stated answer and the probability the model gave it."""

    answer: str
    confidence: float | None = Field(default=None, ge=0.0, le=1.0)


class Elicited(_Frozen):
    """A reply parsed into guesses (the first is the answer)."""

    reply: str
    guesses: tuple[Guess, ...]

    @property
    def answer(self) -> str | None:
        """The top guess, if any."""
        return self.guesses[0].answer if self.guesses else None

    @property
    def confidence(self) -> float | None:
        """The top guess's stated confidence, if any."""
        return self.guesses[0].confidence if self.guesses else None


# Written for confguard; the same worlds as the RAG's worked examples.
_SHOTS: tuple[tuple[str, str, tuple[tuple[str, int], ...]], ...] = (
    (
        EIFFEL_TOWER,
        "For which event was the Eiffel Tower built?",
        (("the 1889 World's Fair", 95), ("the 1900 Olympics", 5)),
    ),
    (
        KILIMANJARO,
        "Which country is Mount Kilimanjaro in?",
        (("Kenya", 20), ("Tanzania", 75)),
    ),
    (
        "Penicillin was discovered by Alexander Fleming in 1928 in London.",
        "Who discovered penicillin, and where?",
        (("Alexander Fleming", 60), ("Louis Pasteur", 10)),
    ),
)


def _head(context: str, question: str) -> str:
    return f"Context: {' '.join(context.split())}\nQuestion: {question.strip()}\n"


def _percent(value: int) -> str:
    return f"(confidence {value}%)"


class ElicitationStyle(Protocol):
    """A prompt format and its parser (plain top-1, or top-k guesses)."""

    max_tokens: int

    def prompt(self, question: str, contexts: Sequence[str], answer: str | None) -> str:
        """The prompt; with `answer` given, the model only states a confidence."""
        ...

    def parse(self, reply: str, answer: str | None) -> Elicited:
        """The guesses in a reply (with `answer` given, it is the top guess)."""
        ...


class PlainStyle:
    """One answer and "Confidence: NN%" (verb. 1S top-1).

    Example:
        >>> PlainStyle().parse(" 80%", answer="Paris").confidence
        0.8
    """

    max_tokens = 24

    def prompt(self, question: str, contexts: Sequence[str], answer: str | None) -> str:
        """Few-shot Context / Question / Answer / Confidence blocks."""
        blocks = [
            _head(c, q) + f"Answer: {g[0][0]}\nConfidence: {g[0][1]}%\n"
            for c, q, g in _SHOTS
        ]
        case = _head(" ".join(contexts), question) + "Answer:"
        if answer is not None:
            case += f" {answer.strip()}\nConfidence:"
        return "\n".join([*blocks, case])

    def parse(self, reply: str, answer: str | None) -> Elicited:
        """Read "answer\\nConfidence: NN%" (or just "NN%" after a given answer)."""
        if answer is not None:
            text, stated = answer, _stated(f"Confidence: {_first_line(reply)}")
        else:
            text, _, rest = reply.strip().partition("\n")
            stated = _stated(_first_line(rest)) if rest else None
        return Elicited(
            reply=reply, guesses=(Guess(answer=text.strip(), confidence=stated),)
        )


class TopKStyle:
    """The k best guesses, each with a probability (verb. 1S top-k).

    Example:
        >>> TopKStyle().parse(" 1. Paris (confidence 70%) 2. Lyon (confidence 20%)",
        ...                   answer=None).guesses[1].confidence
        0.2
    """

    def __init__(self, k: int = 2) -> None:
        if k < 2:
            raise ValueError(f"top-k elicitation needs k >= 2, got {k}")
        self.k = k
        self.max_tokens = 20 * k

    def prompt(self, question: str, contexts: Sequence[str], answer: str | None) -> str:
        """Few-shot blocks listing numbered guesses with confidences."""
        blocks = [_head(c, q) + f"Guesses:{_listing(g)}\n" for c, q, g in _SHOTS]
        case = _head(" ".join(contexts), question) + "Guesses:"
        if answer is not None:
            case += f" 1. {answer.strip()} (confidence"
        return "\n".join([*blocks, case])

    def parse(self, reply: str, answer: str | None) -> Elicited:
        """Numbered guesses; a reply continuing a given first guess is completed."""
        line = _first_line(reply)
        if answer is not None:
            line = f"1. {answer.strip()} (confidence{line}"
        guesses = parse_guesses(line)[: self.k]
        return Elicited(reply=reply, guesses=tuple(guesses))


def _listing(guesses: Sequence[tuple[str, int]]) -> str:
    return "".join(f" {i}. {a} {_percent(p)}" for i, (a, p) in enumerate(guesses, 1))


def _first_line(text: str) -> str:
    return text.strip().split("\n", 1)[0] if text.strip() else ""


def _stated(text: str) -> float | None:
    statements = find_statements(text)
    return statements[0].confidence if statements else None


_GUESS = re.compile(r"(?:^|\s)\d+\.\s+(.*?)(?=\s+\d+\.\s|$)")


def parse_guesses(text: str) -> list[Guess]:
    """Numbered guesses "1. X (confidence 70%) 2. Y (confidence 20%)" in order.

    Example:
        >>> [g.answer for g in parse_guesses("1. Paris (confidence 70%) 2. Lyon")]
        ['Paris', 'Lyon']
    """
    guesses = []
    for match in _GUESS.finditer(text):
        body = match.group(1).strip()
        statements = find_statements(body)
        cut = statements[0].start if statements else len(body)
        answer = body[:cut].rstrip(" (,;-")
        if answer:
            stated = statements[0].confidence if statements else None
            guesses.append(Guess(answer=answer, confidence=stated))
    return guesses


def elicit(
    generator: Generator,
    question: str,
    contexts: Sequence[str],
    style: ElicitationStyle | None = None,
) -> Elicited:
    """Ask for a fresh answer (or k guesses) with stated confidences, in one call.

    Example:
        >>> elicit(default_generator(), "Who won?", ["The Broncos won."]).confidence
    """
    style = style or PlainStyle()
    reply, _ = run_plan(_ask(style, question, contexts, None), generator)
    return style.parse(reply, None)


def _ask(
    style: ElicitationStyle, question: str, contexts: Sequence[str], answer: str | None
) -> Plan[str]:
    """One call for the style's prompt; returns the reply's text."""
    # A fresh answer spans two lines; a stated confidence after a given answer, one.
    request = GenerationRequest(
        prompt=style.prompt(question, contexts, answer),
        max_tokens=style.max_tokens,
        stop=("\n\n",) if answer is None else ("\n",),
    )
    completion = yield from complete(request)
    return completion.text


class ElicitedConfidence(BaseSignal):
    """The confidence the model states about the observed answer (one LLM call).

    With `TopKStyle` the answer is the first guess; the confidence is its stated
    probability.

    Example:
        >>> ElicitedConfidence(default_generator()).score(obs).confidence
    """

    def __init__(
        self,
        generator: Generator,
        style: ElicitationStyle | None = None,
        *,
        name: str = "elicited_confidence",
    ) -> None:
        self.generator = generator
        self.style = style or PlainStyle()
        self.name = name
        self.cost = DeclaredCost(llm_calls=1, relative=0.8)

    def _plan(self, obs: Observation) -> Plan[SignalResult]:
        if not obs.answer.strip():
            return SignalResult.skipped(self.name, "answer is empty")
        contexts = [c.text for c in obs.contexts]
        reply = yield from _ask(self.style, obs.question, contexts, obs.answer)
        return self._result(obs, reply)

    def _result(self, obs: Observation, reply: str) -> SignalResult:
        elicited = self.style.parse(reply, obs.answer)
        stated = _matching(elicited, obs.answer)
        if stated is None:
            return SignalResult.failed(
                self.name, f"reply {reply!r} states no confidence for the answer"
            )
        details: dict[str, Any] = {
            "reply": reply,
            "guesses": [g.model_dump() for g in elicited.guesses],
        }
        return SignalResult(
            name=self.name, confidence=stated, raw=stated, details=details
        )


def _matching(elicited: Elicited, answer: str) -> float | None:
    """The stated confidence of the first guess that matches the answer."""
    for guess in elicited.guesses:
        if guess.confidence is not None and token_f1(guess.answer, [answer]) >= 0.5:
            return guess.confidence
    return None
