"""Chat models as confguard Generators, and confguard Generators as chat models."""

from __future__ import annotations

import pytest
from langchain_confguard import (
    ChatModelGenerator,
    GenerationRequest,
    GeneratorChatModel,
    openai_kwargs,
    stop_only,
)
from langchain_confguard.testing import FakeLogprobChatModel, FakeResponse
from langchain_core.messages import AIMessage
from langchain_core.runnables import RunnableLambda

from confguard.exceptions import GenerationError
from confguard.llm.base import Generator
from confguard.testing import FakeGenerator

PROMPT = "Question: Capital of France?\nAnswer:"


def ask(**settings: object) -> GenerationRequest:
    return GenerationRequest(prompt=PROMPT, **settings)


def test_a_chat_model_generator_is_a_confguard_generator():
    generator = ChatModelGenerator(FakeLogprobChatModel(responses=["Paris"]))

    assert isinstance(generator, Generator)
    assert generator.name == "FakeLogprobChatModel"


def test_generate_reads_text_and_logprobs_from_the_reply():
    model = FakeLogprobChatModel(responses=[FakeResponse(text="The Paris", prob=0.5)])

    [completion] = ChatModelGenerator(model).generate(ask(stop=("\n",)))

    assert completion.text == "The Paris"
    assert [t.token for t in completion.logprobs] == ["The", " Paris"]
    assert completion.finish_reason == "stop"
    assert model.call_kwargs[0]["stop"] == ["\n"]
    assert model.call_kwargs[0]["logprobs"] is True


def test_a_reply_that_ignores_the_stop_strings_is_cut_at_them():
    model = FakeLogprobChatModel(responses=["Paris\nQuestion: next"])

    [completion] = ChatModelGenerator(model).generate(ask(stop=("\n",)))

    assert completion.text == "Paris"
    assert [t.token for t in completion.logprobs] == ["Paris"]


def test_a_model_without_logprobs_gives_completions_without_them():
    model = FakeLogprobChatModel(responses=[FakeResponse(text="Paris", logprobs=False)])

    [completion] = ChatModelGenerator(model).generate(ask())

    assert (completion.text, completion.logprobs) == ("Paris", None)


def test_settings_reach_the_model_as_openai_kwargs_with_distinct_seeds():
    fake = FakeGenerator(["Paris"], logprobs=-0.1)
    generator = ChatModelGenerator(GeneratorChatModel(generator=fake))

    done = generator.generate(
        ask(n=3, temperature=0.7, max_tokens=8, stop=("\n",), seed=7, top_k=2)
    )

    assert [c.text for c in done] == ["Paris"] * 3
    assert [(c.temperature, c.max_tokens, c.top_k) for c in fake.calls] == [
        (0.7, 8, 2)
    ] * 3
    assert [c.seed for c in fake.calls] == [7, 8, 9]
    assert fake.calls[0].stop == ("\n",)
    assert fake.calls[0].prompt == PROMPT


def test_stop_only_sends_no_sampling_kwargs():
    model = FakeLogprobChatModel(responses=["Paris"])

    ChatModelGenerator(model, kwargs_for=stop_only).generate(ask(temperature=1.0))

    assert model.call_kwargs == [{"stop": None}]


def test_openai_kwargs_leave_out_what_is_not_asked_for():
    assert openai_kwargs(ask(top_k=0)) == {
        "temperature": 0.0,
        "max_tokens": 64,
        "logprobs": True,
    }


def test_a_failing_model_raises_generation_error_naming_it():
    def broken(messages: object) -> AIMessage:
        raise TimeoutError("slow provider")

    generator = ChatModelGenerator(
        RunnableLambda(broken), name="judge", kwargs_for=stop_only
    )

    with pytest.raises(GenerationError, match="'judge' failed: TimeoutError: slow"):
        generator.generate(ask())


def test_a_reply_that_is_no_message_is_a_generation_error():
    echo = RunnableLambda(lambda messages: "Paris")
    generator = ChatModelGenerator(echo, name="echo", kwargs_for=stop_only)

    with pytest.raises(GenerationError, match="returned str, expected a message"):
        generator.generate(ask())


async def test_agenerate_runs_the_n_calls_concurrently():
    model = FakeLogprobChatModel(responses=["Paris", "Lyon"])

    done = await ChatModelGenerator(model).agenerate(ask(n=2))

    assert sorted(c.text for c in done) == ["Lyon", "Paris"]


def test_the_generator_chat_model_puts_openai_logprobs_in_metadata():
    fake = FakeGenerator(["The Paris"], logprobs=-0.5)
    model = GeneratorChatModel(generator=fake, max_tokens=16, stop=["\n"])

    reply = model.invoke(PROMPT)

    assert reply.content == "The Paris"
    entries = reply.response_metadata["logprobs"]["content"]
    assert [(e["token"], e["logprob"]) for e in entries] == [
        ("The", -0.5),
        (" Paris", -0.5),
    ]
    assert reply.response_metadata["model_name"] == "fake"
    assert reply.usage_metadata["output_tokens"] == 2
    assert (fake.calls[0].max_tokens, fake.calls[0].stop) == (16, ("\n",))


def test_the_generator_chat_model_streams_tokens_with_their_logprobs():
    model = GeneratorChatModel(generator=FakeGenerator(["The Paris"], logprobs=-0.5))

    chunks = list(model.stream(PROMPT))
    merged = chunks[0]
    for chunk in chunks[1:]:
        merged = merged + chunk

    assert [c.content for c in chunks if c.content] == ["The", " Paris"]
    assert merged.content == "The Paris"
    tokens = [e["token"] for e in merged.response_metadata["logprobs"]["content"]]
    assert tokens == ["The", " Paris"]
    assert merged.response_metadata["finish_reason"] == "stop"


async def test_the_generator_chat_model_works_async_and_can_drop_logprobs():
    fake = FakeGenerator(["Paris"], logprobs=-0.5)
    model = GeneratorChatModel(generator=fake)

    reply = await model.ainvoke(PROMPT, logprobs=False, temperature=0.3)

    assert reply.content == "Paris"
    assert "logprobs" not in reply.response_metadata
    assert (fake.calls[0].logprobs, fake.calls[0].temperature) == (False, 0.3)


def test_the_generator_chat_model_refuses_what_is_no_generator():
    with pytest.raises(ValueError, match="got str"):
        GeneratorChatModel(generator="gemma")


def test_the_leading_space_of_a_completion_is_stripped_from_the_content():
    fake = FakeGenerator([" the Broncos"], logprobs=-0.5)
    model = GeneratorChatModel(generator=fake)

    reply = model.invoke(PROMPT)
    chunks = [c.content for c in model.stream(PROMPT) if c.content]

    assert reply.content == "the Broncos"
    tokens = [e["token"] for e in reply.response_metadata["logprobs"]["content"]]
    assert tokens == [" the", " Broncos"]  # every token keeps its logprob
    assert chunks == ["the", " Broncos"]
    raw = GeneratorChatModel(generator=fake, strip=False).invoke(PROMPT)
    assert raw.content == " the Broncos"
