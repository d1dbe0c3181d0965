"""Sampling consistency (Lin et al., 2024): the measures, the signals, similarities."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest

from confguard.llm.base import Completion, GenerationRequest
from confguard.observation import Sample
from confguard.results import SignalStatus
from confguard.signals.base import arun_plan, run_plan
from confguard.signals.consistency import (
    Deg,
    Ecc,
    EigV,
    GeneratorSampler,
    NumSet,
    PerplexityConsistency,
    SelfConsistency,
    with_samples,
)
from confguard.similarity import (
    EmbeddingSimilarity,
    EntailmentSimilarity,
    JaccardSimilarity,
    SimilarityPlan,
    computed,
    degree,
    eccentricity,
    eigenvalue_uncertainty,
    jaccard,
    laplacian,
    semantic_sets,
    yes_probability,
)
from confguard.testing import FakeEmbedder, FakeGenerator, make_observation, token

ALL_SAME = np.ones((3, 3))
ALL_DIFFERENT = np.eye(3)
TWO_SETS = np.array([[1.0, 1.0, 0.0], [1.0, 1.0, 0.0], [0.0, 0.0, 1.0]])

# --- the measures on matrices whose spectra are known ---------------------------------


def test_the_laplacian_of_a_complete_graph_is_i_minus_j_over_m() -> None:
    assert laplacian(ALL_SAME) == pytest.approx(np.eye(3) - np.ones((3, 3)) / 3)
    assert laplacian(ALL_DIFFERENT) == pytest.approx(np.zeros((3, 3)))


def test_degree_uncertainty_and_confidences() -> None:
    assert degree(ALL_SAME)[0] == 0.0
    assert degree(ALL_SAME)[1] == pytest.approx([1, 1, 1])
    assert degree(ALL_DIFFERENT)[0] == pytest.approx(2 / 3)  # trace(3I - I) / 9
    assert degree(ALL_DIFFERENT)[1] == pytest.approx([1 / 3] * 3)
    assert degree(TWO_SETS)[0] == pytest.approx(4 / 9)  # (9 - 5) / 9
    assert degree(TWO_SETS)[1] == pytest.approx([2 / 3, 2 / 3, 1 / 3])


def test_eigenvalue_uncertainty_counts_meanings() -> None:
    # Spectra of L: {0, 1, 1}, {0, 0, 0}, {0, 0, 1}.
    assert eigenvalue_uncertainty(ALL_SAME) == pytest.approx(1.0)
    assert eigenvalue_uncertainty(ALL_DIFFERENT) == pytest.approx(3.0)
    assert eigenvalue_uncertainty(TWO_SETS) == pytest.approx(2.0)


def test_eccentricity_of_identical_answers_is_zero() -> None:
    uncertainty, distances = eccentricity(ALL_SAME)
    assert uncertainty == pytest.approx(0.0, abs=1e-12)
    assert distances == pytest.approx([0, 0, 0], abs=1e-12)


def test_eccentricity_of_unrelated_answers() -> None:
    # All three eigenvectors kept: the centred projection is I - J/3, rows of norm
    # sqrt(2/3); U = sqrt(3 * 2/3) = sqrt(2).
    uncertainty, distances = eccentricity(ALL_DIFFERENT)
    assert distances == pytest.approx([math.sqrt(2 / 3)] * 3)
    assert uncertainty == pytest.approx(math.sqrt(2))


def test_eccentricity_puts_the_odd_one_out_furthest() -> None:
    # Kept: the null space, projection P = blockdiag(J2/2, 1); centred rows have
    # squared norms P_jj - 1/3 = 1/6, 1/6, 2/3.
    uncertainty, distances = eccentricity(TWO_SETS)
    assert distances == pytest.approx([math.sqrt(1 / 6)] * 2 + [math.sqrt(2 / 3)])
    assert uncertainty == pytest.approx(1.0)


def test_semantic_sets_join_the_first_matching_founder() -> None:
    assert semantic_sets(TWO_SETS, 0.5) == [0, 0, 1]
    assert semantic_sets(ALL_DIFFERENT, 0.5) == [0, 1, 2]


# --- the signals ----------------------------------------------------------------------

# Jaccard over "Paris", "Paris", "paris", "Lyon": one set of three and one of one.
PARIS = make_observation("Paris", samples=["Paris", "paris", "Lyon"])


def test_deg_confidence_is_the_answers_mean_similarity() -> None:
    result = Deg(JaccardSimilarity()).score(PARIS)
    assert result.confidence == pytest.approx(3 / 4)
    assert result.raw == pytest.approx((16 - 10) / 16)
    assert result.details["k"] == 3
    assert result.details["similarity"] == "jaccard"


def test_ecc_confidence_is_one_minus_the_answers_distance() -> None:
    result = Ecc(JaccardSimilarity()).score(PARIS)
    # P = blockdiag(J3/3, 1): the answer's centred squared norm is 1/3 - 1/4.
    assert result.confidence == pytest.approx(1 - math.sqrt(1 / 12))
    assert result.raw == pytest.approx(1.0)


def test_eigv_and_numset_map_two_meanings_among_four_answers_to_two_thirds() -> None:
    eigv = EigV(JaccardSimilarity()).score(PARIS)
    numset = NumSet(JaccardSimilarity()).score(PARIS)
    assert eigv.raw == pytest.approx(2.0)
    assert eigv.confidence == pytest.approx((4 - 2) / 3)
    assert numset.raw == 2.0
    assert numset.confidence == pytest.approx(2 / 3)


def test_self_consistency_is_the_share_of_samples_agreeing_with_the_answer() -> None:
    result = SelfConsistency(JaccardSimilarity()).score(PARIS)
    assert result.confidence == pytest.approx(2 / 3)
    assert result.details["majority_share"] == pytest.approx(2 / 3)
    assert result.details["answer_is_majority"] is True
    minority = make_observation("Lyon", samples=["Paris", "paris", "Lyon"])
    assert SelfConsistency(JaccardSimilarity()).score(minority).confidence == (
        pytest.approx(1 / 3)
    )


def test_perplexity_consistency_sums_distinct_agreeing_paths() -> None:
    paris = (token("Paris", 0.5),)
    obs = make_observation("Paris").model_copy(
        update={
            "samples": (
                Sample(text="Paris", logprobs=paris),
                Sample(text="Paris", logprobs=paris),  # the same path counts once
                Sample(text="Lyon", logprobs=(token("Lyon", 0.25),)),
            )
        }
    )
    result = PerplexityConsistency(JaccardSimilarity()).score(obs)
    assert result.confidence == pytest.approx(0.5)
    assert result.details["share_of_sampled_mass"] == pytest.approx(0.5 / 0.75)
    assert result.details["distinct_paths"] == 2


def test_perplexity_consistency_skips_samples_without_logprobs() -> None:
    result = PerplexityConsistency(JaccardSimilarity()).score(PARIS)
    assert result.status is SignalStatus.SKIPPED
    assert result.reason == "samples carry no token logprobs"


def test_without_samples_or_a_sampler_the_signal_is_skipped() -> None:
    result = Deg(JaccardSimilarity()).score(make_observation("Paris"))
    assert result.status is SignalStatus.SKIPPED
    assert "no samples" in (result.reason or "")


def test_all_empty_samples_are_skipped_with_a_reason() -> None:
    result = EigV(JaccardSimilarity()).score(make_observation("x", samples=["", " "]))
    assert result.status is SignalStatus.SKIPPED
    assert result.reason == "all 2 samples are empty"
    assert result.confidence is None


def test_empty_samples_are_dropped_and_counted() -> None:
    obs = make_observation("Paris", samples=["Paris", "", "Lyon"])
    result = Deg(JaccardSimilarity()).score(obs)
    assert result.confidence == pytest.approx(2 / 3)
    assert result.details["empty_samples"] == 1


class NaNSimilarity:
    """A similarity that could not judge one pair."""

    name = "broken"
    threshold = 0.5
    llm_calls_per_pair = 0
    generator = None

    def plan(self, texts: Sequence[str], question: str = "") -> SimilarityPlan:
        w = np.eye(len(texts))
        w[0, 1] = w[1, 0] = math.nan
        return computed(w)


@pytest.mark.parametrize("signal", [NumSet, Deg, Ecc, EigV, SelfConsistency])
def test_a_similarity_matrix_with_nan_fails_instead_of_scoring(signal: Any) -> None:
    result = signal(NaNSimilarity()).score(PARIS)
    assert result.status is SignalStatus.FAILED
    assert result.confidence is None
    assert result.reason == (
        "similarity matrix has 2 non-finite value(s), first at (0, 1)"
    )


def test_a_sampler_draws_k_samples_in_one_call_when_the_observation_has_none() -> None:
    gen = FakeGenerator(["Paris", "Paris", "Lyon"], logprobs=-0.1)
    signal = Deg(JaccardSimilarity(), GeneratorSampler(gen, k=3))
    obs = make_observation("Paris", contexts=["Paris is the capital of France."])
    result = signal.score(obs)
    assert result.confidence == pytest.approx(3 / 4)
    assert result.cost.llm_calls == 3  # K completions, as declared
    assert signal.cost.llm_calls == 3
    [call] = gen.calls
    assert (call.n, call.temperature, call.stop) == (3, 0.7, ("\n",))
    assert (call.max_tokens, call.seed) == (24, None)
    assert call.prompt.endswith("Question: What is the capital of France?\nAnswer:")


def test_samples_already_in_the_observation_cost_nothing() -> None:
    gen = FakeGenerator(["never used"])
    result = Deg(JaccardSimilarity(), GeneratorSampler(gen, k=3)).score(PARIS)
    assert result.cost.llm_calls == 0
    assert gen.call_count == 0


def test_with_samples_draws_once_for_several_signals() -> None:
    gen = FakeGenerator([" Paris", " Lyon"], logprobs=-0.2)
    obs = with_samples(make_observation("Paris"), GeneratorSampler(gen, k=2))
    assert [s.text for s in obs.samples] == ["Paris", "Lyon"]
    assert obs.samples[0].logprobs[0].logprob == -0.2
    assert gen.call_count == 1


def test_a_sampler_refuses_greedy_decoding() -> None:
    with pytest.raises(ValueError, match="temperature > 0"):
        GeneratorSampler(FakeGenerator(), temperature=0.0)


async def test_ascore_matches_score() -> None:
    def signal() -> Ecc:
        gen = FakeGenerator(["Paris", "Lyon", "Paris"])
        return Ecc(JaccardSimilarity(), GeneratorSampler(gen, k=3))

    obs = make_observation("Paris")
    synced, awaited = signal().score(obs), await signal().ascore(obs)
    assert awaited.confidence == pytest.approx(synced.confidence)
    assert awaited.cost.llm_calls == synced.cost.llm_calls == 3


# --- similarities ---------------------------------------------------------------------


def test_jaccard_compares_normalised_token_sets() -> None:
    assert jaccard("the Eiffel Tower", "Eiffel tower in Paris") == 0.5
    assert jaccard("", "") == 1.0
    assert jaccard("Paris", "") == 0.0


def test_embedding_similarity_is_cosine_and_a_wordless_text_matches_nothing() -> None:
    sim = EmbeddingSimilarity(FakeEmbedder(dim=64))
    w = sim.matrix(["red apple", "apple red", "?!"])
    assert w[0, 1] == pytest.approx(1.0)
    assert w[2].tolist() == [0.0, 0.0, 1.0]
    assert sim.name == "embedding:fake"


class YesNo:
    """An entailment judge scripted by the order of the two answers."""

    name = "yes-no"

    def __init__(self, table: dict[tuple[str, str], Completion]) -> None:
        self.table = table
        self.prompts: list[str] = []

    def generate(self, request: GenerationRequest) -> tuple[Completion, ...]:
        self.prompts.append(request.prompt)
        case = request.prompt.rsplit("Answer 1: ", 1)[1]
        first, rest = case.split("\nAnswer 2: ")
        return (self.table[(first, rest.split("\n")[0])],)

    async def agenerate(self, request: GenerationRequest) -> tuple[Completion, ...]:
        return self.generate(request)


def said(prob_yes: float) -> Completion:
    step = token(" yes", prob_yes, {" no": 1 - prob_yes})
    return Completion(text=" yes", logprobs=(step,))


def test_entailment_averages_both_directions_and_skips_duplicates() -> None:
    gen = YesNo({("Paris", "Lyon"): said(0.8), ("Lyon", "Paris"): said(0.4)})
    plan = EntailmentSimilarity(gen).plan(["Paris", "paris", "Lyon"], question="Q?")
    w, cost = run_plan(plan, gen)
    assert w[0, 2] == w[2, 0] == pytest.approx(0.6)
    assert w[0, 1] == 1.0
    assert len(gen.prompts) == cost.llm_calls == 2


def test_yes_probability_is_renormalised_over_yes_and_no() -> None:
    step = token("maybe", 0.6, {"yes": 0.3, "no": 0.1})
    assert yes_probability(Completion(text="maybe", logprobs=(step,))) == pytest.approx(
        0.75
    )
    assert yes_probability(Completion(text=" No.")) == 0.0
    assert yes_probability(Completion(text="perhaps")) is None


def test_an_unreadable_entailment_reply_fails_the_signal_with_nan_named() -> None:
    unreadable = Completion(text=" maybe", logprobs=(token(" maybe", 0.9),))
    gen = YesNo({("Paris", "Lyon"): unreadable, ("Lyon", "Paris"): said(0.5)})
    obs = make_observation("Paris", samples=["Lyon"])
    result = Deg(EntailmentSimilarity(gen)).score(obs)
    assert result.status is SignalStatus.FAILED
    assert "non-finite" in (result.reason or "")


async def test_the_entailment_plan_gives_the_same_matrix_sync_and_async() -> None:
    gen = YesNo({("Paris", "Lyon"): said(0.8), ("Lyon", "Paris"): said(0.4)})
    sim = EntailmentSimilarity(gen)
    awaited, _ = await arun_plan(sim.plan(["Paris", "Lyon"]), gen)
    synced, _ = run_plan(sim.plan(["Paris", "Lyon"]), gen)
    assert awaited.tolist() == synced.tolist()


def test_entailment_asks_for_two_tokens_with_a_wide_top_k() -> None:
    gen = FakeGenerator([" yes"])
    run_plan(EntailmentSimilarity(gen, top_logprobs=7).plan(["Paris", "Lyon"]), gen)
    assert [(c.max_tokens, c.top_k) for c in gen.calls] == [(2, 7), (2, 7)]


def test_a_sampler_and_a_similarity_on_different_models_are_refused() -> None:
    sampler = GeneratorSampler(FakeGenerator(["Paris"]), k=2)
    with pytest.raises(ValueError, match="share one generator"):
        Deg(EntailmentSimilarity(FakeGenerator([" yes"])), sampler)


def test_a_sampler_and_a_similarity_may_share_one_model() -> None:
    gen = FakeGenerator(lambda prompt: " yes" if "Same meaning" in prompt else "Lyon")
    signal = Deg(EntailmentSimilarity(gen), GeneratorSampler(gen, k=2))
    result = signal.score(make_observation("Paris"))
    assert result.ok
    assert result.cost.llm_calls == 2 + 2  # two samples, one pair both ways


def test_entailment_signals_report_their_pair_calls() -> None:
    gen = YesNo({("Paris", "Lyon"): said(0.8), ("Lyon", "Paris"): said(0.4)})
    result = Deg(EntailmentSimilarity(gen)).score(
        make_observation("Paris", samples=["Lyon", "Paris"])
    )
    assert result.cost.llm_calls == 2
    assert result.confidence == pytest.approx((1 + 0.6 + 1) / 3)
