"""Token-logprob signals: hand-computed metrics, monotone maps, honest skips.

Most tests use two positions with renormalised top-2 distributions
(0.5, 0.5) and (0.9, 0.1); the chosen tokens have probabilities 0.5 and 0.9.
Hand-computed quantities for them:

                  (0.5, 0.5)        (0.9, 0.1)
    entropy H:    ln 2 = 0.693147   0.325083
    exp(H):       2                 1.384145
    sum q^2:      0.5               0.82
    KL(U || q):   0                 -ln 2 - (ln .9 + ln .1) / 2 = 0.510826
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pytest

from confguard.exceptions import InputError, UnknownComponentError
from confguard.observation import Observation, TokenLogprob, TopLogprob
from confguard.results import SignalStatus
from confguard.signals import (
    AverageLogprob,
    DistributionalPerplexity,
    Gini,
    MinTokenProbability,
    SelfCertainty,
    TokenEntropy,
    TokenSignal,
    token_metric,
    token_signals,
)
from confguard.signals.token import (
    average_logprob,
    distributional_perplexity,
    gini,
    mean_entropy,
    min_logprob,
    self_certainty,
)
from confguard.testing import make_observation, token

DISTRIBUTION_SIGNALS = (
    "entropy",
    "distributional_perplexity",
    "gini",
    "self_certainty",
)
LN2 = math.log(2)


def two_tokens() -> list[TokenLogprob]:
    return [token("a", 0.5, {"b": 0.5}), token("c", 0.9, {"d": 0.1})]


def two_token_obs() -> Observation:
    return make_observation(logprobs=two_tokens())


def uniform_obs(k: int) -> Observation:
    alternatives = {f"alt{j}": 1 / k for j in range(1, k)}
    return make_observation(logprobs=[token("alt0", 1 / k, alternatives)] * 2)


# --- each metric against hand-computed values -------------------------------


def test_average_logprob_is_the_mean_chosen_logprob_mapped_to_its_exp() -> None:
    result = AverageLogprob().score(two_token_obs())
    assert result.raw == pytest.approx(-0.399254, abs=1e-6)  # (ln .5 + ln .9) / 2
    assert result.confidence == pytest.approx(0.670820, abs=1e-6)  # sqrt(.45)
    assert result.details == {"n_tokens": 2, "approximate": False}


def test_min_token_prob_reports_the_least_likely_chosen_token() -> None:
    result = MinTokenProbability().score(two_token_obs())
    assert result.raw == pytest.approx(-LN2)
    assert result.confidence == pytest.approx(0.5)


def test_entropy_is_the_mean_entropy_scaled_by_log_k() -> None:
    result = TokenEntropy().score(two_token_obs())
    assert result.raw == pytest.approx(0.509115, abs=1e-6)  # (0.693147 + 0.325083) / 2
    assert result.confidence == pytest.approx(0.265502, abs=1e-6)  # 1 - 0.509115 / ln 2


def test_distributional_perplexity_averages_per_token_perplexities() -> None:
    result = DistributionalPerplexity().score(two_token_obs())
    # (2 + 1.384145) / 2, not exp(mean entropy) = 1.663785
    assert result.raw == pytest.approx(1.692073, abs=1e-6)
    assert result.confidence == pytest.approx(0.307927, abs=1e-6)  # (2 - DP) / (2 - 1)


def test_gini_is_the_mean_sum_of_squared_probabilities() -> None:
    result = Gini().score(two_token_obs())
    assert result.raw == pytest.approx(0.66)  # (0.5 + 0.82) / 2
    assert result.confidence == pytest.approx(0.32)  # (0.66 - 1/2) / (1 - 1/2)


def test_self_certainty_is_the_mean_kl_from_uniform() -> None:
    result = SelfCertainty().score(two_token_obs())
    assert result.raw == pytest.approx(0.255413, abs=1e-6)  # (0 + 0.510826) / 2
    # 1 - exp(-0.255413 / ln 2) = 1 - exp(-0.368483)
    assert result.confidence == pytest.approx(0.308217, abs=1e-6)


@pytest.mark.parametrize("k", [2, 3, 5])
def test_uniform_alternatives_give_zero_confidence_whatever_k(k: int) -> None:
    obs = uniform_obs(k)
    expected_raw = {
        "entropy": math.log(k),
        "distributional_perplexity": k,
        "gini": 1 / k,
        "self_certainty": 0.0,
    }
    for name, raw in expected_raw.items():
        result = token_signals()[name]().score(obs)
        assert result.raw == pytest.approx(raw, abs=1e-12), name
        assert result.confidence == pytest.approx(0.0, abs=1e-12), name
        assert result.details["top_k"] == k


# --- top-k approximation ----------------------------------------------------


def test_top_k_alternatives_are_renormalised_and_flagged_approximate() -> None:
    # 0.4 + 0.4 leaves 0.2 of the vocabulary unseen: renormalised to (0.5, 0.5).
    obs = make_observation(logprobs=[token("a", 0.4, {"b": 0.4})])
    result = TokenEntropy().score(obs)
    assert result.raw == pytest.approx(LN2)
    assert result.details == {
        "n_tokens": 1,
        "approximate": True,
        "top_k": 2,
        "positions_used": 1,
        "positions_without_alternatives": 0,
    }


def test_rows_with_more_alternatives_are_cut_to_the_smallest_k() -> None:
    tokens = [token("a", 0.6, {"b": 0.2, "c": 0.2}), token("d", 0.5, {"e": 0.5})]
    result = Gini().score(make_observation(logprobs=tokens))
    # row 1 cut to (0.6, 0.2) -> (0.75, 0.25): 0.625; row 2: 0.5; mean 0.5625
    assert result.raw == pytest.approx(0.5625)
    assert result.confidence == pytest.approx(0.125)
    assert result.details["top_k"] == 2


def test_positions_without_alternatives_are_left_out_and_counted() -> None:
    tokens = [token("a", 0.5, {"b": 0.5}), token("c", 0.9)]
    result = TokenEntropy().score(make_observation(logprobs=tokens))
    assert result.raw == pytest.approx(LN2)
    assert result.details["positions_used"] == 1
    assert result.details["positions_without_alternatives"] == 1


# --- monotone maps ----------------------------------------------------------


@pytest.mark.parametrize("name", sorted(token_signals()))
def test_confidence_rises_with_the_chosen_tokens_probability(name: str) -> None:
    confidences: list[float] = []
    for p in (0.55, 0.7, 0.85, 0.99):
        obs = make_observation(logprobs=[token("x", p, {"y": 1 - p})] * 2)
        result = token_signals()[name]().score(obs)
        assert result.confidence is not None
        confidences.append(result.confidence)
    assert confidences == sorted(confidences)
    assert len(set(confidences)) == 4


@pytest.mark.parametrize(
    ("signal", "raws", "rising"),
    [
        (TokenEntropy(), [0.0, 0.2, 0.5, LN2], False),
        (DistributionalPerplexity(), [1.0, 1.3, 1.7, 2.0], False),
        (Gini(), [0.5, 0.6, 0.8, 1.0], True),
        (SelfCertainty(), [0.0, 0.5, 2.0, 9.0], True),
    ],
)
def test_raw_to_confidence_maps_are_strictly_monotone_within_0_and_1(
    signal: TokenEntropy | DistributionalPerplexity | Gini | SelfCertainty,
    raws: list[float],
    rising: bool,
) -> None:
    confidences = [signal.to_confidence(raw, 2) for raw in raws]
    expected = sorted(confidences, reverse=not rising)
    assert confidences == expected
    assert len(set(confidences)) == len(raws)
    assert all(0.0 <= c <= 1.0 for c in confidences)


# --- skipped paths and robustness ------------------------------------------


@pytest.mark.parametrize("name", sorted(token_signals()))
def test_a_model_without_logprobs_is_skipped_with_the_reason(name: str) -> None:
    result = token_signals()[name]().score(make_observation(logprobs=None))
    assert result.status is SignalStatus.SKIPPED
    assert result.reason == "model exposes no logprobs"
    assert result.confidence is None


@pytest.mark.parametrize("name", sorted(token_signals()))
def test_an_answer_without_tokens_is_skipped(name: str) -> None:
    result = token_signals()[name]().score(make_observation(logprobs=[]))
    assert result.status is SignalStatus.SKIPPED
    assert result.reason == "answer has no tokens"


@pytest.mark.parametrize("name", DISTRIBUTION_SIGNALS)
def test_distribution_metrics_without_alternatives_are_skipped(name: str) -> None:
    result = token_signals()[name]().score(make_observation(probs=[0.9, 0.8]))
    assert result.status is SignalStatus.SKIPPED
    assert result.reason is not None
    assert "top_logprobs alternatives" in result.reason
    assert result.details == {"n_tokens": 2}


def test_chosen_token_metrics_need_no_alternatives() -> None:
    result = AverageLogprob().score(make_observation(probs=[0.9, 0.8]))
    assert result.confidence == pytest.approx(math.sqrt(0.72))


@pytest.mark.parametrize("name", sorted(token_signals()))
def test_extreme_logprobs_give_finite_confidences(name: str) -> None:
    extreme = TokenLogprob(
        token="a",
        logprob=-1e-9,
        top_logprobs=(
            TopLogprob(token="a", logprob=-1e-9),
            TopLogprob(token="b", logprob=-9999.0),
        ),
    )
    result = token_signals()[name]().score(make_observation(logprobs=[extreme]))
    assert result.ok
    assert result.confidence is not None
    assert math.isfinite(result.confidence)
    assert result.confidence == pytest.approx(1.0, abs=1e-6)


def test_a_non_finite_logprob_fails_the_signal_instead_of_scoring_nan() -> None:
    bad = TokenLogprob(token="a", logprob=-math.inf)
    result = AverageLogprob().score(make_observation(logprobs=[bad]))
    assert result.status is SignalStatus.FAILED
    assert result.reason == "InputError: logprobs must be finite"


@pytest.mark.parametrize("name", sorted(token_signals()))
def test_token_signals_declare_zero_llm_calls(name: str) -> None:
    assert token_signals()[name]().cost.llm_calls == 0


async def test_ascore_gives_the_same_result_as_score() -> None:
    signal = SelfCertainty()
    result = await signal.ascore(two_token_obs())
    assert result.raw == pytest.approx(0.255413, abs=1e-6)


def test_a_signal_can_be_renamed() -> None:
    assert Gini(name="gini_top5").score(two_token_obs()).name == "gini_top5"


def test_score_tokens_scores_a_bare_token_list() -> None:
    result = TokenEntropy().score_tokens(two_tokens())
    assert result.raw == pytest.approx(0.509115, abs=1e-6)


# --- pure functions and the registry ---------------------------------------


def test_pure_functions_take_numpy_arrays() -> None:
    top = np.log([[0.5, 0.5], [0.9, 0.1]])
    assert average_logprob(np.log([0.5, 0.9])) == pytest.approx(-0.399254, abs=1e-6)
    assert min_logprob(np.log([0.5, 0.9])) == pytest.approx(-LN2)
    assert mean_entropy(top) == pytest.approx(0.509115, abs=1e-6)
    assert distributional_perplexity(top) == pytest.approx(1.692073, abs=1e-6)
    assert gini(top) == pytest.approx(0.66)
    assert self_certainty(top) == pytest.approx(0.255413, abs=1e-6)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: average_logprob([]), "non-empty 1-D"),
        (lambda: mean_entropy(np.log([[1.0]])), r"k >= 2"),
        (lambda: gini([[0.0, -np.inf]]), "finite"),
    ],
)
def test_pure_functions_reject_unusable_arrays(
    call: Callable[[], float], message: str
) -> None:
    with pytest.raises(InputError, match=message):
        call()


def test_token_metric_computes_a_named_metric_on_any_token_list() -> None:
    assert token_metric("gini", two_tokens()) == pytest.approx(0.66)
    openai = {"content": [{"token": "a", "logprob": math.log(0.5), "top_logprobs": []}]}
    assert token_metric("min_token_prob", openai) == pytest.approx(-LN2)


def test_token_metric_names_the_known_metrics_for_an_unknown_one() -> None:
    with pytest.raises(
        UnknownComponentError, match=r"unknown token metric 'ppl'.*gini"
    ):
        token_metric("ppl", two_tokens())


def test_token_metric_refuses_a_registered_signal_that_is_no_token_signal() -> None:
    with pytest.raises(UnknownComponentError) as caught:
        token_metric("judge", two_tokens())
    assert caught.value.kind == "token metric"
    assert sorted(caught.value.known) == sorted(token_signals())


def test_token_metric_raises_when_the_metric_cannot_run() -> None:
    with pytest.raises(InputError, match=r"entropy: needs top_logprobs"):
        token_metric("entropy", [token("a", 0.9)])


def test_the_registry_holds_the_six_token_signals() -> None:
    assert sorted(token_signals()) == [
        "avg_logprob",
        "distributional_perplexity",
        "entropy",
        "gini",
        "min_token_prob",
        "self_certainty",
    ]
    assert all(issubclass(cls, TokenSignal) for cls in token_signals().values())


def test_a_token_list_changed_in_place_is_scored_afresh() -> None:
    from confguard.observation import TokenLogprob, TopLogprob
    from confguard.signals import Gini

    def token(p: float) -> TokenLogprob:
        top = (
            TopLogprob(token="a", logprob=math.log(p)),
            TopLogprob(token="b", logprob=math.log(1 - p)),
        )
        return TokenLogprob(token="a", logprob=math.log(p), top_logprobs=top)

    tokens = [token(0.5)]
    first = Gini().score_tokens(tokens).raw
    tokens[0] = token(0.99)
    assert Gini().score_tokens(tokens).raw != first
