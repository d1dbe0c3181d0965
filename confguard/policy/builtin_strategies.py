"""Retry strategies as a policy names them, checked against the one registry.

A policy entry ``{name: more_context, params: {top_k: 8}}`` is rebuilt by the
strategy registered as ``more_context`` (`confguard.strategies.more_context(8)`), so a
wrong parameter fails when the policy is parsed, not on the retry. Names nobody
registered pass through unchanged: the guard refuses them unless told the pipeline
understands them.
"""

from __future__ import annotations

from collections.abc import Iterable

from confguard import registry
from confguard.exceptions import ConfigurationError, UnknownComponentError
from confguard.results import RetryStrategy


def checked_strategy(strategy: RetryStrategy) -> RetryStrategy:
    """A registered strategy rebuilt by its factory; any other name unchanged.

    Example:
        >>> checked_strategy(RetryStrategy(name="more_context", params={"top_k": 0}))
        ValueError: more_context: top_k must be an integer >= 1, got 0
    """
    if strategy.name not in registry.names("strategy"):
        return strategy
    entry = registry.entry("strategy", strategy.name)
    wanted = tuple(p.name for p in entry.parameters())
    params = strategy.params
    if set(params) != set(wanted):
        takes = f"params {{{', '.join(wanted)}}}" if wanted else "no params"
        raise ValueError(
            f"strategy {strategy.name!r} takes {takes}, got {strategy.params!r}"
        )
    try:
        built: RetryStrategy = registry.create("strategy", strategy.name, params)
    except ConfigurationError as exc:  # the factory's own words say what is wrong
        raise ValueError(str(exc.__cause__ or exc)) from exc
    return built


def check_known(strategies: Iterable[RetryStrategy], extra: Iterable[str]) -> None:
    """Refuse a strategy name neither registered nor in `extra` (the pipeline's own)."""
    if isinstance(extra, str):  # one name would otherwise count as its letters
        raise ConfigurationError(
            f"strategies= takes a list of names, got the string {extra!r}"
        )
    known = [*registry.names("strategy"), *extra]
    for strategy in strategies:
        if strategy.name not in known:
            raise UnknownComponentError("retry strategy", strategy.name, known)


__all__ = ["check_known", "checked_strategy"]
