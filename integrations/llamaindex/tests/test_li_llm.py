"""LLM adapters: a Generator as a LlamaIndex LLM, any LlamaIndex LLM as a Generator."""

from __future__ import annotations

import math
from typing import Any

import pytest
from confguard.exceptions import GenerationError
from confguard.llm.base import Completion, GenerationRequest, Generator
from confguard.observation import TokenLogprob, TopLogprob
from confguard.testing import FakeGenerator
from llama_index.core.base.llms.types import CompletionResponse, LogProb
from llama_index.core.llms import MockLLM
from pydantic import Field

from llama_index.postprocessor.confguard import GeneratorLLM, LlamaIndexGenerator
from llama_index.postprocessor.confguard.llm import to_completion, to_response
from llama_index.postprocessor.confguard.testing import LogprobMockLLM


def ask(prompt: str = "Q", **settings: Any) -> GenerationRequest:
    return GenerationRequest(prompt=prompt, **settings)


def test_a_generator_llm_response_lists_the_chosen_token_first() -> None:
    completion = Completion(
        text="Paris",
        logprobs=(
            TokenLogprob(
                token="Paris",
                logprob=-0.2,
                top_logprobs=(
                    TopLogprob(token="Lyon", logprob=-1.9),
                    TopLogprob(token="Paris", logprob=-0.2),
                ),
            ),
        ),
    )
    [position] = to_response(completion).logprobs or []
    assert [(p.token, p.logprob) for p in position] == [("Paris", -0.2), ("Lyon", -1.9)]
    assert position[0].bytes == list(b"Paris")


def test_a_completion_without_logprobs_gives_a_response_without_logprobs() -> None:
    assert to_response(Completion(text="x")).logprobs is None


def test_the_generator_llm_passes_its_settings_and_call_overrides() -> None:
    fake = FakeGenerator(["Denver Broncos\nmore"])
    llm = GeneratorLLM(fake, max_tokens=12, stop=["\n"], top_logprobs=3)
    response = llm.complete("Q", temperature=0.7, top_p=0.9, unknown_option=1)
    [call] = fake.calls
    assert (call.max_tokens, call.stop, call.top_k) == (12, ("\n",), 3)
    assert (call.temperature, call.top_p, call.logprobs) == (0.7, 0.9, True)
    assert response.text == "Denver Broncos"
    assert len(response.logprobs or []) == 2


def test_a_call_can_ask_the_generator_llm_for_no_logprobs() -> None:
    fake = FakeGenerator(["Paris"])
    response = GeneratorLLM(fake).complete("Q", logprobs=False)
    assert (fake.calls[0].logprobs, response.logprobs) == (False, None)


async def test_the_generator_llm_async_twin_uses_agenerate() -> None:
    llm = LogprobMockLLM(["Paris"], logprobs=-0.4)
    response = await llm.acomplete("Capital?")
    assert response.text == "Paris"
    assert (response.logprobs or [[]])[0][0].logprob == -0.4
    assert llm.prompts == ["Capital?"]


def test_streaming_yields_the_whole_completion_once_with_logprobs() -> None:
    llm = LogprobMockLLM(["Paris"], logprobs=-0.4)
    chunks = list(llm.stream_complete("Capital?"))
    assert [(c.text, c.delta) for c in chunks] == [("Paris", "Paris")]
    assert chunks[0].logprobs is not None


def test_the_generator_llm_reports_the_generators_name_and_window() -> None:
    fake = FakeGenerator(["x"], name="tiny")
    fake.n_ctx = 512  # type: ignore[attr-defined]
    metadata = GeneratorLLM(fake, max_tokens=8).metadata
    assert (metadata.model_name, metadata.context_window) == ("tiny", 512)
    assert (metadata.num_output, metadata.is_chat_model) == (8, False)


def test_the_generator_llm_refuses_what_is_not_a_generator() -> None:
    with pytest.raises(TypeError, match="is not a confguard Generator"):
        GeneratorLLM(object())  # type: ignore[arg-type]


def test_a_llamaindex_llm_is_a_confguard_generator() -> None:
    generator = LlamaIndexGenerator(LogprobMockLLM(["Warsaw"], logprobs=-0.05))
    assert isinstance(generator, Generator)
    [completion] = generator.generate(ask("Capital of Poland?"))
    assert completion.text == "Warsaw"
    assert completion.logprobs is not None
    assert completion.logprobs[0].logprob == -0.05
    assert completion.completion_tokens == 1


def test_stop_cuts_the_text_and_the_logprobs_that_follow() -> None:
    generator = LlamaIndexGenerator(LogprobMockLLM(["Warsaw\nQuestion: next"]))
    [completion] = generator.generate(ask("Capital?", stop=("\n",)))
    assert completion.text == "Warsaw"
    assert [t.token for t in completion.logprobs or ()] == ["Warsaw"]


def test_n_completions_make_n_llm_calls() -> None:
    llm = LogprobMockLLM(["a", "b", "c"])
    completions = LlamaIndexGenerator(llm).generate(ask(n=3))
    assert [c.text for c in completions] == ["a", "b", "c"]
    assert len(llm.prompts) == 3


async def test_the_async_twin_runs_the_n_calls_concurrently() -> None:
    llm = LogprobMockLLM(lambda prompt: "same")
    completions = await LlamaIndexGenerator(llm).agenerate(ask(n=2))
    assert [c.text for c in completions] == ["same", "same"]


def test_an_llm_without_logprobs_gives_completions_without_logprobs() -> None:
    [completion] = LlamaIndexGenerator(MockLLM(max_tokens=2)).generate(ask())
    assert completion.text == "text text"
    assert completion.logprobs is None


class RecordingLLM(MockLLM):
    """Remembers the keyword arguments of each complete() call."""

    seen: list[dict[str, Any]] = Field(default_factory=list)

    def complete(
        self, prompt: str, formatted: bool = False, **kwargs: Any
    ) -> CompletionResponse:
        self.seen.append(kwargs)
        return CompletionResponse(
            text="ok", logprobs=[[LogProb(token="ok", logprob=math.log(0.5))]]
        )


def test_settings_are_forwarded_only_when_asked() -> None:
    llm = RecordingLLM(max_tokens=None)
    LlamaIndexGenerator(llm).generate(ask(temperature=0.3))
    LlamaIndexGenerator(llm, forward_settings=True).generate(
        ask(temperature=0.3, max_tokens=5, stop=("\n",), seed=7, top_k=2)
    )
    assert llm.seen[-2] == {}
    assert llm.seen[-1] == {
        "temperature": 0.3,
        "max_tokens": 5,
        "logprobs": True,
        "top_logprobs": 2,
        "stop": ["\n"],
        "seed": 7,
    }


class BrokenLLM(MockLLM):
    """Fails every call, like a provider that is down."""

    def complete(
        self, prompt: str, formatted: bool = False, **kwargs: Any
    ) -> CompletionResponse:
        raise ConnectionError("provider down")


def test_a_failing_llm_raises_a_generation_error_naming_it() -> None:
    generator = LlamaIndexGenerator(BrokenLLM(max_tokens=None), name="remote")
    with pytest.raises(GenerationError, match="'remote' failed: ConnectionError"):
        generator.generate(ask())


async def test_a_failing_llm_raises_a_generation_error_in_async_too() -> None:
    generator = LlamaIndexGenerator(BrokenLLM(max_tokens=None), name="remote")
    with pytest.raises(GenerationError, match="provider down"):
        await generator.agenerate(ask())


def test_a_completion_response_round_trips_through_both_adapters() -> None:
    fake = FakeGenerator(["The Broncos"], logprobs=[-0.1, -0.2])
    [original] = fake.generate(ask())
    again = to_completion(to_response(original))
    assert again.text == original.text
    assert again.logprobs == original.logprobs
