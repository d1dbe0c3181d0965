"""Signals read from the answer's words, with zero LLM calls.

`VerbalizedConfidence` parses a confidence the answer states ("I'm 80% sure",
"Confidence: 0.7", "confidence: high", "certainty 9/10"). `HedgingSignal` maps
hedging language ("probably", "I'm not sure", "definitely") to a confidence
through a lexicon kept in ``confguard/data/hedges.yaml``.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator, Mapping
from importlib import resources
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator

from confguard.exceptions import ConfigurationError
from confguard.observation import Observation
from confguard.results import SignalResult
from confguard.signals.base import BaseSignal, DeclaredCost

__all__ = [
    "DEFAULT_LABELS",
    "HedgeLexicon",
    "HedgingSignal",
    "StatedConfidence",
    "VerbalizedConfidence",
    "default_lexicon",
    "find_statements",
]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


# --- verbalized confidence --------------------------------------------------

Form = Literal["percent", "fraction", "probability", "tenths", "label"]


class StatedConfidence(_Frozen):
    """One confidence statement found in an answer."""

    text: str
    start: int = Field(ge=0)
    end: int = Field(ge=0)
    confidence: float = Field(ge=0.0, le=1.0)
    form: Form


DEFAULT_LABELS: Mapping[str, float] = {
    "very high": 0.95,
    "high": 0.85,
    "medium": 0.6,
    "moderate": 0.6,
    "low": 0.3,
    "very low": 0.1,
}
"""Confidence for stated labels ("confidence: high"); a hand-set prior."""

_NUM = r"(?P<num>\d+(?:\.\d+)?|\.\d+)"
_UNIT = r"(?:\s*(?P<pct>%|percent\b|per\s+cent\b)|\s*(?:/|out\s+of)\s*(?P<den>\d+)\b)"
_KEY = r"\b(?:confidence|certainty)(?:\s+(?:level|score|rating))?"
_SEP = (
    r"\s*(?:[:=]|\bis\b|\bof\b|\bat\b)?\s*"
    r"(?:(?:about|around|approximately|roughly)\s+)?~?\s*"
)
_LABEL = r"(?P<label>very\s+high|very\s+low|high|medium|moderate|low)"
_FLAGS = re.IGNORECASE

_NOT_INTERVAL = r"(?!\s+intervals?\b)"  # "95% confidence interval" is statistics
# "I'm 80% sure", "9/10 confident", "with 90 percent confidence"
_NUMBER_THEN_WORD = re.compile(
    rf"(?<![\w.]){_NUM}{_UNIT}\s+"
    rf"(?:sure|certain|confident|confidence|certainty)\b{_NOT_INTERVAL}",
    _FLAGS,
)
# "Confidence: 0.7", "certainty 9/10", "my confidence is about 85%"
_WORD_THEN_NUMBER = re.compile(rf"{_KEY}{_SEP}{_NUM}(?:{_UNIT})?(?![\d.]*\d)", _FLAGS)
# "Confidence: high", "confidence level is low"
_WORD_THEN_LABEL = re.compile(rf"{_KEY}{_SEP}{_LABEL}\b", _FLAGS)
# "high confidence" (but not "low confidence interval")
_LABEL_THEN_WORD = re.compile(
    rf"\b{_LABEL}\s+(?:confidence|certainty)\b{_NOT_INTERVAL}", _FLAGS
)


def _number_confidence(match: re.Match[str]) -> tuple[float, Form] | None:
    value = float(match["num"])
    form: Form
    if match["pct"]:
        value, form = value / 100.0, "percent"
    elif match["den"]:
        if float(match["den"]) == 0:
            return None
        value, form = value / float(match["den"]), "fraction"
    elif value <= 1.0:
        form = "probability"
    elif value <= 10.0:  # a bare "Confidence: 8" is read on a 0-10 scale
        value, form = value / 10.0, "tenths"
    elif value <= 100.0:  # and "Confidence: 85" as a percentage
        value, form = value / 100.0, "percent"
    else:
        return None
    return (value, form) if 0.0 <= value <= 1.0 else None


def _numbers(text: str) -> Iterator[StatedConfidence]:
    for pattern in (_NUMBER_THEN_WORD, _WORD_THEN_NUMBER):
        for match in pattern.finditer(text):
            parsed = _number_confidence(match)
            if parsed is not None:
                yield _statement(match, *parsed)


def _labels(text: str, labels: Mapping[str, float]) -> Iterator[StatedConfidence]:
    for pattern in (_WORD_THEN_LABEL, _LABEL_THEN_WORD):
        for match in pattern.finditer(text):
            label = " ".join(match["label"].lower().split())
            if label in labels:
                yield _statement(match, labels[label], "label")


def _statement(match: re.Match[str], confidence: float, form: Form) -> StatedConfidence:
    return StatedConfidence(
        text=match[0],
        start=match.start(),
        end=match.end(),
        confidence=confidence,
        form=form,
    )


def _without_overlaps(found: list[StatedConfidence]) -> list[StatedConfidence]:
    kept: list[StatedConfidence] = []
    for statement in sorted(found, key=lambda s: (s.start, -s.end)):
        if not kept or statement.start >= kept[-1].end:
            kept.append(statement)
    return kept


def find_statements(
    text: str, labels: Mapping[str, float] = DEFAULT_LABELS
) -> list[StatedConfidence]:
    """Every confidence statement in `text`, in reading order."""
    return _without_overlaps([*_numbers(text), *_labels(text, labels)])


class VerbalizedConfidence(BaseSignal):
    """The confidence the answer states about itself; the last statement wins.

    Percentages and "x/n" are divided out; a bare number is a probability if at
    most 1, read on a 0-10 scale if at most 10, and as a percentage up to 100.
    Labels ("high", "low", ...) map through `labels` (default `DEFAULT_LABELS`).

    Example:
        >>> from confguard.testing import make_observation
        >>> obs = make_observation("Paris. I'm 80% sure.")
        >>> VerbalizedConfidence().score(obs).confidence
        0.8
    """

    name = "verbalized_confidence"
    cost = DeclaredCost(llm_calls=0, relative=0.05, inline=True)

    def __init__(
        self, labels: Mapping[str, float] | None = None, name: str | None = None
    ) -> None:
        self._labels = dict(DEFAULT_LABELS if labels is None else labels)
        if name is not None:
            self.name = name

    def _score(self, obs: Observation) -> SignalResult:
        if not obs.answer.strip():
            return SignalResult.skipped(self.name, "answer is empty")
        statements = find_statements(obs.answer, self._labels)
        if not statements:
            return SignalResult.skipped(self.name, "answer states no confidence")
        last = statements[-1]
        return SignalResult(
            name=self.name,
            confidence=last.confidence,
            raw=last.confidence,
            details={
                "statement": last.text,
                "form": last.form,
                "statements": [s.model_dump() for s in statements],
            },
        )


# --- hedging ----------------------------------------------------------------


def _phrase_key(phrase: str) -> str:
    return " ".join(phrase.replace("\u2019", "'").lower().split())


class HedgeLexicon(_Frozen):
    """Hedging phrases mapped to confidences, and the confidence when none is found."""

    phrases: dict[str, float]
    default: float = Field(ge=0.0, le=1.0)

    @field_validator("phrases")
    @classmethod
    def _valid_phrases(cls, value: dict[str, float]) -> dict[str, float]:
        for phrase, confidence in value.items():
            if not phrase.strip():
                raise ValueError("a hedge phrase must not be empty")
            if not 0.0 <= confidence <= 1.0:
                raise ValueError(
                    f"hedge {phrase!r}: confidence {confidence} is outside [0, 1]"
                )
        return {_phrase_key(p): float(c) for p, c in value.items()}


@functools.cache
def default_lexicon() -> HedgeLexicon:
    """The packaged lexicon (confguard/data/hedges.yaml), read once."""
    source = resources.files("confguard") / "data" / "hedges.yaml"
    data = yaml.safe_load(source.read_text(encoding="utf-8"))
    try:
        return HedgeLexicon.model_validate(data)
    except ValueError as exc:
        raise ConfigurationError(f"invalid hedge lexicon {source}: {exc}") from exc


def _phrase_pattern(phrases: Mapping[str, float]) -> re.Pattern[str]:
    # Longest first: the regex takes the first alternative that matches here.
    ordered = sorted(phrases, key=len, reverse=True)
    alternatives = "|".join(r"\s+".join(map(re.escape, p.split())) for p in ordered)
    return re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)", re.IGNORECASE)


class HedgingSignal(BaseSignal):
    """Hedging language mapped to a confidence: the most doubtful phrase found wins.

    Matching is case-insensitive, on word boundaries and longest-phrase first
    ("I'm not sure" is not also read as "sure"). With no phrase found the
    confidence is the lexicon's default.

    Example:
        >>> from confguard.testing import make_observation
        >>> HedgingSignal().score(make_observation("It is probably Paris.")).confidence
        0.65
    """

    name = "hedging"
    cost = DeclaredCost(llm_calls=0, relative=0.05, inline=True)

    def __init__(
        self,
        lexicon: HedgeLexicon | Mapping[str, float] | None = None,
        *,
        default: float | None = None,
        name: str | None = None,
    ) -> None:
        self.lexicon = _lexicon(lexicon, default)
        self._pattern = _phrase_pattern(self.lexicon.phrases)
        if name is not None:
            self.name = name

    def _score(self, obs: Observation) -> SignalResult:
        if not obs.answer.strip():
            return SignalResult.skipped(self.name, "answer is empty")
        text = obs.answer.replace("\u2019", "'")
        found = [_phrase_key(m[0]) for m in self._pattern.finditer(text)]
        if not found:
            default = self.lexicon.default
            details = {"phrases": [], "used_default": True}
            return SignalResult(
                name=self.name, confidence=default, raw=default, details=details
            )
        values = {phrase: self.lexicon.phrases[phrase] for phrase in found}
        lowest = min(values.values())
        details = {"phrases": found, "values": values, "used_default": False}
        return SignalResult(
            name=self.name, confidence=lowest, raw=lowest, details=details
        )


def _lexicon(
    lexicon: HedgeLexicon | Mapping[str, float] | None, default: float | None
) -> HedgeLexicon:
    if isinstance(lexicon, HedgeLexicon) and default is None:
        return lexicon
    if lexicon is None and default is None:
        return default_lexicon()
    base = default_lexicon() if lexicon is None else lexicon
    phrases = base.phrases if isinstance(base, HedgeLexicon) else dict(base)
    fallback = default_lexicon().default if default is None else default
    try:
        return HedgeLexicon(phrases=phrases, default=fallback)
    except ValueError as exc:
        raise ConfigurationError(f"invalid hedge lexicon: {exc}") from exc
