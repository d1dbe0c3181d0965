"""The one registry: names a YAML config can use, mapped to the factories they build.

Every built-in component that a configuration names — signals, combiners,
calibrators, retry strategies, routes, embedders, situated-faithfulness methods and
dataset loaders — is listed here once, by kind and name. Built-ins are recorded as
``"module:attribute"`` paths and imported on first use, so this module sits at the
bottom of the layers and importing it loads nothing heavy.

Example:
    >>> from confguard import registry
    >>> registry.names("combiner")
    ['logistic', 'mean', 'minimum', 'weighted']
    >>> registry.create("signal", "retrieval", {"low": 0.3, "high": 0.7}).name
    'retrieval'
    >>> registry.register("signal", "my_signal", MySignal)   # your own component
"""

from __future__ import annotations

import importlib
import inspect
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, get_args

from confguard.exceptions import ConfigurationError, UnknownComponentError

Kind = Literal[
    "signal",
    "combiner",
    "calibrator",
    "strategy",
    "route",
    "embedder",
    "faithfulness_method",
    "loader",
]
KINDS: tuple[str, ...] = get_args(Kind)
Factory = Callable[..., Any]


@dataclass(frozen=True)
class Parameter:
    """One parameter a factory takes: its name, default and whether it is required."""

    name: str
    required: bool
    default: Any = None


@dataclass(frozen=True)
class Entry:
    """One registered component: its kind, name and factory (or import path)."""

    kind: str
    name: str
    target: str | Factory

    def load(self) -> Factory:
        """The factory, imported on first use when registered by path."""
        if not isinstance(self.target, str):
            return self.target
        module, _, attribute = self.target.partition(":")
        try:
            factory: Factory = getattr(importlib.import_module(module), attribute)
        except (ImportError, AttributeError) as exc:
            raise ConfigurationError(
                f"{self.kind} {self.name!r}: cannot import {self.target} ({exc})"
            ) from exc
        return factory

    def parameters(self) -> tuple[Parameter, ...]:
        """The parameters the factory accepts (keyword-settable ones only)."""
        signature = inspect.signature(self.load())
        return tuple(
            _parameter(p)
            for p in signature.parameters.values()
            if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
        )


def _parameter(p: inspect.Parameter) -> Parameter:
    required = p.default is p.empty
    return Parameter(p.name, required, None if required else p.default)


class Registry:
    """Names to factories, by kind; thread-safe; built-ins are pre-registered.

    Example:
        >>> reg = Registry()
        >>> reg.register("signal", "answer_length", AnswerLength)
        >>> reg.create("signal", "answer_length", {"longest": 40})
    """

    def __init__(
        self, entries: Mapping[tuple[str, str], str | Factory] | None = None
    ) -> None:
        self._entries: dict[tuple[str, str], Entry] = {}
        self._lock = threading.Lock()
        for (kind, name), target in (entries or {}).items():
            self.register(kind, name, target)

    def register(
        self, kind: str, name: str, factory: str | Factory, *, replace: bool = False
    ) -> None:
        """Make `name` build `factory` (an object or a ``"module:attr"`` path)."""
        _check_kind(kind)
        with self._lock:
            if (kind, name) in self._entries and not replace:
                raise ConfigurationError(
                    f"{kind} {name!r} is already registered; pass replace=True"
                )
            self._entries[(kind, name)] = Entry(kind, name, factory)

    def entry(self, kind: str, name: str) -> Entry:
        """The entry for `name`, or `UnknownComponentError` listing the known names."""
        _check_kind(kind)
        found = self._entries.get((kind, name))
        if found is None:
            raise UnknownComponentError(kind, name, self.names(kind))
        return found

    def get(self, kind: str, name: str) -> Factory:
        """The factory registered as `name`."""
        return self.entry(kind, name).load()

    def names(self, kind: str) -> list[str]:
        """The registered names of one kind, sorted."""
        _check_kind(kind)
        return sorted(name for k, name in self._entries if k == kind)

    def create(
        self,
        kind: str,
        name: str,
        params: Mapping[str, Any] | None = None,
        **resources: Any,
    ) -> Any:
        """Build `name` with `params` (from a config) and `resources` (objects).

        `resources` (e.g. ``generator=``, ``store=``) are passed only to factories
        that take them and only where `params` does not set them.
        """
        entry = self.entry(kind, name)
        factory = entry.load()
        given = dict(params or {})
        accepted = {p.name for p in entry.parameters()}
        unknown = sorted(set(given) - accepted)
        if unknown and not _takes_kwargs(factory):
            raise ConfigurationError(
                f"{kind} {name!r} has no parameter {unknown[0]!r}; "
                f"its parameters: {', '.join(sorted(accepted)) or 'none'}"
            )
        extra = {k: v for k, v in resources.items() if k in accepted and k not in given}
        try:
            return factory(**given, **extra)
        except (TypeError, ValueError) as exc:
            raise ConfigurationError(f"{kind} {name!r}: {exc}") from exc


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise UnknownComponentError("component kind", kind, list(KINDS))


def _takes_kwargs(factory: Factory) -> bool:
    parameters = inspect.signature(factory).parameters.values()
    return any(p.kind is p.VAR_KEYWORD for p in parameters)


_S = "confguard.signals."
# kind -> module -> {registry name: attribute}
_BUILTIN_TABLE: dict[str, dict[str, dict[str, str]]] = {
    "signal": {
        _S + "token": {
            "avg_logprob": "AverageLogprob",
            "min_token_prob": "MinTokenProbability",
            "entropy": "TokenEntropy",
            "distributional_perplexity": "DistributionalPerplexity",
            "gini": "Gini",
            "self_certainty": "SelfCertainty",
        },
        _S + "verbal": {
            "hedging": "HedgingSignal",
            "verbalized_confidence": "VerbalizedConfidence",
        },
        _S + "retrieval": {
            "retrieval": "RetrievalSupport",
            "answer_support": "AnswerSupport",
        },
        _S + "agreement": {"multi_embedding_agreement": "MultiEmbeddingAgreement"},
        # A saved history folder (`path`) and the embedder it was built with.
        _S + "history": {"history": "history_signal"},
        # Signals that call a model get it as the `generator` resource.
        _S + "faithfulness": {"situated_faithfulness": "SituatedFaithfulness"},
        _S + "judge": {"judge": "Judge"},
        _S + "pairwise": {"pairwise_judge": "PairwiseJudge"},
        _S + "elicitation": {"elicited_confidence": "ElicitedConfidence"},
        _S + "consistency": {
            "numset": "NumSet",
            "deg": "Deg",
            "ecc": "Ecc",
            "eigv": "EigV",
            "self_consistency": "SelfConsistency",
            "perplexity_consistency": "PerplexityConsistency",
        },
    },
    "combiner": {
        "confguard.scoring.aggregate": {
            "mean": "mean",
            "weighted": "weighted",
            "minimum": "minimum",
            "logistic": "LogisticCombiner",
        },
        "confguard.scoring.stratified": {"stratified": "StratifiedCombiner"},
    },
    "calibrator": {
        "confguard.scoring.calibration": {
            "platt": "PlattCalibrator",
            "isotonic": "IsotonicCalibrator",
        },
    },
    "strategy": {
        "confguard.strategies": {
            name: name for name in ("more_context", "other_embedder", "temperature")
        }
        | {"repeat": "repeat"},
    },
    "route": {
        "confguard.routes": {
            "webhook": "WebhookRoute",
            "review_queue": "ReviewQueueRoute",
        },
    },
    "embedder": {
        "confguard.embeddings.local": {
            "minilm": "MiniLMEmbedder",
            "mpnet": "MpnetEmbedder",
            "e5": "E5Embedder",
            "wordllama": "WordLlamaEmbedder",
        },
    },
    "faithfulness_method": {
        _S + "_faithfulness_rcr": {"rcr": "RCR"},
        _S + "_faithfulness_scr": {
            "scr_implicit": "SCRImplicit",
            "scr_explicit": "SCRExplicit",
        },
    },
    "loader": {
        "confguard.evaluation.datasets": {
            "squad": "load_squad",
            "conflicts": "load_conflicts",
            "jsonl": "load_jsonl",
        },
    },
}

BUILTINS: dict[tuple[str, str], str] = {
    (kind, name): f"{module}:{attribute}"
    for kind, modules in _BUILTIN_TABLE.items()
    for module, named in modules.items()
    for name, attribute in named.items()
}
"""Every built-in component as (kind, name) -> "module:attribute"."""

REGISTRY = Registry(BUILTINS)
"""The process-wide registry every config and CLI reads."""

register = REGISTRY.register
get = REGISTRY.get
create = REGISTRY.create
names = REGISTRY.names
entry = REGISTRY.entry

__all__ = [
    "BUILTINS",
    "KINDS",
    "REGISTRY",
    "Entry",
    "Factory",
    "Kind",
    "Parameter",
    "Registry",
    "create",
    "entry",
    "get",
    "names",
    "register",
]
