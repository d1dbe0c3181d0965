"""confguard.streaming: chunks are held back and only gated text is released."""

from __future__ import annotations

import pytest

from confguard.streaming import HoldBack, pieces


@pytest.mark.parametrize(
    "text", ["I can't answer that.", "  two  spaces ", "one", "", "a\nb\n\nc"]
)
def test_pieces_join_back_to_the_text_exactly(text: str) -> None:
    assert "".join(pieces(text)) == text


def test_pieces_are_word_sized() -> None:
    assert pieces("I can't answer that.") == ("I", " can't", " answer", " that.")


def test_nothing_is_released_before_release_is_asked() -> None:
    held = HoldBack()
    held.hold("Maybe")
    held.hold(" Triton")
    assert held.text == "Maybe Triton"  # what the gate scores


def test_an_accepted_answer_is_released_in_its_own_chunks() -> None:
    held = HoldBack()
    for chunk in ["Den", "ver", "", " Broncos"]:
        held.hold(chunk)
    assert list(held.release("Denver Broncos")) == ["Den", "ver", " Broncos"]


def test_a_refusal_releases_none_of_the_held_chunks() -> None:
    held = HoldBack()
    for chunk in ["Maybe", " Triton"]:
        held.hold(chunk)
    released = list(held.release("I can't answer that."))
    assert released == ["I", " can't", " answer", " that."]
    assert not any("Triton" in chunk for chunk in released)


def test_a_caveated_answer_is_released_as_pieces_of_the_gated_text() -> None:
    held = HoldBack()
    held.hold("Paris")
    assert "".join(held.release("Paris\n\n(unsure)")) == "Paris\n\n(unsure)"
