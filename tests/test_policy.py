"""The policy model: loads from YAML or a dict; every mistake names its field."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from confguard.exceptions import PolicyError
from confguard.policy import Policy, RetryPolicy, Thresholds
from confguard.results import RetryStrategy
from confguard.strategies import more_context, other_embedder, repeat, temperature

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "policy.yaml"


def test_the_default_policy_accepts_at_0_8_and_abstains_below() -> None:
    policy = Policy()
    assert policy.thresholds.set_bands() == (("accept", 0.8),)
    assert policy.on_missing_evidence == "fail_closed"
    assert policy.retry.max_attempts == 3
    assert policy.combiner == "mean"


def test_a_policy_loads_from_a_yaml_string() -> None:
    policy = Policy.from_yaml(
        """
        thresholds: {accept: 0.7, annotate: 0.5, retry: 0.3}
        retry: {max_attempts: 2, strategies: [{name: more_context, params: {top_k: 3}}]}
        abstain: {message: "I don't know that reliably.", raise_error: true}
        """
    )
    assert policy.thresholds == Thresholds(accept=0.7, annotate=0.5, retry=0.3)
    assert policy.retry.strategies == (
        RetryStrategy(name="more_context", params={"top_k": 3}),
    )
    assert policy.abstain.raise_error is True


def test_the_documented_example_file_loads_from_a_path_and_a_path_string() -> None:
    policy = Policy.from_yaml(EXAMPLE)
    assert Policy.from_yaml(str(EXAMPLE)) == policy
    assert policy.thresholds.set_bands() == (
        ("accept", 0.8),
        ("annotate", 0.6),
        ("retry", 0.4),
        ("escalate", 0.2),
    )
    assert policy.escalate.route == "review"
    assert policy.on_retries_exhausted == "escalate"
    assert policy.weights == {"avg_logprob": 1.0, "answer_support": 2.0}


def test_an_empty_yaml_document_is_the_default_policy() -> None:
    assert Policy.from_yaml("") == Policy()


def test_from_dict_and_model_validate_build_the_same_policy() -> None:
    data = {"thresholds": {"accept": 0.9, "annotate": 0.5}}
    assert Policy.from_dict(data) == Policy.model_validate(data)


def test_strategies_may_be_given_by_name_alone() -> None:
    policy = Policy.from_yaml("retry: {strategies: [repeat, rerank]}")
    assert [s.name for s in policy.retry.strategies] == ["repeat", "rerank"]
    assert policy.retry.strategies[1].params == {}


def test_built_in_strategies_are_rebuilt_by_their_constructors() -> None:
    policy = Policy.from_yaml(
        """
        retry:
          strategies:
            - {name: more_context, params: {top_k: 8}}
            - {name: other_embedder, params: {embedder: e5}}
            - {name: temperature, params: {temperature: 0}}
            - repeat
        """
    )
    assert policy.retry.strategies == (
        more_context(8),
        other_embedder("e5"),
        temperature(0.0),
        repeat(),
    )
    assert policy.retry.strategies[2].params == {"temperature": 0.0}
    assert Policy(retry={"strategies": [more_context(3)]}).retry.strategies == (
        more_context(3),
    )


def test_a_strategy_of_your_own_keeps_whatever_params_it_has() -> None:
    policy = Policy.from_dict(
        {"retry": {"strategies": [{"name": "rerank", "params": {"model": "x"}}]}}
    )
    assert policy.retry.strategies == (
        RetryStrategy(name="rerank", params={"model": "x"}),
    )


def test_strategies_are_used_in_order_and_the_last_one_repeats() -> None:
    retry = RetryPolicy(max_attempts=5, strategies=("a", "b"))
    assert [retry.strategy_for(n).name for n in (1, 2, 3, 4)] == ["a", "b", "b", "b"]
    assert RetryPolicy().strategy_for(1) == RetryStrategy(name="repeat")


def test_a_confidence_falls_in_the_highest_band_whose_threshold_it_reaches() -> None:
    thresholds = Thresholds(accept=0.8, retry=0.4, escalate=0.2)
    assert [thresholds.band(c) for c in (1.0, 0.8, 0.79, 0.4, 0.2, 0.19, 0.0)] == [
        "accept",
        "accept",
        "retry",  # annotate is not set: the band below takes it
        "retry",
        "escalate",
        "abstain",
        "abstain",
    ]


def test_backoff_grows_by_the_multiplier_before_each_retry() -> None:
    retry = RetryPolicy(backoff_seconds=0.5, backoff_multiplier=2.0)
    assert [retry.wait_before(n) for n in (1, 2, 3)] == [0.5, 1.0, 2.0]


BAD: list[tuple[dict[str, Any], str, str]] = [
    (
        {"thresholds": {"accept": 1.4}},
        "thresholds.accept",
        "thresholds.accept: must be in [0, 1], got 1.4",
    ),
    (
        {"thresholds": {"accept": 0.5, "annotate": 0.7}},
        "thresholds.annotate",
        "thresholds.annotate: must be <= thresholds.accept (0.5), got 0.7 "
        "(bands run accept >= annotate >= retry >= escalate)",
    ),
    (
        {"thresholds": {"accept": 0.8, "annotate": None, "retry": 0.9}},
        "thresholds.retry",
        "thresholds.retry: must be <= thresholds.accept (0.8), got 0.9 "
        "(bands run accept >= annotate >= retry >= escalate)",
    ),
    (
        {"thresholds": {"accept": None}},
        "thresholds",
        "thresholds: set at least one threshold",
    ),
    (
        {"thresholds": {"acept": 0.8}},
        "thresholds.acept",
        "thresholds.acept: unknown field",
    ),
    (
        {"on_retries_exhausted": "explode"},
        "on_retries_exhausted",
        "on_retries_exhausted: unknown value 'explode'; "
        "expected 'escalate', 'abstain' or 'annotate'",
    ),
    (
        {"on_missing_evidence": "shrug"},
        "on_missing_evidence",
        "on_missing_evidence: unknown value 'shrug'; "
        "expected 'fail_closed' or 'ignore'",
    ),
    (
        {"thresholds": {"accept": 0.8, "escalate": 0.2}},
        "escalate.route",
        "escalate.route: required, since the policy can escalate "
        "(thresholds.escalate, on_retries_exhausted or fail_closed_action)",
    ),
    (
        {"combiner": "median"},
        "combiner",
        "combiner: unknown combiner 'median'; known: mean, minimum, weighted",
    ),
    (
        {"weights": {"judge": 2.0}},
        "weights",
        "weights: only the 'weighted' combiner uses weights, but combiner is 'mean'",
    ),
    (
        {"combiner": "weighted", "weights": {"judge": -1.0}},
        "weights",
        "weights: weight of 'judge' must be >= 0, got -1.0",
    ),
    (
        {"retry": {"max_attempts": 0}},
        "retry.max_attempts",
        "retry.max_attempts: Input should be greater than or equal to 1, got 0",
    ),
    (
        {"retry": {"strategies": [{"params": {"k": 1}}]}},
        "retry.strategies.0.name",
        "retry.strategies.0.name: Field required, got {'params': {'k': 1}}",
    ),
    (
        {"retry": {"strategies": ["more_context"]}},
        "retry.strategies.0.params",
        "retry.strategies.0.params: strategy 'more_context' takes params {top_k}, "
        "got {}",
    ),
    (
        {"retry": {"strategies": ["repeat", {"name": "temperature", "params": {}}]}},
        "retry.strategies.1.params",
        "retry.strategies.1.params: strategy 'temperature' takes params "
        "{temperature}, got {}",
    ),
    (
        {"retry": {"strategies": [{"name": "repeat", "params": {"n": 2}}]}},
        "retry.strategies.0.params",
        "retry.strategies.0.params: strategy 'repeat' takes no params, got {'n': 2}",
    ),
    (
        {
            "retry": {
                "strategies": [{"name": "more_context", "params": {"top_k": 8, "k": 2}}]
            }
        },
        "retry.strategies.0.params",
        "retry.strategies.0.params: strategy 'more_context' takes params {top_k}, "
        "got {'top_k': 8, 'k': 2}",
    ),
    (
        {"retry": {"strategies": [{"name": "more_context", "params": {"top_k": 0}}]}},
        "retry.strategies.0.params",
        "retry.strategies.0.params: more_context: top_k must be an integer >= 1, got 0",
    ),
    (
        {
            "retry": {
                "strategies": [{"name": "temperature", "params": {"temperature": -1}}]
            }
        },
        "retry.strategies.0.params",
        "retry.strategies.0.params: temperature: must be a number >= 0, got -1",
    ),
    (
        {"annotate": {"caveat": "only {conf}"}},
        "annotate.caveat",
        "annotate.caveat: invalid template (KeyError('conf')); "
        "only {confidence} is available",
    ),
]


@pytest.mark.parametrize(("data", "field", "message"), BAD)
def test_an_invalid_policy_raises_policy_error_naming_the_field(
    data: dict[str, Any], field: str, message: str
) -> None:
    with pytest.raises(PolicyError) as info:
        Policy.model_validate(data)
    assert info.value.field == field
    assert str(info.value) == message


def test_constructing_a_section_directly_also_raises_policy_error() -> None:
    with pytest.raises(PolicyError, match=r"^thresholds\.accept: must be in"):
        Thresholds(accept=2.0)
    with pytest.raises(PolicyError, match=r"^thresholds\.accept: must be in"):
        Policy(thresholds={"accept": 2.0})


def test_malformed_yaml_names_the_line() -> None:
    text = "thresholds:\n  accept: 0.8\n retry: [0.4\n"
    with pytest.raises(PolicyError, match=r"^policy YAML is malformed at line 3"):
        Policy.from_yaml(text)


def test_yaml_that_is_not_a_mapping_is_rejected() -> None:
    with pytest.raises(PolicyError, match="a policy must be a mapping, got list"):
        Policy.from_yaml("- accept\n- retry\n")


def test_a_missing_policy_file_is_named() -> None:
    with pytest.raises(PolicyError, match=r"policy file not found: nowhere\.yaml"):
        Policy.from_yaml("nowhere.yaml")


def test_a_policy_is_frozen() -> None:
    policy = Policy()
    with pytest.raises(ValueError, match="frozen"):
        policy.combiner = "minimum"  # type: ignore[misc]
