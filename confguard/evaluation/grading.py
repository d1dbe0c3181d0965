"""Whether an answer is right: SQuAD exact match, or token F1 at a threshold."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from pydantic import BaseModel, ConfigDict

from confguard.text import exact_match, token_f1


class Grade(BaseModel):
    """Exact match, best token F1, and the verdict of the correctness rule."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    exact_match: bool
    f1: float
    correct: bool


class Correctness(Protocol):
    """A rule that says whether a graded answer counts as right."""

    @property
    def name(self) -> str:
        """How reports name the rule, e.g. ``f1>=0.5``."""
        ...

    def is_correct(self, exact: bool, f1: float) -> bool:
        """The verdict from exact match and best token F1."""
        ...


@dataclass(frozen=True)
class F1AtLeast:
    """Right when the best token F1 reaches `threshold` (0.5 by default)."""

    threshold: float = 0.5

    def __post_init__(self) -> None:
        if not 0.0 < self.threshold <= 1.0:
            raise ValueError(f"F1 threshold must be in (0, 1], got {self.threshold}")

    @property
    def name(self) -> str:
        return f"f1>={self.threshold:g}"

    def is_correct(self, exact: bool, f1: float) -> bool:
        """F1 at or above the threshold."""
        return f1 >= self.threshold


@dataclass(frozen=True)
class ExactMatch:
    """Right only on a SQuAD-normalised exact match."""

    @property
    def name(self) -> str:
        return "exact_match"

    def is_correct(self, exact: bool, f1: float) -> bool:
        """Exact match decides."""
        return exact


def grade(
    prediction: str, golds: Sequence[str], rule: Correctness | None = None
) -> Grade:
    """Grade one prediction against its gold answers.

    Example:
        >>> grade("the Denver Broncos", ["Denver Broncos"])
        Grade(exact_match=True, f1=1.0, correct=True)
    """
    exact, f1 = exact_match(prediction, golds), token_f1(prediction, golds)
    verdict = (rule or F1AtLeast()).is_correct(exact, f1)
    return Grade(exact_match=exact, f1=f1, correct=verdict)


__all__ = ["Correctness", "ExactMatch", "F1AtLeast", "Grade", "grade"]
