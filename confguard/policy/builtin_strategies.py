"""Built-in retry strategies as a policy names them, checked by their constructors.

A policy entry ``{name: more_context, params: {top_k: 8}}`` is rebuilt with
`confguard.strategies.more_context(8)`, so a wrong parameter fails when the policy is
parsed, not on the retry. Names that are not built in pass through unchanged: the
guard refuses them unless told the pipeline understands them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from confguard.exceptions import ConfigurationError, UnknownComponentError
from confguard.results import RetryStrategy
from confguard.strategies import more_context, other_embedder, repeat, temperature


@dataclass(frozen=True)
class BuiltinStrategy:
    """A built-in strategy: its constructor and the one parameter it takes, if any."""

    build: Callable[..., RetryStrategy]
    param: str | None = None

    @property
    def name(self) -> str:
        """The strategy's name, which is its constructor's."""
        return self.build.__name__

    def rebuild(self, strategy: RetryStrategy) -> RetryStrategy:
        """`strategy` made again by the constructor; ValueError naming what is wrong."""
        wanted = () if self.param is None else (self.param,)
        if tuple(strategy.params) != wanted:
            takes = f"params {{{self.param}}}" if self.param else "no params"
            raise ValueError(
                f"strategy {self.name!r} takes {takes}, got {strategy.params!r}"
            )
        return self.build(*strategy.params.values())


BUILTIN_STRATEGIES = (
    BuiltinStrategy(more_context, "top_k"),
    BuiltinStrategy(other_embedder, "embedder"),
    BuiltinStrategy(temperature, "temperature"),
    BuiltinStrategy(repeat),
)
"""What every built-in pipeline and both integrations understand."""

BUILTIN_NAMES = tuple(b.name for b in BUILTIN_STRATEGIES)


def checked_strategy(strategy: RetryStrategy) -> RetryStrategy:
    """A built-in strategy rebuilt by its constructor; any other name unchanged."""
    for builtin in BUILTIN_STRATEGIES:
        if builtin.name == strategy.name:
            return builtin.rebuild(strategy)
    return strategy


def check_known(strategies: Iterable[RetryStrategy], extra: Iterable[str]) -> None:
    """Refuse a strategy name neither built in nor in `extra` (the pipeline's own)."""
    if isinstance(extra, str):  # one name would otherwise count as its letters
        raise ConfigurationError(
            f"strategies= takes a list of names, got the string {extra!r}"
        )
    known = [*BUILTIN_NAMES, *extra]
    for strategy in strategies:
        if strategy.name not in known:
            raise UnknownComponentError("retry strategy", strategy.name, known)


__all__ = [
    "BUILTIN_NAMES",
    "BUILTIN_STRATEGIES",
    "BuiltinStrategy",
    "check_known",
    "checked_strategy",
]
