"""Inside a LangGraph graph, inner ungated tokens leak to stream_mode="messages"."""

from __future__ import annotations

from typing import Any, TypedDict

from langchain_confguard import ATTEMPT_TAG, GuardedRunnable
from langchain_confguard.testing import FakeLogprobChatModel
from langgraph.graph import END, START, StateGraph
from lc_helpers import answer, rag_chain


class State(TypedDict):
    question: str
    answer: str


def graph_with(guarded: GuardedRunnable) -> Any:
    def respond(state: State) -> dict[str, str]:
        return {"answer": guarded.invoke(state["question"]).text}

    builder = StateGraph(State)
    builder.add_node("respond", respond)
    builder.add_edge(START, "respond")
    builder.add_edge("respond", END)
    return builder.compile()


def test_inner_tokens_are_tagged_so_clients_can_drop_them(make_guard):
    model = FakeLogprobChatModel(responses=[answer("Lyon", 0.1)])
    graph = graph_with(GuardedRunnable(bound=rag_chain(model), guard=make_guard()))

    streamed = list(graph.stream({"question": "Capital?"}, stream_mode="messages"))
    final = graph.invoke({"question": "Capital?"})

    leaked = [chunk.content for chunk, meta in streamed if chunk.content]
    assert leaked == ["Lyon"]  # the refused answer's tokens still stream...
    assert all(ATTEMPT_TAG in meta["tags"] for _, meta in streamed)
    kept = [c for c, meta in streamed if ATTEMPT_TAG not in meta.get("tags", [])]
    assert kept == []  # ...and the filter drops them
    assert final["answer"] == "I can't answer that."
