"""The built-in retry strategies: ways to try again that every pipeline understands.

Each constructor returns a `RetryStrategy` (data: a name and parameters), so a
strategy travels unchanged through the policy, the audit store and the pipelines.
The built-in RAG pipelines and both integrations read the same parameters:

- `more_context(top_k)`: retrieve `top_k` passages;
- `other_embedder(embedder)`: retrieve with another embedder (multi-embedder pipelines);
- `temperature(value)`: decode at another temperature (0 = greedy);
- `repeat()`: run again unchanged.

Example:
    >>> from confguard.strategies import more_context
    >>> Policy(retry={"strategies": [more_context(8)]})
"""

from __future__ import annotations

from confguard.results import RetryStrategy


def more_context(top_k: int) -> RetryStrategy:
    """Retrieve `top_k` passages on the retry.

    Example:
        >>> more_context(8).params
        {'top_k': 8}
    """
    if isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1:
        raise ValueError(f"more_context: top_k must be an integer >= 1, got {top_k!r}")
    return RetryStrategy(name="more_context", params={"top_k": top_k})


def other_embedder(embedder: str) -> RetryStrategy:
    """Retrieve with the embedder called `embedder` on the retry.

    Example:
        >>> other_embedder("e5").embedder
        'e5'
    """
    if not isinstance(embedder, str) or not embedder:
        raise ValueError(f"other_embedder: needs an embedder's name, got {embedder!r}")
    return RetryStrategy(name="other_embedder", params={"embedder": embedder})


def temperature(temperature: float) -> RetryStrategy:
    """Decode at `temperature` on the retry (0 = greedy).

    Example:
        >>> temperature(0.0).generation
        {'temperature': 0.0}
    """
    value = temperature
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise ValueError(f"temperature: must be a number >= 0, got {value!r}")
    return RetryStrategy(name="temperature", params={"temperature": float(value)})


def repeat() -> RetryStrategy:
    """Run the pipeline again unchanged (useful when it samples)."""
    return RetryStrategy(name="repeat")


__all__ = ["more_context", "other_embedder", "repeat", "temperature"]
