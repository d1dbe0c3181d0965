"""Answer normalisation and overlap, as SQuAD's official evaluation defines them."""

from __future__ import annotations

import re
import string
from collections import Counter
from collections.abc import Iterable

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCT = str.maketrans("", "", string.punctuation)


def normalize_answer(text: str) -> str:
    """Lower-case, drop punctuation and articles, fold white space (SQuAD v1.1)."""
    text = text.lower().translate(_PUNCT)
    return " ".join(_ARTICLES.sub(" ", text).split())


def answer_tokens(text: str) -> list[str]:
    """The normalised tokens of an answer."""
    return normalize_answer(text).split()


_FUNCTION = (
    "who whom whose what which when where why how is are was were be been being "
    "do does did has have had it its this that these those there here of in on at "
    "to for from by with as and or but not no can could would should will shall "
    "may might i you he she we they them his her their our your me us"
)
FUNCTION_WORDS = frozenset(_FUNCTION.split())
"""English words that carry no topic: matching on them pairs unrelated sentences."""


def content_tokens(text: str) -> list[str]:
    """`answer_tokens` without `FUNCTION_WORDS`."""
    return [t for t in answer_tokens(text) if t not in FUNCTION_WORDS]


def exact_match(prediction: str, golds: Iterable[str]) -> bool:
    """True when the normalised prediction equals any normalised gold answer."""
    pred = normalize_answer(prediction)
    return any(pred == normalize_answer(g) for g in golds)


def token_f1(prediction: str, golds: Iterable[str]) -> float:
    """The best token F1 of the prediction against any gold answer."""
    pred = answer_tokens(prediction)
    return max((_f1(pred, answer_tokens(g)) for g in golds), default=0.0)


def _f1(pred: list[str], gold: list[str]) -> float:
    if not pred or not gold:
        return float(pred == gold)
    common = sum((Counter(pred) & Counter(gold)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(pred), common / len(gold)
    return 2 * precision * recall / (precision + recall)
