"""Retrieval-side signals: similarity of the best passage, answer found in passages."""

import pytest

from confguard.observation import Context
from confguard.results import SignalStatus
from confguard.signals.retrieval import AnswerSupport, RetrievalSupport, ramp
from confguard.testing import make_observation


@pytest.mark.parametrize(
    ("value", "expected"), [(0.1, 0.0), (0.2, 0.0), (0.4, 0.5), (0.6, 1.0), (0.9, 1.0)]
)
def test_ramp_maps_linearly_between_bounds(value: float, expected: float) -> None:
    assert ramp(value, 0.2, 0.6) == pytest.approx(expected)


def test_ramp_rejects_inverted_bounds() -> None:
    with pytest.raises(ValueError, match="low < high"):
        RetrievalSupport(low=0.6, high=0.2)


def test_retrieval_support_uses_the_best_context_score() -> None:
    obs = make_observation(
        contexts=[Context(text="a", score=0.3), Context(text="b", score=0.5)]
    )
    result = RetrievalSupport(low=0.2, high=0.6).score(obs)
    assert result.status is SignalStatus.OK
    assert result.raw == pytest.approx(0.5)
    assert result.confidence == pytest.approx(0.75)


def test_retrieval_support_skips_without_contexts_or_scores() -> None:
    no_contexts = RetrievalSupport().score(make_observation())
    no_scores = RetrievalSupport().score(make_observation(contexts=["text"]))
    assert no_contexts.status is SignalStatus.SKIPPED
    assert no_contexts.reason == "no retrieved contexts"
    assert no_scores.status is SignalStatus.SKIPPED
    assert "no retrieval scores" in (no_scores.reason or "")


def test_answer_support_counts_answer_tokens_found_in_contexts() -> None:
    obs = make_observation(
        answer="the Denver Broncos of Mars",
        contexts=["Denver Broncos won.", "They beat the Panthers."],
    )
    result = AnswerSupport().score(obs)
    # normalised answer tokens: denver, broncos, of, mars -> 2 of 4 found
    assert result.confidence == pytest.approx(0.5)
    assert result.details == {"answer_tokens": 4, "found": 2}


def test_answer_support_gives_zero_to_an_empty_answer() -> None:
    result = AnswerSupport().score(make_observation(answer="  ", contexts=["x"]))
    assert result.confidence == 0.0
    assert result.details["empty_answer"] is True
