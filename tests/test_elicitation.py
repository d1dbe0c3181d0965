"""Verbalized confidence elicitation: prompts for base models, robust parsing."""

from __future__ import annotations

import pytest

from confguard.results import SignalStatus
from confguard.signals.elicitation import (
    ElicitedConfidence,
    PlainStyle,
    TopKStyle,
    elicit,
    parse_guesses,
)
from confguard.testing import FakeGenerator, make_observation

OBS = make_observation(
    "Denver Broncos",
    "Which team won Super Bowl 50?",
    contexts=["The Denver Broncos defeated the Carolina Panthers 24-10."],
)


def test_the_plain_prompt_fills_in_the_answer_and_asks_for_a_confidence() -> None:
    prompt = PlainStyle().prompt(OBS.question, ["ctx"], "Denver Broncos")
    assert prompt.endswith(
        "Context: ctx\nQuestion: Which team won Super Bowl 50?\n"
        "Answer: Denver Broncos\nConfidence:"
    )
    assert prompt.count("Confidence: ") == 3  # one per worked example


def test_without_an_answer_the_plain_prompt_asks_for_both() -> None:
    prompt = PlainStyle().prompt("Q?", ["ctx"], None)
    assert prompt.endswith("Question: Q?\nAnswer:")


def test_the_top_k_prompt_starts_the_first_guess_with_the_answer() -> None:
    prompt = TopKStyle(k=2).prompt("Q?", ["ctx"], "Paris")
    assert prompt.endswith("Guesses: 1. Paris (confidence")
    assert "Guesses: 1. the 1889 World's Fair (confidence 95%) 2. " in prompt


def test_the_stated_confidence_of_the_observed_answer_is_the_signal() -> None:
    gen = FakeGenerator([" 80%\nContext: more"])
    result = ElicitedConfidence(gen).score(OBS)
    assert result.confidence == pytest.approx(0.8)
    assert result.cost.llm_calls == 1
    assert (gen.calls[0].stop, gen.calls[0].max_tokens) == (("\n",), 24)
    assert result.details["reply"] == " 80%"


@pytest.mark.parametrize(
    ("reply", "expected"),
    [(" 0.35", 0.35), (" 7/10", 0.7), (" high", 0.85), (" about 90 percent", 0.9)],
)
def test_stated_confidences_are_read_in_any_usual_form(
    reply: str, expected: float
) -> None:
    result = ElicitedConfidence(FakeGenerator([reply])).score(OBS)
    assert result.confidence == pytest.approx(expected)


def test_a_reply_stating_no_confidence_fails_with_the_reply_in_the_reason() -> None:
    result = ElicitedConfidence(FakeGenerator([" I think so"])).score(OBS)
    assert result.status is SignalStatus.FAILED
    assert result.reason == "reply ' I think so' states no confidence for the answer"


def test_an_empty_answer_is_skipped_without_a_call() -> None:
    gen = FakeGenerator([" 80%"])
    result = ElicitedConfidence(gen).score(make_observation(""))
    assert result.status is SignalStatus.SKIPPED
    assert gen.call_count == 0


def test_top_k_reads_the_confidence_of_the_first_guess() -> None:
    gen = FakeGenerator([" 70%) 2. Carolina Panthers (confidence 10%)"])
    result = ElicitedConfidence(gen, TopKStyle(k=2)).score(OBS)
    assert result.confidence == pytest.approx(0.7)
    assert [g["answer"] for g in result.details["guesses"]] == [
        "Denver Broncos",
        "Carolina Panthers",
    ]


def test_guesses_are_parsed_with_or_without_confidences() -> None:
    guesses = parse_guesses("1. Paris (confidence 70%) 2. Lyon 3. Nice (confidence 5%)")
    assert [(g.answer, g.confidence) for g in guesses] == [
        ("Paris", 0.7),
        ("Lyon", None),
        ("Nice", 0.05),
    ]


def test_numbers_inside_a_guess_are_not_taken_for_new_guesses() -> None:
    [guess] = parse_guesses("1. 5,895 metres (confidence 60%)")
    assert (guess.answer, guess.confidence) == ("5,895 metres", 0.6)


def test_elicit_asks_for_a_fresh_answer_and_its_confidence() -> None:
    gen = FakeGenerator([" the New England Patriots\nConfidence: 10%"])
    found = elicit(gen, "Who won?", ["ctx"])
    assert found.answer == "the New England Patriots"
    assert found.confidence == pytest.approx(0.1)
    assert gen.calls[0].stop == ("\n\n",)


def test_elicit_top_k_returns_every_guess() -> None:
    gen = FakeGenerator([" 1. Patriots (confidence 10%) 2. Giants (confidence 5%)"])
    found = elicit(gen, "Who won?", ["ctx"], TopKStyle(k=2))
    assert [g.answer for g in found.guesses] == ["Patriots", "Giants"]
    assert found.confidence == pytest.approx(0.1)


def test_top_k_needs_at_least_two_guesses() -> None:
    with pytest.raises(ValueError, match="k >= 2"):
        TopKStyle(k=1)


async def test_ascore_matches_score() -> None:
    signal = ElicitedConfidence(FakeGenerator([" 65%"]))
    assert (await signal.ascore(OBS)).confidence == signal.score(OBS).confidence == 0.65
