"""The one registry: every built-in name loads, unknown names are named errors."""

from __future__ import annotations

import pytest

from confguard import registry
from confguard.exceptions import ConfigurationError, UnknownComponentError
from confguard.registry import BUILTINS, KINDS, Registry
from confguard.results import RetryStrategy
from confguard.signals import RetrievalSupport
from confguard.testing import FakeGenerator


@pytest.mark.parametrize(("kind", "name"), sorted(BUILTINS))
def test_every_builtin_entry_imports_its_factory(kind: str, name: str) -> None:
    assert callable(registry.get(kind, name))


def test_every_kind_has_builtins() -> None:
    assert {kind for kind, _ in BUILTINS} == set(KINDS)


def test_unknown_name_names_the_kind_and_the_known_names() -> None:
    with pytest.raises(UnknownComponentError) as caught:
        registry.get("combiner", "median")
    assert caught.value.kind == "combiner"
    known = ["logistic", "mean", "minimum", "stratified", "weighted"]
    assert caught.value.known == known
    assert "known: logistic, mean, minimum, stratified, weighted" in str(caught.value)


def test_unknown_kind_is_refused() -> None:
    with pytest.raises(UnknownComponentError, match="component kind"):
        registry.names("widget")


def test_create_passes_params_from_a_config() -> None:
    signal = registry.create("signal", "retrieval", {"low": 0.3, "high": 0.7})
    assert isinstance(signal, RetrievalSupport)
    assert (signal.low, signal.high) == (0.3, 0.7)


def test_create_names_a_parameter_the_factory_does_not_take() -> None:
    with pytest.raises(ConfigurationError, match=r"no parameter 'lo'.*high, low"):
        registry.create("signal", "retrieval", {"lo": 0.3})


def test_create_turns_factory_value_errors_into_configuration_errors() -> None:
    with pytest.raises(ConfigurationError, match=r"more_context.*top_k"):
        registry.create("strategy", "more_context", {"top_k": 0})


def test_resources_reach_only_factories_that_take_them() -> None:
    strategy = registry.create("strategy", "repeat", generator=FakeGenerator())
    assert strategy == RetryStrategy(name="repeat")
    judge = registry.create("signal", "judge", generator=FakeGenerator())
    assert judge.generator is not None


def test_register_refuses_a_taken_name_unless_replacing() -> None:
    reg = Registry({("signal", "mine"): "confguard.signals.retrieval:AnswerSupport"})
    with pytest.raises(ConfigurationError, match="already registered"):
        reg.register("signal", "mine", RetrievalSupport)
    reg.register("signal", "mine", RetrievalSupport, replace=True)
    assert reg.get("signal", "mine") is RetrievalSupport


def test_a_broken_import_path_is_a_configuration_error() -> None:
    reg = Registry({("signal", "gone"): "confguard.nothing_here:Signal"})
    with pytest.raises(ConfigurationError, match="cannot import"):
        reg.get("signal", "gone")


def test_parameters_describe_a_factory() -> None:
    params = {p.name: p for p in registry.entry("signal", "retrieval").parameters()}
    assert params["low"].default == 0.2
    assert not params["low"].required


@pytest.mark.parametrize(
    "strategy",
    [
        RetryStrategy(name="more_context", params={"top_k": 8}),
        RetryStrategy(name="other_embedder", params={"embedder": "e5"}),
        RetryStrategy(name="temperature", params={"temperature": 0.7}),
        RetryStrategy(name="repeat"),
    ],
)
def test_a_strategy_is_rebuilt_from_its_own_params(strategy: RetryStrategy) -> None:
    assert registry.create("strategy", strategy.name, strategy.params) == strategy
