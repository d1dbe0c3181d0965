"""LLM-as-judge with distribution-sensitive scoring (TrustJudge, Wang et al., 2025).

A judge rates (question, contexts, answer) on an integer scale. Instead of the
single most likely rating, the score is the expectation over the rating tokens'
probabilities (read from the top-k logprobs of the first generated rating token,
renormalised over the rating tokens the model exposes); the uncertainty is the
entropy of that distribution. Without logprobs, K sampled judgements give an
empirical distribution (``details["method"] == "sampled"``).

Multi-digit ratings: tokenizers that split numbers into digits (Gemma does) only
expose the first digit's distribution. A digit that can start several ratings
("1" on 1-10 is 1 or 10) is resolved along the generated path from the next
position's top-k; digits the model did not choose are spread uniformly over the
ratings they can start, and that share is reported as ``details["unresolved"]``.
Prefer the 1-5 scale with such models: it is read exactly from one token.

Prompts and their hardening against planted instructions live in
`confguard.signals._judge_prompts`; pairwise judging in `confguard.signals.pairwise`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from confguard.llm.base import Completion, GenerationRequest, Generator
from confguard.observation import Observation, TokenLogprob
from confguard.results import SignalResult
from confguard.signals._judge_prompts import (
    CORRECTNESS,
    GROUNDEDNESS,
    Criterion,
    JudgeShot,
    find_injections,
    judge_prompt,
)
from confguard.signals._plans import complete, generate
from confguard.signals.base import BaseSignal, DeclaredCost, Plan

__all__ = [
    "CORRECTNESS",
    "GROUNDEDNESS",
    "Criterion",
    "Judge",
    "JudgeShot",
    "RatingDistribution",
    "RatingScale",
    "distribution_entropy",
    "expected_score",
    "rating_distribution",
    "read_rating",
    "sampled_distribution",
]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


# --- scale and distribution maths --------------------------------------------


class RatingScale(_Frozen):
    """An integer rating scale, e.g. 1-5, 1-10 or 1-100."""

    low: int = Field(default=1, ge=0)
    high: int = 5

    @model_validator(mode="after")
    def _ordered(self) -> RatingScale:
        if self.high <= self.low:
            raise ValueError(
                f"rating scale needs low < high, got {self.low}-{self.high}"
            )
        return self

    def contains(self, key: str) -> bool:
        """Whether `key` spells a rating on this scale (no leading zeros)."""
        return key == str(int(key)) and self.low <= int(key) <= self.high

    def starting_with(self, prefix: str) -> list[int]:
        """Every rating whose digits start with `prefix`."""
        return [r for r in range(self.low, self.high + 1) if str(r).startswith(prefix)]

    def normalise(self, rating: float) -> float:
        """Map a rating to [0, 1]."""
        return (rating - self.low) / (self.high - self.low)

    def rating_for(self, quality: float) -> int:
        """The rating of a quality in [0, 1], rounded half up."""
        return math.floor(self.low + quality * (self.high - self.low) + 0.5)


def expected_score(probs: Mapping[int, float]) -> float:
    """The probability-weighted mean rating.

    Example:
        >>> expected_score({4: 0.5, 5: 0.5})
        4.5
    """
    return sum(r * p for r, p in probs.items()) / sum(probs.values())


def distribution_entropy(probs: Mapping[int, float]) -> float:
    """Shannon entropy of the rating distribution, in nats.

    Example:
        >>> round(distribution_entropy({1: 0.5, 2: 0.5}), 4)
        0.6931
    """
    total = sum(probs.values())
    terms = (p / total * math.log(p / total) for p in probs.values() if p > 0)
    return max(0.0, -sum(terms))  # never -0.0


class RatingDistribution(_Frozen):
    """Probabilities over ratings, and how they were obtained."""

    scale: RatingScale
    probs: dict[int, float]
    method: Literal["logprobs", "sampled"]
    coverage: float = Field(ge=0.0, le=1.0)
    """Logprobs: share of the exposed top-k mass on rating tokens; sampled: share of
    the samples that carried a valid rating."""
    unresolved: float = Field(default=0.0, ge=0.0, le=1.0)

    @property
    def expected(self) -> float:
        """The expected rating (TrustJudge's score)."""
        return expected_score(self.probs)

    @property
    def argmax(self) -> int:
        """The most likely rating (the lowest on ties)."""
        return max(sorted(self.probs), key=lambda r: self.probs[r])

    @property
    def entropy(self) -> float:
        """Entropy in nats."""
        return distribution_entropy(self.probs)

    def details(self) -> dict[str, Any]:
        """What a SignalResult reports about this distribution."""
        size = self.scale.high - self.scale.low + 1
        return {
            "method": self.method,
            "scale": [self.scale.low, self.scale.high],
            "expected": self.expected,
            "argmax": self.argmax,
            "argmax_confidence": self.scale.normalise(self.argmax),
            "entropy": self.entropy,
            "normalised_entropy": self.entropy / math.log(size),
            "probs": {str(r): p for r, p in sorted(self.probs.items())},
            "coverage": self.coverage,
            "unresolved": self.unresolved,
        }


_DIGITS = re.compile(r"[0-9]+")


def _uniform(ratings: list[int], mass: float) -> dict[int, float]:
    return {r: mass / len(ratings) for r in ratings}


def _add(into: dict[int, float], more: Mapping[int, float]) -> None:
    for rating, p in more.items():
        into[rating] = into.get(rating, 0.0) + p


def _continue(
    prefix: str, steps: Sequence[TokenLogprob], scale: RatingScale, mass: float
) -> tuple[dict[int, float], float]:
    """Split `mass` over the ratings starting with `prefix` along the generated path."""
    if scale.starting_with(prefix) == [int(prefix)]:
        return {int(prefix): mass}, 0.0
    if not steps and scale.contains(prefix):  # generation ended after the prefix
        return {int(prefix): mass}, 0.0
    branches = _branches(prefix, steps[0], scale) if steps else {}
    if not branches:
        return _uniform(scale.starting_with(prefix), mass), mass
    chosen = prefix + steps[0].token if _DIGITS.fullmatch(steps[0].token) else prefix
    return _split(branches, chosen, prefix, steps[1:], scale, mass)


def _branches(prefix: str, step: TokenLogprob, scale: RatingScale) -> dict[str, float]:
    """Mass of each way to go on from `prefix`: one more digit, or stop (`prefix`)."""
    branches: dict[str, float] = {}
    for alt in step.top_logprobs:
        key = prefix + alt.token if _DIGITS.fullmatch(alt.token) else prefix
        if scale.starting_with(key) and (key != prefix or scale.contains(prefix)):
            branches[key] = branches.get(key, 0.0) + math.exp(alt.logprob)
    return {k: p for k, p in branches.items() if p > 0}


def _split(
    branches: dict[str, float],
    chosen: str,
    prefix: str,
    rest: Sequence[TokenLogprob],
    scale: RatingScale,
    mass: float,
) -> tuple[dict[int, float], float]:
    """Share `mass` over the branches; only the chosen one can be followed further."""
    total = sum(branches.values())
    probs: dict[int, float] = {}
    unresolved = 0.0
    for key, p in branches.items():
        share = mass * p / total
        if key == prefix:
            sub, lost = {int(prefix): share}, 0.0
        elif key == chosen:
            sub, lost = _continue(key, rest, scale, share)
        else:
            sub, lost = _unchosen(key, scale, share)
        _add(probs, sub)
        unresolved += lost
    return probs, unresolved


def _unchosen(
    key: str, scale: RatingScale, mass: float
) -> tuple[dict[int, float], float]:
    """A digit string the model did not pick: exact if it is complete, else uniform."""
    ratings = scale.starting_with(key)
    if ratings == [int(key)]:
        return {int(key): mass}, 0.0
    return _uniform(ratings, mass), mass


def rating_distribution(
    logprobs: Sequence[TokenLogprob], scale: RatingScale
) -> RatingDistribution | None:
    """The rating distribution read at the first non-blank generated token.

    Returns None when no rating token is among that position's top-k.

    Example:
        >>> from confguard.testing import token
        >>> rating_distribution([token("5", 0.6, {"4": 0.3})], RatingScale()).expected
        4.666...
    """
    start = next((i for i, t in enumerate(logprobs) if t.token.strip()), None)
    if start is None:
        return None
    step, rest = logprobs[start], logprobs[start + 1 :]
    exposed = sum(math.exp(a.logprob) for a in step.top_logprobs)
    firsts: dict[str, float] = {}
    for alt in step.top_logprobs:
        key = alt.token.strip()
        if _DIGITS.fullmatch(key) and scale.starting_with(key):
            firsts[key] = firsts.get(key, 0.0) + math.exp(alt.logprob)
    total = sum(firsts.values())
    if total <= 0:
        return None
    return _resolve(firsts, step.token.strip(), rest, scale, total / exposed)


def _resolve(
    firsts: dict[str, float],
    chosen: str,
    rest: Sequence[TokenLogprob],
    scale: RatingScale,
    coverage: float,
) -> RatingDistribution:
    probs, unresolved = _split(firsts, chosen, "", rest, scale, 1.0)
    return RatingDistribution(
        scale=scale,
        probs=probs,
        method="logprobs",
        coverage=min(1.0, coverage),
        unresolved=min(1.0, unresolved),
    )


_RATING_TEXT = re.compile(r"^\s*(?:rating\s*[:=]?\s*)?(-?[0-9]+)", re.IGNORECASE)


def read_rating(text: str) -> int | None:
    """The integer a judge reply starts with, or None.

    Example:
        >>> read_rating(" 4\\n")
        4
    """
    match = _RATING_TEXT.match(text)
    return int(match.group(1)) if match else None


def sampled_distribution(
    texts: Sequence[str], scale: RatingScale
) -> RatingDistribution | str:
    """The empirical distribution of K sampled ratings, or why there is none.

    Example:
        >>> sampled_distribution(["4", "5", "5", "x"], RatingScale()).probs
        {4: 0.333..., 5: 0.666...}
    """
    ratings = [read_rating(t) for t in texts]
    valid = [r for r in ratings if r is not None and scale.low <= r <= scale.high]
    if not valid:
        found = [r for r in ratings if r is not None]
        if found:
            return f"rating {found[0]} out of range {scale.low}-{scale.high}"
        return f"judge reply {texts[0]!r} has no rating" if texts else "no judge reply"
    counts: dict[int, float] = {}
    for r in valid:
        counts[r] = counts.get(r, 0.0) + 1.0 / len(valid)
    return RatingDistribution(
        scale=scale,
        probs=dict(sorted(counts.items())),
        method="sampled",
        coverage=len(valid) / len(texts),
    )


# --- the pointwise judge -----------------------------------------------------------


class Judge(BaseSignal):
    """A TrustJudge-style LLM judge: confidence = normalised expected rating.

    One generation of a few tokens; with no logprobs, `samples` more at
    `temperature` (in one call) give an empirical distribution.

    Example:
        >>> judge = Judge(default_generator(), CORRECTNESS, RatingScale(low=1, high=5))
        >>> judge.score(obs).details["expected"]
    """

    def __init__(
        self,
        generator: Generator,
        criterion: Criterion = CORRECTNESS,
        scale: RatingScale | None = None,
        *,
        samples: int = 5,
        temperature: float = 1.0,
        top_logprobs: int = 20,
        sanitize: bool = True,
        name: str | None = None,
    ) -> None:
        if samples < 1:
            raise ValueError(f"samples must be >= 1, got {samples}")
        self.generator, self.criterion = generator, criterion
        self.scale = scale or RatingScale()
        self.samples, self.temperature = samples, temperature
        self.top_logprobs, self.sanitize = top_logprobs, sanitize
        self.name = name or f"judge_{criterion.name}"
        self.cost = DeclaredCost(llm_calls=1, relative=1.0)

    def prompt(self, obs: Observation) -> str:
        """The judge prompt for this observation."""
        contexts = [c.text for c in obs.contexts]
        return judge_prompt(
            self.criterion, self.scale, obs.question, contexts, obs.answer,
            sanitize=self.sanitize,
        )  # fmt: skip

    def _request(self, obs: Observation) -> GenerationRequest:
        """The greedy rating call: room for the rating's digits, wide top-k."""
        digits = len(str(self.scale.high))
        return GenerationRequest(
            prompt=self.prompt(obs), max_tokens=digits + 2, top_k=self.top_logprobs
        )

    def _plan(self, obs: Observation) -> Plan[SignalResult]:
        first = self._request(obs)
        reply = yield from complete(first)
        found: RatingDistribution | str | None
        if reply.logprobs is not None:
            found = rating_distribution(reply.logprobs, self.scale)
        else:
            again = first.with_(n=self.samples, temperature=self.temperature)
            samples = yield from generate(again)
            found = sampled_distribution([c.text for c in samples], self.scale)
        if found is None:
            found = _no_rating(reply.text, self.scale)
        return self._result(obs, reply, found)

    def _result(
        self, obs: Observation, reply: Completion, found: RatingDistribution | str
    ) -> SignalResult:
        if isinstance(found, str):
            return SignalResult.failed(self.name, found)
        injections = find_injections(obs.answer) + [
            i for c in obs.contexts for i in find_injections(c.text)
        ]
        details = {**found.details(), "reply": reply.text, "injections": injections}
        return SignalResult(
            name=self.name,
            confidence=min(1.0, max(0.0, self.scale.normalise(found.expected))),
            raw=found.expected,
            details=details,
        )


def _no_rating(text: str, scale: RatingScale) -> str:
    rating = read_rating(text)
    if rating is not None:
        return f"rating {rating} out of range {scale.low}-{scale.high}"
    return f"judge reply {text!r} has no rating token among its top-k logprobs"
