"""Reading logprobs off LangChain messages, in every provider shape."""

from __future__ import annotations

import math

import pytest
from langchain_confguard.logprobs import (
    generation_logprobs,
    message_logprobs,
    openai_logprobs,
)
from langchain_core.messages import AIMessage
from langchain_core.outputs import ChatGeneration, Generation

from confguard.exceptions import LogprobFormatError
from confguard.observation import TokenLogprob, TopLogprob

PARIS = (
    TokenLogprob(
        token="Paris",
        logprob=-0.1,
        top_logprobs=(
            TopLogprob(token="Paris", logprob=-0.1),
            TopLogprob(token="Lyon", logprob=-2.5),
        ),
    ),
)


def with_metadata(**metadata: object) -> AIMessage:
    return AIMessage("Paris", response_metadata=metadata)


def test_openai_chat_logprobs_are_read():
    message = with_metadata(logprobs=openai_logprobs(PARIS))

    assert message_logprobs(message) == PARIS


def test_completion_style_logprobs_are_read():
    raw = {
        "tokens": ["Paris"],
        "token_logprobs": [-0.1],
        "top_logprobs": [{"Paris": -0.1, "Lyon": -2.5}],
    }

    assert message_logprobs(with_metadata(logprobs=raw)) == PARIS


def test_ollama_style_entry_lists_are_read():
    raw = [
        {
            "token": "Paris",
            "logprob": -0.1,
            "top_logprobs": [
                {"token": "Paris", "logprob": -0.1},
                {"token": "Lyon", "logprob": -2.5},
            ],
        }
    ]

    assert message_logprobs(with_metadata(logprobs=raw)) == PARIS


def test_gemini_converted_logprobs_result_is_read():
    raw = [{"token": "Paris", "logprob": -0.1, "top_logprobs": []}]

    [token] = message_logprobs(with_metadata(logprobs_result=raw))

    assert (token.token, token.logprob, token.top_logprobs) == ("Paris", -0.1, ())


def test_gemini_raw_candidates_are_read():
    raw = {
        "chosen_candidates": [{"token": "Paris", "log_probability": -0.1}],
        "top_candidates": [
            {
                "candidates": [
                    {"token": "Paris", "log_probability": -0.1},
                    {"token": "Lyon", "log_probability": -2.5},
                ]
            }
        ],
    }

    assert message_logprobs(with_metadata(logprobs_result=raw)) == PARIS


def test_logprobs_in_additional_kwargs_are_read():
    message = AIMessage("Paris", additional_kwargs={"logprobs": openai_logprobs(PARIS)})

    assert message_logprobs(message) == PARIS


def test_a_message_without_logprobs_has_none():
    assert message_logprobs(AIMessage("Paris")) is None
    assert message_logprobs(with_metadata(logprobs=None)) is None


def test_an_unknown_shape_is_an_error_naming_the_known_ones():
    with pytest.raises(LogprobFormatError, match="known shapes"):
        message_logprobs(with_metadata(logprobs=42))


def test_non_chat_generations_read_their_generation_info():
    raw = {"tokens": ["Paris"], "token_logprobs": [math.log(0.5)]}
    generation = Generation(text="Paris", generation_info={"logprobs": raw})

    [token] = generation_logprobs(generation)

    assert token.logprob == pytest.approx(math.log(0.5))
    chat = ChatGeneration(message=with_metadata(logprobs=openai_logprobs(PARIS)))
    assert generation_logprobs(chat) == PARIS


def test_openai_logprobs_writes_the_openai_chat_shape():
    [entry] = openai_logprobs(PARIS)["content"]

    assert entry == {
        "token": "Paris",
        "logprob": -0.1,
        "bytes": [80, 97, 114, 105, 115],
        "top_logprobs": [
            {"token": "Paris", "logprob": -0.1, "bytes": [80, 97, 114, 105, 115]},
            {"token": "Lyon", "logprob": -2.5, "bytes": [76, 121, 111, 110]},
        ],
    }
