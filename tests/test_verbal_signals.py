"""Verbalized confidence and hedging: signals read from the answer's words."""

from __future__ import annotations

import pytest

from confguard.exceptions import ConfigurationError
from confguard.results import SignalStatus
from confguard.signals import HedgeLexicon, HedgingSignal, VerbalizedConfidence
from confguard.signals.verbal import default_lexicon
from confguard.testing import make_observation

# --- VerbalizedConfidence ---------------------------------------------------


@pytest.mark.parametrize(
    ("answer", "confidence", "form"),
    [
        ("Paris. I'm 80% sure.", 0.8, "percent"),
        ("Paris.\nConfidence: 0.7", 0.7, "probability"),
        ("Paris (confidence: high)", 0.85, "label"),
        ("Paris, certainty 9/10", 0.9, "fraction"),
        ("I am 90 percent confident it is Paris.", 0.9, "percent"),
        ("Confidence level: 4/5", 0.8, "fraction"),
        ("Confidence: 8", 0.8, "tenths"),
        ("My confidence is about 85", 0.85, "percent"),
        ("Paris, with very low confidence.", 0.1, "label"),
        ("CONFIDENCE: LOW", 0.3, "label"),
        ("I'd say 7 out of 10 sure", 0.7, "fraction"),
    ],
)
def test_stated_confidence_is_parsed(answer: str, confidence: float, form: str) -> None:
    result = VerbalizedConfidence().score(make_observation(answer))
    assert result.confidence == pytest.approx(confidence)
    assert result.raw == pytest.approx(confidence)
    assert result.details["form"] == form


def test_the_last_stated_confidence_wins_and_all_are_listed() -> None:
    answer = "Confidence: 0.9. On reflection, confidence: 0.4"
    result = VerbalizedConfidence().score(make_observation(answer))
    assert result.confidence == pytest.approx(0.4)
    assert result.details["statement"] == "confidence: 0.4"
    assert [s["confidence"] for s in result.details["statements"]] == [0.9, 0.4]


@pytest.mark.parametrize(
    "answer",
    [
        "Paris is the capital of France.",
        "GDP grew 3% in 2023.",
        "The 95% confidence interval was wide.",
        "Confidence: 250",
    ],
)
def test_no_stated_confidence_is_skipped(answer: str) -> None:
    result = VerbalizedConfidence().score(make_observation(answer))
    assert result.status is SignalStatus.SKIPPED
    assert result.reason == "answer states no confidence"


def test_an_empty_answer_is_skipped() -> None:
    result = VerbalizedConfidence().score(make_observation("  "))
    assert result.status is SignalStatus.SKIPPED
    assert result.reason == "answer is empty"


def test_custom_labels_replace_the_defaults() -> None:
    signal = VerbalizedConfidence(labels={"high": 0.7, "low": 0.2})
    assert signal.score(make_observation("confidence: high")).confidence == 0.7
    medium = signal.score(make_observation("confidence: medium"))
    assert medium.status is SignalStatus.SKIPPED


def test_verbalized_confidence_makes_no_llm_calls() -> None:
    assert VerbalizedConfidence().cost.llm_calls == 0


async def test_verbalized_ascore_matches_score() -> None:
    result = await VerbalizedConfidence().ascore(make_observation("I'm 60% sure"))
    assert result.confidence == pytest.approx(0.6)


# --- HedgingSignal ------------------------------------------------------------


def test_the_packaged_lexicon_is_loaded_once() -> None:
    lexicon = default_lexicon()
    assert lexicon is default_lexicon()
    assert lexicon.default == 0.8
    assert lexicon.phrases["probably"] == 0.65
    assert lexicon.phrases["i don't know"] == 0.1


def test_a_hedge_maps_to_its_lexicon_confidence() -> None:
    result = HedgingSignal().score(make_observation("It is probably Paris."))
    assert result.confidence == 0.65
    assert result.details == {
        "phrases": ["probably"],
        "values": {"probably": 0.65},
        "used_default": False,
    }


def test_the_longest_phrase_wins_over_phrases_inside_it() -> None:
    signal = HedgingSignal()
    assert signal.score(make_observation("I'm not sure.")).details["phrases"] == [
        "i'm not sure"
    ]
    assert signal.score(make_observation("Most likely Paris")).details["phrases"] == [
        "most likely"
    ]


def test_the_most_doubtful_phrase_sets_the_confidence() -> None:
    answer = "I think it is definitely Paris, but maybe not."
    result = HedgingSignal().score(make_observation(answer))
    assert result.details["phrases"] == ["i think", "definitely", "maybe"]
    assert result.confidence == 0.4  # min(0.65, 0.95, 0.4)


@pytest.mark.parametrize("answer", ["A mighty river.", "Maybelline", "improbably"])
def test_hedges_match_whole_words_only(answer: str) -> None:
    result = HedgingSignal().score(make_observation(answer))
    assert result.details["phrases"] == []
    assert result.confidence == 0.8


def test_matching_ignores_case_curly_apostrophes_and_spacing() -> None:
    result = HedgingSignal().score(make_observation("I DON\u2019T\n  KNOW."))
    assert result.details["phrases"] == ["i don't know"]
    assert result.confidence == 0.1


def test_an_unhedged_answer_gets_the_default() -> None:
    result = HedgingSignal().score(make_observation("Paris."))
    assert result.confidence == 0.8
    assert result.details == {"phrases": [], "used_default": True}


def test_a_custom_lexicon_keeps_the_packaged_default() -> None:
    signal = HedgingSignal({"Allegedly": 0.2})
    assert signal.score(make_observation("Allegedly, Paris.")).confidence == 0.2
    assert signal.score(make_observation("Probably Paris.")).confidence == 0.8


def test_the_default_can_be_overridden() -> None:
    signal = HedgingSignal(default=0.5)
    assert signal.score(make_observation("Paris.")).confidence == 0.5
    assert signal.score(make_observation("Definitely Paris.")).confidence == 0.95


def test_a_hedge_lexicon_object_is_used_as_given() -> None:
    lexicon = HedgeLexicon(phrases={"ish": 0.5}, default=0.9)
    signal = HedgingSignal(lexicon)
    assert signal.score(make_observation("Paris-ish")).confidence == 0.5
    assert signal.score(make_observation("Paris")).confidence == 0.9


def test_a_confidence_outside_0_and_1_names_the_phrase() -> None:
    with pytest.raises(ConfigurationError, match=r"hedge 'maybe': confidence 1.5"):
        HedgingSignal({"maybe": 1.5})


def test_hedging_on_an_empty_answer_is_skipped() -> None:
    result = HedgingSignal().score(make_observation(""))
    assert result.status is SignalStatus.SKIPPED
    assert result.reason == "answer is empty"


def test_hedging_makes_no_llm_calls() -> None:
    assert HedgingSignal().cost.llm_calls == 0


async def test_hedging_ascore_matches_score() -> None:
    result = await HedgingSignal().ascore(make_observation("Perhaps Paris"))
    assert result.confidence == 0.45
