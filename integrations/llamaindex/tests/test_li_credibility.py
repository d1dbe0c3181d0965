"""Credibility checks: plain functions, and RCR's context trust as credibility."""

from __future__ import annotations

import math

import pytest
from confguard.signals.faithfulness import SituatedFaithfulness
from confguard.testing import FakeGenerator

from llama_index.postprocessor.confguard import (
    FunctionCredibility,
    SituatedCredibility,
)
from llama_index.postprocessor.confguard.credibility import as_credibility

PASSAGE = "The Denver Broncos defeated the Carolina Panthers in Super Bowl 50."

# The fake scores every continuation alike, so with and without the question the
# answer is equally likely: PMI 0, and trust = logistic((0 - 1) / 1) = 1 / (1 + e).
TRUST_AT_ZERO_PMI = 1 / (1 + math.e)


def rcr_check() -> SituatedCredibility:
    generator = FakeGenerator(["Denver Broncos"], logprobs=-0.2)
    return SituatedCredibility(SituatedFaithfulness(generator, mode="rcr"))


def test_rcr_context_trust_is_the_passages_credibility() -> None:
    value = rcr_check().credibility("Who won Super Bowl 50?", PASSAGE)
    assert value == pytest.approx(TRUST_AT_ZERO_PMI)


async def test_rcr_credibility_has_an_async_twin() -> None:
    value = await rcr_check().acredibility("Who won Super Bowl 50?", PASSAGE)
    assert value == pytest.approx(TRUST_AT_ZERO_PMI)


def test_a_method_without_context_trust_raises_a_clear_error() -> None:
    generator = FakeGenerator(["Final answer: Denver Broncos"])
    check = SituatedCredibility(SituatedFaithfulness(generator, mode="scr_implicit"))
    with pytest.raises(ValueError, match="gave no context trust"):
        check.credibility("Who won Super Bowl 50?", PASSAGE)


def test_a_plain_function_is_adapted_and_an_object_kept() -> None:
    check = as_credibility(lambda q, t: 0.25)
    assert isinstance(check, FunctionCredibility)
    assert check.credibility("q", "t") == 0.25
    rcr = rcr_check()
    assert as_credibility(rcr) is rcr
    with pytest.raises(TypeError, match="not a credibility check"):
        as_credibility(0.5)  # type: ignore[arg-type]


async def test_function_credibility_runs_sync_and_async_functions() -> None:
    async def judged(query: str, text: str) -> float:
        return 0.75

    assert await FunctionCredibility(judged).acredibility("q", "t") == 0.75
    assert await FunctionCredibility(lambda q, t: 0.5).acredibility("q", "t") == 0.5
    with pytest.raises(TypeError, match="is async"):
        FunctionCredibility(judged).credibility("q", "t")
