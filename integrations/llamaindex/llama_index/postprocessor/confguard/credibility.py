"""Credibility checks: how far a retrieved passage can be trusted for a query.

A check is a small strategy object with one method, `credibility(query, text)`,
returning a number in [0, 1] (an async twin `acredibility` is used when present).
`SituatedCredibility` reuses confguard's situated-faithfulness RCR: the context's
answer is scored closed-book, with and without the question, and an answer the
model finds implausible (e.g. an entity swapped into the passage) lowers the trust.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

from confguard.signals.faithfulness import SituatedFaithfulness


@runtime_checkable
class CredibilityCheck(Protocol):
    """How far a passage can be trusted as evidence for a query, in [0, 1]."""

    def credibility(self, query: str, text: str) -> float: ...


class FunctionCredibility:
    """Adapts `fn(query, text) -> float` (sync or async) into a CredibilityCheck.

    Example:
        >>> check = FunctionCredibility(lambda q, t: 0.0 if "rumour" in t else 1.0)
    """

    def __init__(self, fn: Callable[[str, str], Any]) -> None:
        self.fn = fn

    def credibility(self, query: str, text: str) -> float:
        """Call the function."""
        value = self.fn(query, text)
        if asyncio.iscoroutine(value):
            value.close()
            raise TypeError("the credibility function is async; use apostprocess")
        return float(value)

    async def acredibility(self, query: str, text: str) -> float:
        """Async twin: coroutine functions are awaited, others run in a thread."""
        if asyncio.iscoroutinefunction(self.fn):
            return float(await self.fn(query, text))
        return float(await asyncio.to_thread(self.fn, query, text))


class SituatedCredibility:
    """The context trust of confguard's RCR (situated faithfulness) for one passage.

    Needs a generator that can score continuations (the local Gemma can); costs
    about four model calls per passage, so filter by agreement first.

    Example:
        >>> from confguard.signals.faithfulness import SituatedFaithfulness
        >>> check = SituatedCredibility(SituatedFaithfulness(default_generator()))
        >>> post = ConfidentNodePostprocessor(
        ...     embedders=[minilm, e5], min_confidence=0.5,
        ...     credibility=check, min_credibility=0.3,
        ... )
    """

    def __init__(self, faithfulness: SituatedFaithfulness) -> None:
        self.faithfulness = faithfulness

    def credibility(self, query: str, text: str) -> float:
        """The method's trust in the passage (raises if it could not estimate it)."""
        return _trust(self.faithfulness.judge(query, [text]))

    async def acredibility(self, query: str, text: str) -> float:
        """Async twin of `credibility`."""
        return _trust(await self.faithfulness.ajudge(query, [text]))


def _trust(verdict: Any) -> float:
    if verdict.context_trust is None:
        why = verdict.reason or (
            "the method does not estimate it (use mode='rcr' with a generator "
            "that can score continuations)"
        )
        raise ValueError(f"{verdict.method} gave no context trust: {why}")
    return float(verdict.context_trust)


def as_credibility(check: CredibilityCheck | Callable[[str, str], Any]) -> Any:
    """A CredibilityCheck, wrapping a plain function if that is what was given."""
    if isinstance(check, CredibilityCheck):
        return check
    if callable(check):
        return FunctionCredibility(check)
    raise TypeError(f"not a credibility check or a function: {check!r}")


__all__ = [
    "CredibilityCheck",
    "FunctionCredibility",
    "SituatedCredibility",
    "as_credibility",
]
