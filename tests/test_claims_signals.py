"""Claim signals: evidence about one claim, under the SignalResult contract."""

from __future__ import annotations

import math

import pytest

from confguard.claims import (
    ClaimContextLift,
    ClaimContextSupport,
    ClaimForcedLikelihood,
    ClaimLexicalSupport,
    ClaimSampleAgreement,
    ClaimScorer,
    ClaimTokenConfidence,
    forced_prompt,
    split_claims,
)
from confguard.exceptions import ConfigurationError
from confguard.llm.base import BaseContinuationScorer, ScoringRequest
from confguard.observation import Observation, TokenLogprob
from confguard.results import SignalStatus
from confguard.signals import MinTokenProbability
from confguard.testing import FakeEmbedder, FakeGenerator, make_observation
from confguard.testing.generators import fake_tokens

CONTEXT = "The Denver Broncos won Super Bowl 50. The game was played in Santa Clara."
ANSWER = "The Broncos won Super Bowl 50. The moon is made of green cheese."


def observation(**changes: object) -> Observation:
    """ANSWER with confident tokens for the first claim and doubtful ones after."""
    words = fake_tokens(ANSWER)
    tokens = [
        TokenLogprob(token=w, logprob=math.log(0.9 if i < 6 else 0.2))
        for i, w in enumerate(words)
    ]
    obs = make_observation(ANSWER, "Who won Super Bowl 50?", logprobs=tokens)
    return obs.model_copy(
        update={"contexts": make_observation(contexts=[CONTEXT]).contexts, **changes}
    )


def scores(signal: object, obs: Observation) -> list[float | None]:
    claims = split_claims(obs.answer, obs.logprobs)
    return [signal.score_claim(c, obs).confidence for c in claims]  # type: ignore[attr-defined]


def test_token_confidence_reads_only_the_claims_own_tokens() -> None:
    first, second = scores(ClaimTokenConfidence(), observation())
    assert first == pytest.approx(0.9)
    assert second == pytest.approx(0.2)


def test_token_confidence_takes_any_token_metric_and_names_itself_after_it() -> None:
    signal = ClaimTokenConfidence(MinTokenProbability())
    assert signal.name == "claim_min_token_prob"
    assert scores(signal, observation())[1] == pytest.approx(0.2)


def test_token_confidence_is_skipped_without_logprobs_never_guessed() -> None:
    obs = observation(logprobs=None)
    [claim, _] = split_claims(obs.answer)
    result = ClaimTokenConfidence().score_claim(claim, obs)
    assert result.status is SignalStatus.SKIPPED
    assert result.reason == "model exposes no logprobs"


def test_lexical_support_finds_the_claims_words_in_a_context() -> None:
    first, second = scores(ClaimLexicalSupport(), observation())
    assert first == 1.0
    assert second is not None and second < 0.3


def test_context_support_picks_the_best_matching_context_sentence() -> None:
    signal = ClaimContextSupport(FakeEmbedder(dim=256), low=0.0, high=1.0)
    obs = observation()
    [first, second] = split_claims(obs.answer)
    supported = signal.score_claim(first, obs)
    assert supported.details["sentence"] == "The Denver Broncos won Super Bowl 50."
    unsupported = signal.score_claim(second, obs)
    assert supported.confidence is not None and unsupported.confidence is not None
    assert supported.confidence > 0.7 > unsupported.confidence


def test_context_support_is_skipped_without_contexts() -> None:
    obs = observation(contexts=())
    [claim, _] = split_claims(obs.answer)
    result = ClaimContextSupport(FakeEmbedder()).score_claim(claim, obs)
    assert result.status is SignalStatus.SKIPPED


def test_sample_agreement_counts_the_samples_that_say_the_claim() -> None:
    samples = make_observation(
        samples=[
            "The Broncos won Super Bowl 50.",
            "Denver's Broncos won Super Bowl 50.",
        ]
    ).samples
    obs = observation(samples=samples)
    lexical = scores(ClaimSampleAgreement(), obs)
    embedded = scores(ClaimSampleAgreement(FakeEmbedder(dim=256)), obs)
    for first, second in (lexical, embedded):
        assert first is not None and second is not None
        assert first > 0.8 and second < 0.4


def test_sample_agreement_is_skipped_without_samples() -> None:
    obs = observation()
    [claim, _] = split_claims(obs.answer)
    result = ClaimSampleAgreement().score_claim(claim, obs)
    assert result.reason == "the observation has no samples"


class ContextReader(BaseContinuationScorer):
    """A scorer that, like a reader model, finds words of the context likely when
    the context is in the prompt and every word unlikely without it."""

    def __init__(self) -> None:
        self.prompts: list[str] = []

    def score_continuation(self, request: ScoringRequest) -> tuple[TokenLogprob, ...]:
        self.prompts.append(request.prompt)
        shown = request.prompt.lower() if "Context:" in request.prompt else ""
        return tuple(
            TokenLogprob(token=w, logprob=-0.1 if w.strip().lower() in shown else -3.0)
            for w in fake_tokens(request.continuation)
        )


def test_teacher_forcing_scores_the_claim_after_the_answer_before_it() -> None:
    obs = observation()
    _, second = split_claims(obs.answer)
    prompt = forced_prompt(obs, second, with_context=True)
    assert prompt.startswith("Context:\n" + CONTEXT)
    assert prompt.endswith("Answer: The Broncos won Super Bowl 50. ")
    assert "Context" not in forced_prompt(obs, second, with_context=False)


def test_context_lift_is_high_for_a_claim_the_context_makes_likelier() -> None:
    scorer = ContextReader()
    first, second = scores(ClaimContextLift(scorer), observation())
    assert first is not None and second is not None
    assert first > 0.99 and second < 0.75  # one word of seven is in the context
    assert len(scorer.prompts) == 4  # with and without the context, per claim


def test_forced_likelihood_reports_the_models_probability_and_its_call() -> None:
    obs = observation()
    first, second = split_claims(obs.answer)
    signal = ClaimForcedLikelihood(ContextReader())
    found = signal.score_claim(first, obs)
    assert found.confidence == pytest.approx(math.exp(-0.1))
    assert found.cost.llm_calls == 1
    assert signal.score_claim(second, obs).confidence < 0.2  # type: ignore[operator]


def test_a_scorer_that_raises_makes_the_signal_failed_not_the_answer() -> None:
    broken = FakeGenerator(logprobs=None)  # it raises GenerationError on scoring
    obs = observation()
    [claim, _] = split_claims(obs.answer)
    result = ClaimContextLift(broken).score_claim(claim, obs)
    assert result.status is SignalStatus.FAILED
    assert "GenerationError" in (result.reason or "")


def test_the_claim_scorer_runs_every_signal_on_every_claim() -> None:
    scorer = ClaimScorer([ClaimTokenConfidence(), ClaimLexicalSupport()])
    scored = scorer.score(observation())
    assert [s.claim.text for s in scored] == [
        "The Broncos won Super Bowl 50.",
        "The moon is made of green cheese.",
    ]
    assert [[r.name for r in s.results] for s in scored] == [
        ["claim_avg_logprob", "claim_lexical"]
    ] * 2


def test_claim_signal_names_must_be_unique() -> None:
    with pytest.raises(ConfigurationError, match="repeated: \\['claim_lexical'\\]"):
        ClaimScorer([ClaimLexicalSupport(), ClaimLexicalSupport()])
