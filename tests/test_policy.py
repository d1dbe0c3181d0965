"""The policy model: loads from YAML or a dict; every mistake names its field."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from confguard.exceptions import PolicyError
from confguard.policy import Policy, RetryPolicy, Thresholds
from confguard.results import RetryStrategy, SignalResult
from confguard.scoring.aggregate import LogisticCombiner
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


@pytest.mark.parametrize("text", ["", "   \n", "# thresholds: {accept: 0.9}\n"])
def test_an_empty_or_comment_only_yaml_document_is_refused(text: str) -> None:
    with pytest.raises(PolicyError, match=r"^policy YAML is empty"):
        Policy.from_yaml(text)


def test_an_empty_policy_file_is_refused_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text("# to be written\n")
    with pytest.raises(PolicyError, match=rf"^policy file {path} is empty"):
        Policy.from_yaml(path)


def test_an_explicit_empty_mapping_is_the_default_policy() -> None:
    assert Policy.from_yaml("{}") == Policy()


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
        "(thresholds.escalate, a stratum's, on_retries_exhausted or "
        "fail_closed_action)",
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
        "retry.max_attempts: must be >= 1, got 0",
    ),
    (
        {"retry": {"strategies": [{"params": {"k": 1}}]}},
        "retry.strategies.0.name",
        "retry.strategies.0.name: required",
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


# Strict parsing: what YAML 1.1 or lax pydantic would silently read as something
# else is refused, naming where it was written.
BAD_YAML: list[tuple[str, str, str]] = [
    (
        "thresholds: {accept: 0.8}\nretry: {max_attempts: 2}\n"
        "thresholds: {accept: 0.5}\n",
        "thresholds",
        "policy YAML, line 3: the key 'thresholds' is given twice (first at line 1)",
    ),
    (
        "thresholds:\n  accept: 0.8\n  retry: 0.4\n  accept: 0.7\n",
        "accept",
        "policy YAML, line 4: the key 'accept' is given twice (first at line 2)",
    ),
    (
        "retry:\n  strategies:\n    - {name: repeat, name: temperature}\n",
        "name",
        "policy YAML, line 3: the key 'name' is given twice (first at line 3)",
    ),
    (
        "thresholds:\n  accept: true\n",
        "thresholds.accept",
        "policy YAML, line 2: thresholds.accept: expected a number, got True",
    ),
    (
        "thresholds: {accept: '0.8'}\n",
        "thresholds.accept",
        "policy YAML, line 1: thresholds.accept: expected a number, got '0.8'",
    ),
    (
        "combiner: weighted\nweights:\n  judge: yes\n",
        "weights.judge",
        "policy YAML, line 3: weights.judge: expected a number, got True",
    ),
    (
        "abstain:\n  message: No.\n  raise_error: 'yes'\n",
        "abstain.raise_error",
        "policy YAML, line 3: abstain.raise_error: expected true or false, got 'yes'",
    ),
    (
        "cascade: 1\n",
        "cascade",
        "policy YAML, line 1: cascade: expected true or false, got 1",
    ),
    (
        "retry: {max_attempts: 2.0}\n",
        "retry.max_attempts",
        "policy YAML, line 1: retry.max_attempts: expected a whole number, got 2.0",
    ),
    (
        "retry: {max_attempts: true}\n",
        "retry.max_attempts",
        "policy YAML, line 1: retry.max_attempts: expected a whole number, got True",
    ),
    (
        "retry: {max_attempts: 11}\n",
        "retry.max_attempts",
        "policy YAML, line 1: retry.max_attempts: must be <= 10, got 11",
    ),
    (
        "retry:\n  backoff_seconds: 1e9\n",
        "retry.backoff_seconds",
        "policy YAML, line 2: retry.backoff_seconds: must be <= 300.0, "
        "got 1000000000.0",
    ),
    (
        "retry: {backoff_seconds: -1}\n",
        "retry.backoff_seconds",
        "policy YAML, line 1: retry.backoff_seconds: must be >= 0.0, got -1",
    ),
    (
        "retry: {backoff_multiplier: 0.5}\n",
        "retry.backoff_multiplier",
        "policy YAML, line 1: retry.backoff_multiplier: must be >= 1.0, got 0.5",
    ),
    (
        "retry: {backoff_multiplier: 11}\n",
        "retry.backoff_multiplier",
        "policy YAML, line 1: retry.backoff_multiplier: must be <= 10.0, got 11",
    ),
    (
        "retry:\n  max_attempts: 10\n  backoff_seconds: 1\n  backoff_multiplier: 3\n",
        "retry.backoff_multiplier",
        "policy YAML, line 4: retry.backoff_multiplier: the wait before retry 9 would "
        "be 6561 s, over the 300 s allowed; lower backoff_seconds, "
        "backoff_multiplier or max_attempts",
    ),
]


@pytest.mark.parametrize(("text", "field", "message"), BAD_YAML)
def test_strict_yaml_refuses_what_it_would_misread_naming_field_and_line(
    text: str, field: str, message: str
) -> None:
    with pytest.raises(PolicyError) as info:
        Policy.from_yaml(text)
    assert info.value.field == field
    assert str(info.value) == message


def test_a_field_error_in_a_file_names_the_file_and_the_line(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text("thresholds:\n  accept: 0.8\n  annotate: 0.9\n")
    with pytest.raises(PolicyError) as info:
        Policy.from_yaml(path)
    assert str(info.value).startswith(
        f"policy file {path}, line 3: thresholds.annotate: must be <= "
    )


def test_a_policy_file_that_is_not_utf8_is_refused_naming_the_file(
    tmp_path: Path,
) -> None:
    path = tmp_path / "policy.yaml"
    path.write_bytes("thresholds: {accept: 0.8}  # é\n".encode("latin-1"))
    with pytest.raises(PolicyError, match=rf"^policy file {path} is not UTF-8 text"):
        Policy.from_yaml(path)


def test_numbers_may_be_written_as_integers_or_with_an_exponent() -> None:
    policy = Policy.from_yaml(
        "thresholds: {accept: 1, retry: 0}\nretry: {backoff_seconds: 5e-1}\n"
    )
    assert policy.thresholds.set_bands() == (("accept", 1.0), ("retry", 0.0))
    assert policy.retry.backoff_seconds == 0.5


def test_the_longest_allowed_backoff_is_accepted() -> None:
    retry = RetryPolicy(max_attempts=10, backoff_seconds=1, backoff_multiplier=2)
    assert retry.wait_before(9) == 256.0
    assert RetryPolicy(backoff_seconds=300).wait_before(1) == 300.0


def test_yaml_merge_keys_may_override_what_they_merge() -> None:
    policy = Policy.from_yaml(
        "retry:\n  strategies:\n"
        "    - &wide {name: more_context, params: {top_k: 3}}\n"
        "    - {<<: *wide, params: {top_k: 8}}\n"
    )
    assert policy.retry.strategies == (more_context(3), more_context(8))


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


def test_a_policy_builds_its_named_combiner_with_its_weights() -> None:
    policy = Policy.from_dict({"combiner": "weighted", "weights": {"a": 3.0, "b": 1.0}})
    combiner = policy.build_combiner()
    results = [
        SignalResult(name="a", confidence=1.0),
        SignalResult(name="b", confidence=0.0),
    ]
    assert combiner.name == "weighted"
    assert combiner.combine(results)[0] == pytest.approx(0.75)


def test_a_policy_builds_the_fitted_combiner_it_carries() -> None:
    fitted = LogisticCombiner(intercept=0.0, coefficients={"a": 1.0}, fill={"a": 0.5})
    policy = Policy.from_dict({"combiner": fitted.model_dump(mode="json")})
    assert policy.build_combiner() == fitted
