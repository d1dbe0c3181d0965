"""Where GuardedQueryEngine keeps the `Verdict`: ``Response.metadata["confguard"]``."""

from __future__ import annotations

from typing import Any

from confguard.results import VERDICT_KEY, Verdict


def get_verdict(response: Any) -> Verdict | None:
    """The verdict stored in a response's metadata, or None if it holds none.

    Example:
        >>> get_verdict(engine.query("Who won Super Bowl 50?")).action
        'accept'
    """
    return Verdict.find(getattr(response, "metadata", None))


def verdict_of(response: Any) -> Verdict:
    """The verdict stored in a response's metadata; `InputError` if it holds none.

    Example:
        >>> verdict = verdict_of(engine.query("Who won Super Bowl 50?"))
        >>> verdict.action, verdict.confidence, [i.code for i in verdict.issues]
        ('accept', 0.91, [])
    """
    metadata = getattr(response, "metadata", None)
    return Verdict.read(metadata, where=f"{type(response).__name__} (metadata)")


__all__ = ["VERDICT_KEY", "get_verdict", "verdict_of"]
