"""Agent middleware on ``create_agent``: gating final answers, human review."""

from __future__ import annotations

from typing import Any

import pytest
from langchain.agents import create_agent
from langchain_confguard import get_verdict, verdict_of
from langchain_confguard.agents import (
    ConfidenceGateMiddleware,
    HumanEscalationMiddleware,
    HumanReviewRoute,
    turn_contexts,
)
from langchain_confguard.testing import FakeLogprobChatModel, FakeResponse
from langchain_core.messages import AIMessage, ToolMessage, convert_to_messages
from langchain_core.tools import tool
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.types import Command
from lc_helpers import answer
from pydantic import ValidationError

QUESTION = "What is the capital of France?"
PENDING = "Your question was passed on for review; we will follow up."
LOOKUP = FakeResponse(
    tool_calls=(
        {"name": "lookup", "args": {"city": "Paris"}, "id": "c1", "type": "tool_call"},
    )
)


@tool
def lookup(city: str) -> str:
    """Look a city up."""
    return f"{city} is the capital of France."


def ask(agent: Any, config: Any = None) -> dict[str, Any]:
    return agent.invoke({"messages": [("user", QUESTION)]}, config)


def test_tool_turns_pass_and_an_unsure_final_answer_is_retried(make_guard):
    model = FakeLogprobChatModel(
        responses=[LOOKUP, answer("Lyon", 0.6), answer("Paris", 0.95)]
    )
    agent = create_agent(
        model, [lookup], middleware=[ConfidenceGateMiddleware(make_guard())]
    )

    messages = ask(agent)["messages"]

    assert [type(m).__name__ for m in messages] == [
        "HumanMessage",
        "AIMessage",
        "ToolMessage",
        "AIMessage",
    ]
    assert get_verdict(messages[1]) is None  # the tool-call turn was not gated
    final = messages[-1]
    assert final.content == "Paris"
    assert (verdict_of(final).action, len(verdict_of(final).attempts)) == ("accept", 2)
    assert model.calls == 3


def test_a_retry_passes_the_strategys_generation_settings_to_the_model(make_guard):
    model = FakeLogprobChatModel(responses=[answer("Lyon", 0.6), answer("Paris", 0.9)])
    guard = make_guard(
        retry={
            "max_attempts": 2,
            "strategies": [
                {"name": "cool", "params": {"temperature": 0.0, "top_k": 8}}
            ],
        },
        strategies=("cool",),
    )
    agent = create_agent(model, [lookup], middleware=[ConfidenceGateMiddleware(guard)])

    ask(agent)

    assert "temperature" not in model.call_kwargs[0]
    assert model.call_kwargs[1]["temperature"] == 0.0
    assert "top_k" not in model.call_kwargs[1]  # not a model setting


def test_a_hopeless_final_answer_is_replaced_by_the_abstain_message(make_guard):
    model = FakeLogprobChatModel(responses=[LOOKUP, answer("Lyon", 0.1)])
    agent = create_agent(
        model, [lookup], middleware=[ConfidenceGateMiddleware(make_guard())]
    )

    final = ask(agent)["messages"][-1]

    assert final.content == "I can't answer that."
    assert verdict_of(final).action == "abstain"
    assert "logprobs" not in final.response_metadata


def test_the_turns_tool_results_are_the_answers_contexts(make_guard):
    seen = []

    def contexts(obs) -> float:
        seen.append([(c.text, c.retriever) for c in obs.contexts])
        return 0.9

    model = FakeLogprobChatModel(responses=[LOOKUP, answer("Paris", 0.9)])
    agent = create_agent(
        model, [lookup], middleware=[ConfidenceGateMiddleware(make_guard([contexts]))]
    )

    ask(agent)

    assert seen == [[("Paris is the capital of France.", "lookup")]]


def test_a_retry_that_calls_tools_hands_the_turn_back_to_the_agent(make_guard):
    model = FakeLogprobChatModel(
        responses=[answer("Lyon", 0.6), LOOKUP, answer("Paris", 0.9)]
    )
    agent = create_agent(
        model, [lookup], middleware=[ConfidenceGateMiddleware(make_guard())]
    )

    messages = ask(agent)["messages"]

    assert isinstance(messages[2], ToolMessage)
    assert (messages[-1].content, verdict_of(messages[-1]).action) == (
        "Paris",
        "accept",
    )


async def test_the_async_agent_is_gated_too(make_guard):
    model = FakeLogprobChatModel(
        responses=[LOOKUP, answer("Lyon", 0.6), answer("Paris", 0.9)]
    )
    agent = create_agent(
        model, [lookup], middleware=[ConfidenceGateMiddleware(make_guard())]
    )

    reply = await agent.ainvoke({"messages": [("user", QUESTION)]})

    final = reply["messages"][-1]
    assert (final.content, len(verdict_of(final).attempts)) == ("Paris", 2)


def human_agent(make_guard, *replies: FakeResponse) -> tuple[Any, Any]:
    model = FakeLogprobChatModel(responses=[LOOKUP, *replies])
    guard = make_guard(routes={"human": HumanReviewRoute()})
    agent = create_agent(
        model,
        [lookup],
        middleware=[HumanEscalationMiddleware(guard)],
        checkpointer=InMemorySaver(),
    )
    return agent, model


def test_an_escalated_answer_interrupts_for_review(make_guard):
    agent, _ = human_agent(make_guard, answer("Lyon", 0.4))
    config = {"configurable": {"thread_id": "review-1"}}

    paused = ask(agent, config)

    [pending] = paused["__interrupt__"]
    assert pending.value["type"] == "confguard_review"
    assert (pending.value["question"], pending.value["answer"]) == (QUESTION, "Lyon")
    assert pending.value["confidence"] == pytest.approx(0.4)
    assert pending.value["allowed_decisions"] == ["approve", "edit", "reject"]
    held = paused["messages"][-1]  # what any stream shows while it waits
    assert (held.content, verdict_of(held).action) == (PENDING, "escalate")
    assert verdict_of(held).judged_answer == "Lyon"  # for the reviewer only


def test_resuming_with_approve_keeps_the_answer(make_guard):
    agent, model = human_agent(make_guard, answer("Lyon", 0.4))
    config = {"configurable": {"thread_id": "review-2"}}
    ask(agent, config)

    done = agent.invoke(Command(resume={"type": "approve"}), config)

    final = done["messages"][-1]
    assert final.content == "Lyon"
    assert (verdict_of(final).action, verdict_of(final).review) == (
        "escalate",
        "approve",
    )
    assert len(done["messages"]) == 4  # reviewed in place, not appended
    assert model.calls == 2  # resuming did not call the model again


def test_resuming_with_edit_replaces_the_answer(make_guard):
    agent, _ = human_agent(make_guard, answer("Lyon", 0.4))
    config = {"configurable": {"thread_id": "review-3"}}
    ask(agent, config)

    done = agent.invoke(Command(resume={"type": "edit", "answer": "Paris"}), config)

    final = done["messages"][-1]
    assert final.content == "Paris"
    assert (verdict_of(final).review, verdict_of(final).answer) == ("edit", "Paris")


def test_resuming_with_reject_gives_the_abstain_message(make_guard):
    agent, _ = human_agent(make_guard, answer("Lyon", 0.4))
    config = {"configurable": {"thread_id": "review-4"}}
    ask(agent, config)

    done = agent.invoke(Command(resume={"type": "reject"}), config)

    assert done["messages"][-1].content == "I can't answer that."


def test_a_malformed_resume_is_refused_and_can_be_answered_again(make_guard):
    agent, _ = human_agent(make_guard, answer("Lyon", 0.4))
    config = {"configurable": {"thread_id": "review-5"}}
    ask(agent, config)

    with pytest.raises(ValidationError):
        agent.invoke(Command(resume={"type": "edit"}), config)
    done = agent.invoke(Command(resume={"type": "approve"}), config)

    assert done["messages"][-1].content == "Lyon"


def test_confident_answers_never_interrupt(make_guard):
    agent, _ = human_agent(make_guard, answer("Paris", 0.9))

    reply = ask(agent, {"configurable": {"thread_id": "review-6"}})

    assert "__interrupt__" not in reply
    assert verdict_of(reply["messages"][-1]).action == "accept"


async def test_the_async_agent_interrupts_and_resumes(make_guard):
    agent, _ = human_agent(make_guard, answer("Lyon", 0.4))
    config = {"configurable": {"thread_id": "review-7"}}

    paused = await agent.ainvoke({"messages": [("user", QUESTION)]}, config)
    done = await agent.ainvoke(
        Command(resume={"type": "edit", "answer": "Paris"}), config
    )

    assert paused["__interrupt__"][0].value["answer"] == "Lyon"
    assert done["messages"][-1].content == "Paris"


def test_turn_contexts_stop_at_the_last_human_message():
    messages = [
        ToolMessage("old result", tool_call_id="a", name="old"),
        ("user", "new question"),
        AIMessage(""),
        ToolMessage("new result", tool_call_id="b", name="search"),
    ]
    found = turn_contexts(convert_to_messages(messages))

    assert [(c.text, c.source) for c in found] == [("new result", "search")]
