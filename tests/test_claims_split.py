"""Splitting answers into claims, and aligning claims with the tokens behind them."""

from __future__ import annotations

import pytest

from confguard.claims import (
    RegexSentenceSplitter,
    SentenceSplitter,
    split_claims,
    token_offsets,
    token_span,
)
from confguard.observation import TokenLogprob
from confguard.testing.generators import fake_tokens

SPLITTERS = [SentenceSplitter(), RegexSentenceSplitter()]


def texts(answer: str, splitter: object) -> list[str]:
    return [c.text for c in split_claims(answer, splitter=splitter)]  # type: ignore[arg-type]


@pytest.mark.parametrize("splitter", SPLITTERS, ids=["pysbd", "regex"])
def test_abbreviations_and_initials_do_not_end_a_sentence(splitter: object) -> None:
    answer = "Dr. Smith met Mr. J. Jones in the U.S. last year. They talked."
    assert texts(answer, splitter) == [
        "Dr. Smith met Mr. J. Jones in the U.S. last year.",
        "They talked.",
    ]


@pytest.mark.parametrize("splitter", SPLITTERS, ids=["pysbd", "regex"])
def test_decimals_and_amounts_stay_inside_their_sentence(splitter: object) -> None:
    answer = "The stadium cost $1.3 billion in 2014. It seats 68,500 people."
    assert texts(answer, splitter) == [
        "The stadium cost $1.3 billion in 2014.",
        "It seats 68,500 people.",
    ]


@pytest.mark.parametrize("splitter", SPLITTERS, ids=["pysbd", "regex"])
def test_each_list_item_is_a_claim(splitter: object) -> None:
    bullets = "- Paris is the capital.\n- Lyon is the third city.\n- Nice is south."
    assert texts(bullets, splitter) == [
        "- Paris is the capital.",
        "- Lyon is the third city.",
        "- Nice is south.",
    ]
    numbered = "1. Preheat the oven. 2. Mix the flour. 3. Bake for an hour."
    found = texts(numbered, splitter)
    assert found[-2:] == ["2. Mix the flour.", "3. Bake for an hour."]
    assert "Preheat the oven." in found[0]


def test_a_claim_spans_exactly_its_characters_without_surrounding_space() -> None:
    answer = "  Paris is big.   It is old.\n"
    claims = split_claims(answer)
    assert [(c.start, c.end) for c in claims] == [(2, 15), (18, 28)]
    assert all(answer[c.start : c.end] == c.text for c in claims)
    assert [c.index for c in claims] == [0, 1]


def test_token_offsets_follow_pieces_that_join_to_the_answer() -> None:
    assert token_offsets("Hi there.", ["Hi", " there", "."]) == [(0, 2), (2, 8), (8, 9)]


def test_token_offsets_survive_a_stripped_answer_and_unmatched_pieces() -> None:
    # The provider's first token carries a space the answer lost; one piece is a
    # partial byte that spells nothing: it gets an empty span, the rest align.
    spans = token_offsets("Paris is big", [" Paris", " is", "\ufffd", " big"])
    assert spans == [(0, 5), (5, 8), (8, 8), (8, 12)]


def test_each_claim_knows_the_tokens_that_produced_it() -> None:
    answer = "Denver won Super Bowl 50. The game was in Santa Clara."
    tokens = [TokenLogprob(token=t, logprob=-0.1) for t in fake_tokens(answer)]
    first, second = split_claims(answer, tokens)
    assert (first.token_start, first.token_end) == (0, 5)
    assert (second.token_start, second.token_end) == (5, 11)
    pieces = "".join(t.token for t in tokens[second.token_start : second.token_end])
    assert pieces.strip() == second.text


def test_a_token_straddling_two_claims_counts_for_both() -> None:
    spans = token_offsets("Yes.No.", ["Yes", ".No", "."])
    assert token_span(spans, 0, 4) == (0, 2)
    assert token_span(spans, 4, 7) == (1, 3)


def test_no_logprobs_means_no_token_span() -> None:
    [claim] = split_claims("Paris.")
    assert claim.token_start is None and claim.token_end is None


def test_an_essential_marker_marks_the_claims_it_picks() -> None:
    claims = split_claims("A is 1. B is 2.", essential=lambda c: "B" in c.text)
    assert [c.essential for c in claims] == [False, True]


def test_a_splitter_of_ones_own_decides_the_claims() -> None:
    class Clauses:
        def spans(self, text: str) -> list[tuple[int, int]]:
            cut = text.index(",")
            return [(0, cut), (cut + 2, len(text))]

    answer = "Paris is the capital, Lyon is bigger"
    assert [c.text for c in split_claims(answer, splitter=Clauses())] == [
        "Paris is the capital",
        "Lyon is bigger",
    ]
