"""SQuAD answer normalisation, exact match and token F1."""

import pytest

from confguard.text import content_tokens, exact_match, normalize_answer, token_f1


def test_normalisation_drops_case_punctuation_and_articles() -> None:
    assert normalize_answer("The  Denver Broncos!") == "denver broncos"


def test_exact_match_against_any_gold() -> None:
    assert exact_match("denver broncos", ["Carolina Panthers", "The Denver Broncos"])
    assert not exact_match("Broncos", ["Denver Broncos"])


@pytest.mark.parametrize(
    ("prediction", "golds", "expected"),
    [
        ("Denver Broncos", ["Denver Broncos"], 1.0),
        ("Broncos", ["Denver Broncos"], 2 * (1.0 * 0.5) / 1.5),  # P=1, R=1/2
        ("the Broncos of Denver", ["Denver Broncos"], 2 * (2 / 3 * 1.0) / (2 / 3 + 1)),
        ("Panthers", ["Denver Broncos"], 0.0),
        ("", ["Denver Broncos"], 0.0),
        ("x", [], 0.0),
    ],
)
def test_token_f1_is_the_best_over_golds(
    prediction: str, golds: list[str], expected: float
) -> None:
    assert token_f1(prediction, golds) == pytest.approx(expected)


def test_content_tokens_leave_out_the_words_that_carry_no_topic() -> None:
    assert content_tokens("Who was the first to land on the Moon?") == [
        "first",
        "land",
        "moon",
    ]
    assert content_tokens("Where is it?") == []
