"""LogprobEventHandler and capture_logprobs: per-query logprobs through a ContextVar."""

from __future__ import annotations

import asyncio
import math

import pytest
from llama_index.core.base.llms.types import (
    ChatMessage,
    ChatResponse,
    CompletionResponse,
)
from llama_index.core.instrumentation.events.llm import (
    LLMChatEndEvent,
    LLMCompletionEndEvent,
)
from llama_index.core.llms import MockLLM
from llama_index_instrumentation import get_dispatcher

from llama_index.postprocessor.confguard import (
    LogprobEventHandler,
    capture_logprobs,
)
from llama_index.postprocessor.confguard.events import NO_LOGPROBS, llm_call
from llama_index.postprocessor.confguard.testing import LogprobMockLLM


def test_a_completion_inside_the_block_is_captured_with_its_logprobs() -> None:
    llm = LogprobMockLLM(["Denver Broncos"], logprobs=[-0.1, -0.5])
    with capture_logprobs() as capture:
        llm.complete("Who won Super Bowl 50?")
    [call] = capture.calls
    assert (call.kind, call.text, call.problem) == (
        "completion",
        "Denver Broncos",
        None,
    )
    assert capture.logprobs is not None
    assert [(t.token, t.logprob) for t in capture.logprobs] == [
        ("Denver", -0.1),
        (" Broncos", -0.5),
    ]


async def test_an_async_completion_is_captured_too() -> None:
    llm = LogprobMockLLM(["Paris"], logprobs=-0.2)
    with capture_logprobs() as capture:
        await llm.acomplete("Capital of France?")
    assert capture.logprobs is not None
    assert capture.logprobs[0].logprob == -0.2


def test_a_chat_through_a_completion_model_is_counted_once_with_logprobs() -> None:
    # CustomLLM.chat() calls complete(): two end events, the chat one without logprobs.
    llm = LogprobMockLLM(["Paris"], logprobs=-0.3)
    with capture_logprobs() as capture:
        llm.chat([ChatMessage(role="user", content="Capital of France?")])
    assert [c.kind for c in capture.calls] == ["completion"]
    assert capture.logprobs is not None
    assert capture.logprobs[0].logprob == -0.3


def test_an_llm_without_logprobs_is_recorded_with_the_reason() -> None:
    with capture_logprobs() as capture:
        MockLLM(max_tokens=2).complete("anything")
    assert capture.logprobs is None
    assert capture.last_call is not None
    assert capture.last_call.problem == NO_LOGPROBS


def test_logprobs_in_an_unknown_shape_are_recorded_as_unreadable() -> None:
    response = CompletionResponse(text="x")
    object.__setattr__(response, "logprobs", [[{"token": "x", "logprob": 0.7}]])
    call = llm_call(LLMCompletionEndEvent(prompt="p", response=response))
    assert call is not None
    assert call.logprobs is None
    assert (call.problem or "").startswith("unreadable logprobs: position 0")


def test_a_chat_end_without_a_reply_is_recorded() -> None:
    event = LLMChatEndEvent(messages=[], response=None)
    call = llm_call(event)
    assert call is not None
    assert call.problem == "the chat ended without reply"


def test_chat_responses_with_logprobs_are_read() -> None:
    from llama_index.core.base.llms.types import LogProb

    response = ChatResponse(
        message=ChatMessage(role="assistant", content="Yes"),
        logprobs=[[LogProb(token="Yes", logprob=-0.25)]],
    )
    call = llm_call(LLMChatEndEvent(messages=[], response=response))
    assert call is not None
    assert call.logprobs is not None
    assert math.exp(call.logprobs[0].logprob) == pytest.approx(math.exp(-0.25))


def test_the_answer_logprobs_are_those_of_the_last_llm_call() -> None:
    first = LogprobMockLLM(["draft"], logprobs=-2.0)
    second = LogprobMockLLM(["final"], logprobs=-0.1)
    with capture_logprobs() as capture:
        first.complete("refine 1")
        second.complete("refine 2")
    assert len(capture.calls) == 2
    assert capture.logprobs is not None
    assert capture.logprobs[0].token == "final"


def test_calls_outside_any_block_are_not_recorded_anywhere() -> None:
    llm = LogprobMockLLM(["x"])
    llm.complete("before")
    with capture_logprobs() as capture:
        pass
    llm.complete("after")
    assert capture.calls == ()


def test_nested_blocks_capture_into_the_innermost_only() -> None:
    llm = LogprobMockLLM(["x"])
    with capture_logprobs() as outer:
        with capture_logprobs() as inner:
            llm.complete("inner")
        llm.complete("outer")
    assert len(inner.calls) == 1
    assert len(outer.calls) == 1


async def test_concurrent_queries_never_see_each_others_logprobs() -> None:
    async def ask(text: str, logprob: float) -> float:
        llm = LogprobMockLLM([text], logprobs=logprob)
        with capture_logprobs() as capture:
            await asyncio.sleep(0.01)
            await llm.acomplete(text)
            await asyncio.sleep(0.01)
        assert capture.logprobs is not None
        assert len(capture.calls) == 1
        return capture.logprobs[0].logprob

    got = await asyncio.gather(*(ask(f"a{i}", -0.1 * (i + 1)) for i in range(5)))
    assert got == pytest.approx([-0.1, -0.2, -0.3, -0.4, -0.5])


def test_install_adds_one_handler_however_often_it_is_called() -> None:
    first = LogprobEventHandler.install()
    second = LogprobEventHandler.install()
    root = get_dispatcher()
    assert first is second
    assert sum(isinstance(h, LogprobEventHandler) for h in root.event_handlers) == 1
