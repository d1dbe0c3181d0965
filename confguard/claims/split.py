"""Split an answer into claims: sentences by default, or any splitter of your own.

A splitter is one method, `spans(text) -> [(start, end), ...]`: the characters of
each claim, in order, white space trimmed. `SentenceSplitter` uses pysbd's
rule-based segmenter (abbreviations, decimals, initials, numbered lists), loaded on
first use; without pysbd installed it falls back to `RegexSentenceSplitter`, which
knows the common English abbreviations. An LLM decomposition fits the same
protocol (its spans need not cover the whole answer).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any, Protocol, runtime_checkable

from confguard.claims.align import Span, token_offsets, token_span
from confguard.observation import TokenLogprob
from confguard.results import Claim


@runtime_checkable
class Splitter(Protocol):
    """Finds the claims of a text as character spans."""

    def spans(self, text: str) -> list[Span]: ...


def _trimmed(text: str, start: int, end: int) -> Span | None:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return (start, end) if end > start else None


_WORDS = (
    "mr mrs ms dr prof sr jr st vs etc e.g i.e no fig al inc ltd co corp dept est "
    "jan feb mar apr jun jul aug sep sept oct nov dec mt ft approx u.s u.k a.m p.m"
)
_ABBREVIATIONS = frozenset(_WORDS.split())
_BOUNDARY = re.compile(r"[.!?]+[\"')\]]*\s+|\n\s*")


class RegexSentenceSplitter:
    """Sentences by punctuation and line breaks, skipping common abbreviations.

    Example:
        >>> text = "Dr. Smith won. He left."
        >>> [text[s:e] for s, e in RegexSentenceSplitter().spans(text)]
        ['Dr. Smith won.', 'He left.']
    """

    def spans(self, text: str) -> list[Span]:
        """The sentences of `text` as trimmed character spans."""
        cuts, start = [], 0
        for match in _BOUNDARY.finditer(text):
            if self._is_boundary(text, start, match):
                cuts.append((start, match.end()))
                start = match.end()
        cuts.append((start, len(text)))
        return [s for s in (_trimmed(text, a, b) for a, b in cuts) if s]

    def _is_boundary(self, text: str, start: int, match: re.Match[str]) -> bool:
        if "\n" in match.group():
            return True
        before = text[start : match.start()].split()
        word = before[-1].lower().rstrip(".") if before else ""
        if word in _ABBREVIATIONS or (len(word) == 1 and word.isalpha()):
            return False  # "Dr." or an initial ("J. Smith")
        return not _list_number(word, before)


def _list_number(word: str, before: list[str]) -> bool:
    """A list item's number ("2." at the start, or after "Steps:" or an item)."""
    if not (word.isdigit() and len(word) <= 2):
        return False
    return len(before) == 1 or before[-2].endswith((":", ".", ";"))


class SentenceSplitter:
    """Sentences by pysbd (loaded on first use; the regex splitter without it).

    Example:
        >>> text = "It cost $3.5 million in 2019. The U.S. paid."
        >>> [text[s:e] for s, e in SentenceSplitter().spans(text)]
        ['It cost $3.5 million in 2019.', 'The U.S. paid.']
    """

    def __init__(self, language: str = "en") -> None:
        self.language = language
        self._segmenter: Any = None
        self._fallback: RegexSentenceSplitter | None = None

    def spans(self, text: str) -> list[Span]:
        """The sentences of `text` as trimmed character spans."""
        segmenter = self._load()
        if segmenter is None:
            return (self._fallback or RegexSentenceSplitter()).spans(text)
        found = (_trimmed(text, s.start, s.end) for s in segmenter.segment(text))
        return [span for span in found if span]

    def _load(self) -> Any:
        if self._segmenter is None and self._fallback is None:
            try:
                import pysbd  # optional: only sentence splitting needs it
            except ImportError:
                self._fallback = RegexSentenceSplitter()
                return None
            self._segmenter = pysbd.Segmenter(
                language=self.language, clean=False, char_span=True
            )
        return self._segmenter


Essential = Callable[[Claim], bool]
"""Marks the claims whose failure gates the whole answer."""


def split_claims(
    answer: str,
    logprobs: Sequence[TokenLogprob | str] | None = None,
    splitter: Splitter | None = None,
    essential: Essential | None = None,
) -> tuple[Claim, ...]:
    """The claims of `answer`, each with its characters and its tokens' span.

    Example:
        >>> [c.text for c in split_claims("Paris is big. It is old.")]
        ['Paris is big.', 'It is old.']
    """
    spans = (splitter or SentenceSplitter()).spans(answer)
    offsets = None if logprobs is None else token_offsets(answer, logprobs)
    claims = []
    for index, (start, end) in enumerate(spans):
        tokens = None if offsets is None else token_span(offsets, start, end)
        claim = Claim(
            index=index,
            text=answer[start:end],
            start=start,
            end=end,
            token_start=None if tokens is None else tokens[0],
            token_end=None if tokens is None else tokens[1],
        )
        claims.append(_marked(claim, essential))
    return tuple(claims)


def _marked(claim: Claim, essential: Essential | None) -> Claim:
    if essential is None or claim.essential or not essential(claim):
        return claim
    return claim.model_copy(update={"essential": True})


__all__ = [
    "Essential",
    "RegexSentenceSplitter",
    "SentenceSplitter",
    "Splitter",
    "split_claims",
]
