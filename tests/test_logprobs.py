"""normalize(): every provider's logprob shape becomes a tuple of TokenLogprob."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pytest
from pydantic import BaseModel

from confguard.exceptions import InputError, LogprobFormatError
from confguard.logprobs import normalize
from confguard.observation import TokenLogprob, TopLogprob

PARIS = TokenLogprob(
    token="Paris",
    logprob=-0.1,
    top_logprobs=(
        TopLogprob(token="Paris", logprob=-0.1),
        TopLogprob(token="Lyon", logprob=-2.5),
    ),
)
DOT = TokenLogprob(token=".", logprob=-0.01, top_logprobs=())

OPENAI_ENTRIES = [
    {
        "token": "Paris",
        "logprob": -0.1,
        "bytes": [80, 97, 114, 105, 115],
        "top_logprobs": [
            {"token": "Paris", "logprob": -0.1, "bytes": None},
            {"token": "Lyon", "logprob": -2.5, "bytes": None},
        ],
    },
    {"token": ".", "logprob": -0.01, "bytes": [46], "top_logprobs": []},
]


# Look-alikes of the provider SDK classes (same field names), so no SDK is needed.
class SdkTopLogprob(BaseModel):
    token: str
    logprob: float
    bytes: list[int] | None = None


class SdkTokenLogprob(SdkTopLogprob):
    top_logprobs: list[SdkTopLogprob]


class SdkChoiceLogprobs(BaseModel):
    content: list[SdkTokenLogprob] | None
    refusal: list[SdkTokenLogprob] | None = None


class OllamaTokenLogprob(BaseModel):
    token: str
    logprob: float


class OllamaLogprob(OllamaTokenLogprob):
    top_logprobs: list[OllamaTokenLogprob] | None = None


class OllamaChatResponse(BaseModel):
    model: str = "gemma3"
    logprobs: list[OllamaLogprob] | None = None


@dataclass
class LlamaIndexLogProb:
    token: str = ""
    logprob: float = 0.0
    bytes: list[int] = field(default_factory=list)


def test_openai_chat_dict_gives_tokens_logprobs_and_alternatives() -> None:
    assert normalize({"content": OPENAI_ENTRIES, "refusal": None}) == (PARIS, DOT)


def test_bare_list_of_openai_entries_is_accepted() -> None:
    assert normalize(OPENAI_ENTRIES) == (PARIS, DOT)


def test_openai_sdk_objects_are_read_by_attribute() -> None:
    content = [SdkTokenLogprob.model_validate(e) for e in OPENAI_ENTRIES]
    assert normalize(SdkChoiceLogprobs(content=content)) == (PARIS, DOT)


def test_a_refused_openai_answer_has_no_tokens() -> None:
    assert normalize(SdkChoiceLogprobs(content=None, refusal=[])) == ()


def test_ollama_logprob_objects_with_and_without_alternatives() -> None:
    entries = [
        OllamaLogprob(
            token="Paris",
            logprob=-0.1,
            top_logprobs=[
                OllamaTokenLogprob(token="Paris", logprob=-0.1),
                OllamaTokenLogprob(token="Lyon", logprob=-2.5),
            ],
        ),
        OllamaLogprob(token=".", logprob=-0.01, top_logprobs=None),
    ]
    assert normalize(entries) == (PARIS, DOT)


def test_an_ollama_response_is_unwrapped_to_its_logprobs() -> None:
    response = OllamaChatResponse(logprobs=[OllamaLogprob(token=".", logprob=-0.01)])
    assert normalize(response) == (DOT,)


def test_a_response_without_logprobs_says_to_request_them() -> None:
    with pytest.raises(LogprobFormatError, match=r"OllamaChatResponse carries no"):
        normalize(OllamaChatResponse(logprobs=None))


def test_llamaindex_lists_take_the_first_alternative_as_the_chosen_token() -> None:
    raw = [
        [LlamaIndexLogProb("Paris", -0.1), LlamaIndexLogProb("Lyon", -2.5)],
        [LlamaIndexLogProb(".", -0.01)],
    ]
    dot_with_itself = DOT.model_copy(
        update={"top_logprobs": (TopLogprob(token=".", logprob=-0.01),)}
    )
    assert normalize(raw) == (PARIS, dot_with_itself)


def test_llamaindex_position_without_alternatives_asks_for_top_logprobs() -> None:
    with pytest.raises(LogprobFormatError, match=r"position 1.*top_logprobs>=1"):
        normalize([[LlamaIndexLogProb("a", -0.1)], []])


def test_llama_cpp_completion_with_numpy_floats_and_missing_alternatives() -> None:
    raw = {
        "text_offset": [0, 5],
        "tokens": ["Paris", "."],
        "token_logprobs": [np.float32(-0.5), np.float64(-0.25)],
        "top_logprobs": [{"Paris": np.float32(-0.5), "Lyon": np.float32(-1.5)}, None],
    }
    first, second = normalize(raw)
    assert first == TokenLogprob(
        token="Paris",
        logprob=-0.5,
        top_logprobs=(
            TopLogprob(token="Paris", logprob=-0.5),
            TopLogprob(token="Lyon", logprob=-1.5),
        ),
    )
    assert type(first.logprob) is float
    assert type(first.top_logprobs[1].logprob) is float
    assert second == TokenLogprob(token=".", logprob=-0.25)


def test_llama_cpp_lengths_that_disagree_are_named() -> None:
    raw = {"tokens": ["a", "b"], "token_logprobs": [-0.1], "top_logprobs": [None]}
    with pytest.raises(LogprobFormatError, match=r"2 tokens, 1 token_logprobs"):
        normalize(raw)


def test_llama_cpp_echoed_prompt_token_without_logprob_is_rejected() -> None:
    raw = {"tokens": ["Q", "a"], "token_logprobs": [None, -0.1], "top_logprobs": None}
    with pytest.raises(LogprobFormatError, match=r"position 0.*echo=True"):
        normalize(raw)


def test_a_completion_response_with_one_choice_is_unwrapped() -> None:
    response = {"choices": [{"index": 0, "logprobs": {"content": OPENAI_ENTRIES}}]}
    assert normalize(response) == (PARIS, DOT)


def test_a_response_with_several_choices_is_ambiguous() -> None:
    choice = {"logprobs": {"content": OPENAI_ENTRIES}}
    with pytest.raises(LogprobFormatError, match=r"2 choices"):
        normalize({"choices": [choice, choice]})


def test_normalised_tokens_pass_through_unchanged() -> None:
    assert normalize([PARIS, DOT]) == (PARIS, DOT)
    assert normalize(()) == ()


def test_byte_tokens_are_decoded_as_utf8() -> None:
    [tok] = normalize([{"token": "é".encode(), "logprob": -1.0}])
    assert tok.token == "é"


def test_float_noise_above_zero_is_clamped_to_zero() -> None:
    [tok] = normalize([{"token": "a", "logprob": 3e-7, "top_logprobs": None}])
    assert tok.logprob == 0.0


def test_a_clearly_positive_logprob_is_rejected_with_its_position() -> None:
    entries = [{"token": "a", "logprob": -0.1}, {"token": "b", "logprob": 0.5}]
    with pytest.raises(LogprobFormatError, match=r"position 1: logprob 0.5 > 0"):
        normalize(entries)


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_non_finite_logprobs_are_rejected(value: float) -> None:
    with pytest.raises(LogprobFormatError, match=r"position 0: .* not finite"):
        normalize([{"token": "a", "logprob": value}])


def test_an_alternative_without_a_logprob_is_rejected() -> None:
    entry = {"token": "a", "logprob": -0.1, "top_logprobs": [{"token": "b"}]}
    with pytest.raises(LogprobFormatError, match=r"logprob None is not a number"):
        normalize([entry])


def test_an_unknown_shape_names_its_type_and_a_short_repr() -> None:
    with pytest.raises(LogprobFormatError) as caught:
        normalize({"weights": "x" * 1000})
    message = str(caught.value)
    assert message.startswith("unrecognised logprob shape dict: {'weights': 'xxx")
    assert len(message) < 400


def test_none_is_not_a_logprob_shape() -> None:
    with pytest.raises(LogprobFormatError, match=r"logprobs=None"):
        normalize(None)


def test_format_errors_are_input_errors() -> None:
    with pytest.raises(InputError):
        normalize(42)
