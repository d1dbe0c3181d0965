"""Claim relevance: a true sentence of the context that answers another question
must score lower than the one that answers the question asked."""

from __future__ import annotations

from typing import ClassVar

import pytest

from confguard.claims import (
    GENERIC_QUESTION,
    ClaimQuestionLift,
    ClaimQuestionRelevance,
    SentenceSplitter,
    question_part,
)
from confguard.llm.base import BaseContinuationScorer, ScoringRequest
from confguard.observation import Observation, TokenLogprob
from confguard.results import Claim, SignalStatus
from confguard.testing import FakeEmbedder, make_observation
from confguard.testing.generators import fake_tokens

CONTEXT = (
    "The Denver Broncos won Super Bowl 50 in February. "
    "The game was played at Levi's Stadium in Santa Clara."
)


def claim_in(answer: str, text: str) -> Claim:
    start = answer.index(text)
    return Claim(index=0, text=text, start=start, end=start + len(text))


def observation(question: str, answer: str, contexts: bool = True) -> Observation:
    obs = make_observation(answer, question)
    if not contexts:
        return obs
    return obs.model_copy(
        update={"contexts": make_observation(contexts=[CONTEXT]).contexts}
    )


class AnswerKey(BaseContinuationScorer):
    """A reader that finds an answer likely only when its question is asked:
    "won" asks for the Broncos, "played" for Santa Clara."""

    KEY: ClassVar[dict[str, str]] = {"won": "broncos", "played": "clara"}

    def __init__(self) -> None:
        self.prompts: list[str] = []

    def score_continuation(self, request: ScoringRequest) -> tuple[TokenLogprob, ...]:
        self.prompts.append(request.prompt)
        asked = request.prompt.rsplit("Question:", 1)[-1].lower()
        wanted = {a for q, a in self.KEY.items() if q in asked}
        likely = any(a in request.continuation.lower() for a in wanted)
        return tuple(
            TokenLogprob(token=w, logprob=-0.1 if likely else -2.0)
            for w in fake_tokens(request.continuation)
        )


# --- which part of the question a claim answers ---------------------------------


def test_a_single_question_is_the_part_every_claim_answers() -> None:
    obs = observation("Who won Super Bowl 50?", "The Broncos. In Santa Clara.")
    claim = claim_in(obs.answer, "In Santa Clara.")
    assert question_part(obs, claim, SentenceSplitter()) == "Who won Super Bowl 50?"


def test_a_claim_answers_the_part_its_own_sentence_and_the_one_before_echo() -> None:
    question = "Who won Super Bowl 50? Where was the game played?"
    answer = (
        "Super Bowl 50 was won by the Broncos. The game was played there. Santa Clara."
    )
    obs = observation(question, answer)
    last = claim_in(answer, "Santa Clara.")
    first = claim_in(answer, "Super Bowl 50 was won by the Broncos.")
    assert question_part(obs, last, SentenceSplitter()) == "Where was the game played?"
    assert question_part(obs, first, SentenceSplitter()) == "Who won Super Bowl 50?"


def test_a_claim_sharing_no_word_with_any_part_is_held_to_the_whole_question() -> None:
    question = "Who won? Where?"
    obs = observation(question, "Zebras.")
    assert question_part(obs, claim_in("Zebras.", "Zebras."), SentenceSplitter()) == (
        question
    )


# --- the likelihood lift under the question asked -------------------------------


def test_question_lift_is_high_for_the_claim_that_answers_the_question() -> None:
    obs = observation("Who won Super Bowl 50?", "The Broncos. Santa Clara.")
    signal = ClaimQuestionLift(AnswerKey())
    right = signal.score_claim(claim_in(obs.answer, "The Broncos."), obs)
    true_but_irrelevant = signal.score_claim(claim_in(obs.answer, "Santa Clara."), obs)
    assert right.confidence is not None and true_but_irrelevant.confidence is not None
    assert right.confidence > 0.8
    assert true_but_irrelevant.confidence == pytest.approx(0.5)  # no lift at all
    assert right.details["question"] == "Who won Super Bowl 50?"


def test_question_lift_compares_the_question_with_a_generic_one_in_two_calls() -> None:
    scorer = AnswerKey()
    obs = observation("Where was the game played?", "Santa Clara.")
    result = ClaimQuestionLift(scorer).score_claim(
        claim_in(obs.answer, "Santa Clara."), obs
    )
    assert result.cost.llm_calls == 2
    assert [
        p.endswith(f"Question: {q}\nAnswer: ")
        for p, q in zip(
            scorer.prompts,
            ["Where was the game played?", GENERIC_QUESTION],
            strict=True,
        )
    ] == [True, True]
    assert all(p.startswith("Context:\n" + CONTEXT) for p in scorer.prompts)
    assert result.raw == pytest.approx(1.9 * len(fake_tokens("Santa Clara.")))


def test_each_part_of_a_multi_part_question_is_asked_for_its_own_claim() -> None:
    question = "Who won Super Bowl 50? Where was it played?"
    answer = "It was won by the Broncos. It was played in Santa Clara."
    obs = observation(question, answer)
    signal = ClaimQuestionLift(AnswerKey())
    for text in ("It was won by the Broncos.", "It was played in Santa Clara."):
        assert signal.score_claim(claim_in(answer, text), obs).confidence > 0.8  # type: ignore[operator]


def test_question_lift_is_skipped_without_contexts() -> None:
    obs = observation("Who won?", "The Broncos.", contexts=False)
    result = ClaimQuestionLift(AnswerKey()).score_claim(
        claim_in(obs.answer, "The Broncos."), obs
    )
    assert result.status is SignalStatus.SKIPPED
    assert result.reason == "no retrieved contexts"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"scale": 0.0}, "scale must be > 0"), ({"generic": "  "}, "generic must be")],
)
def test_question_lift_refuses_bad_parameters(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ClaimQuestionLift(AnswerKey(), **kwargs)


# --- the stating sentence against the sentence the question points at -----------


def test_relevance_is_full_for_a_claim_from_the_sentence_the_question_points_at() -> (
    None
):
    obs = observation(
        "Who won Super Bowl 50 in February?", "The Denver Broncos. Santa Clara."
    )
    signal = ClaimQuestionRelevance(FakeEmbedder(dim=256))
    right = signal.score_claim(claim_in(obs.answer, "The Denver Broncos."), obs)
    elsewhere = signal.score_claim(claim_in(obs.answer, "Santa Clara."), obs)
    assert right.confidence == 1.0 and right.raw == pytest.approx(0.0)
    assert elsewhere.confidence is not None and elsewhere.confidence < 1.0
    assert elsewhere.raw is not None and elsewhere.raw < 0.0
    assert elsewhere.details["sentence"].startswith("The game was played")


def test_relevance_finds_a_paraphrased_claims_sentence_by_embedding() -> None:
    obs = observation("Who won Super Bowl 50 in February?", "Zzz qqq.")
    result = ClaimQuestionRelevance(FakeEmbedder(dim=256)).score_claim(
        claim_in(obs.answer, "Zzz qqq."), obs
    )
    assert result.ok and result.details["sentence"] in CONTEXT


def test_relevance_is_skipped_without_contexts_and_checks_its_ramp() -> None:
    obs = observation("Who won?", "The Broncos.", contexts=False)
    signal = ClaimQuestionRelevance(FakeEmbedder(dim=64))
    result = signal.score_claim(claim_in(obs.answer, "The Broncos."), obs)
    assert result.status is SignalStatus.SKIPPED
    with pytest.raises(ValueError):
        ClaimQuestionRelevance(FakeEmbedder(dim=64), low=0.0, high=-0.5)
