"""The verdict where LangChain users look (issue 16, item 2).

A guarded run's metadata and tags, read through tracer callbacks (a BaseTracer
collecting runs, and LangSmith's own LangChainTracer posting to a recording
client); the confidence as run feedback; the ``confguard_verdict`` event for
chains whose output has no room for the verdict.
"""

from __future__ import annotations

import logging
from typing import Any
from uuid import UUID, uuid4

import pytest
from langchain.agents import create_agent
from langchain_confguard import (
    ACTION_KEY,
    CONFIDENCE_KEY,
    FEEDBACK_KEY,
    REQUEST_ID_KEY,
    VERDICT_EVENT,
    ConfidenceGateMiddleware,
    FeedbackClient,
    GuardedRunnable,
    RunVerdict,
    Verdict,
    VerdictCallback,
    agated_stream,
    verdict_of,
    verdict_tag,
)
from langchain_confguard.observability import post_feedback
from langchain_confguard.testing import FakeLogprobChatModel
from langchain_core.output_parsers import StrOutputParser
from langchain_core.tracers import BaseTracer, LangChainTracer
from langchain_core.tracers.schemas import Run
from lc_helpers import answer, rag_chain
from pytest import approx

from confguard import LowConfidenceError

QUESTION = "What is the capital of France?"


class RunRecorder(BaseTracer):
    """A tracer keeping every finished top-level run (with its child runs)."""

    def __init__(self) -> None:
        super().__init__()
        self.roots: list[Run] = []

    def _persist_run(self, run: Run) -> None:
        self.roots.append(run)

    def named(self, name: str) -> list[Run]:
        """Every recorded run called `name`, anywhere in the trees."""
        found, todo = [], list(self.roots)
        while todo:
            run = todo.pop(0)
            found += [run] if run.name == name else []
            todo += run.child_runs
        return found


class RecordingLangSmith:
    """Stands in for ``langsmith.Client`` (a hosted service): records the calls."""

    def __init__(self, fail: bool = False) -> None:
        self.created: list[dict[str, Any]] = []
        self.updated: list[dict[str, Any]] = []
        self.feedback: list[dict[str, Any]] = []
        self.fail = fail

    def create_run(self, **run: Any) -> None:
        self.created.append(run)

    def update_run(self, run_id: UUID, **run: Any) -> None:
        self.updated.append({"id": run_id, **run})

    def create_feedback(
        self, run_id: Any = None, key: str = "unnamed", **kwargs: Any
    ) -> None:
        if self.fail:
            raise ConnectionError("LangSmith is unreachable")
        self.feedback.append({"run_id": run_id, "key": key, **kwargs})

    def flush(self) -> None:
        """Nothing is queued."""


def verdict_of_run(run: Run) -> tuple[Any, ...]:
    """What a LangSmith filter sees of a run: its confguard tags and metadata."""
    tags = [t for t in run.tags or [] if t.startswith("confguard:")]
    meta = run.metadata
    return tags, meta.get(ACTION_KEY), meta.get(CONFIDENCE_KEY)


def text_chain(*replies: Any) -> Any:
    """A RAG chain ending in StrOutputParser: its output is a bare string."""
    model = FakeLogprobChatModel(responses=list(replies))
    return rag_chain(model) | StrOutputParser()


@pytest.mark.parametrize(
    ("replies", "action", "confidence"),
    [
        ([answer("Paris", 0.9)], "accept", 0.9),
        ([answer("Paris", 0.75)], "annotate", 0.75),
        ([answer("Lyon", 0.6), answer("Paris", 0.95)], "accept", 0.95),
        ([answer("Lyon", 0.4)], "escalate", 0.4),
        ([answer("Lyon", 0.1)], "abstain", 0.1),
    ],
)
def test_the_guarded_root_run_carries_the_verdict_in_metadata_and_tags(
    make_guard, replies, action, confidence
):
    recorder = RunRecorder()
    guarded = GuardedRunnable(bound=text_chain(*replies), guard=make_guard())

    reply = guarded.invoke(QUESTION, config={"callbacks": [recorder]})

    assert isinstance(reply, str)
    [root] = recorder.roots
    assert root.name == "GuardedRunnable"
    assert verdict_of_run(root) == ([verdict_tag(action)], action, approx(confidence))
    assert len(root.metadata[REQUEST_ID_KEY]) == 32  # the guard's request id
    for attempt in root.child_runs:  # attempts keep their own tags only
        assert verdict_tag(action) not in attempt.tags


def test_langsmiths_tracer_sends_the_verdict_when_it_patches_the_ended_run(
    make_guard,
):
    client = RecordingLangSmith()
    tracer = LangChainTracer(client=client, project_name="confguard-tests")
    guarded = GuardedRunnable(bound=text_chain(answer("Lyon", 0.1)), guard=make_guard())

    guarded.invoke(QUESTION, config={"callbacks": [tracer]})
    tracer.wait_for_futures()

    [started] = [r for r in client.created if r["name"] == "GuardedRunnable"]
    assert "confguard:abstain" not in (started.get("tags") or [])  # not yet known
    [patched] = [r for r in client.updated if r["name"] == "GuardedRunnable"]
    assert "confguard:abstain" in patched["tags"]
    metadata = patched["extra"]["metadata"]
    assert (metadata[ACTION_KEY], metadata[CONFIDENCE_KEY]) == ("abstain", approx(0.1))
    assert client.feedback == []  # feedback is off by default


def test_feedback_posts_the_confidence_on_the_guarded_run(make_guard):
    client = RecordingLangSmith()
    tracer = LangChainTracer(client=client, project_name="confguard-tests")
    guarded = GuardedRunnable(
        bound=text_chain(answer("Paris", 0.75)), guard=make_guard(), feedback=client
    )

    guarded.invoke(QUESTION, config={"callbacks": [tracer]})

    [run] = [r for r in client.updated if r["name"] == "GuardedRunnable"]
    [feedback] = client.feedback
    assert (feedback["run_id"], feedback["key"]) == (run["id"], FEEDBACK_KEY)
    assert (feedback["score"], feedback["value"]) == (approx(0.75), "annotate")
    assert feedback["trace_id"] == run["id"]  # lets LangSmith batch it
    assert isinstance(client, FeedbackClient)


async def test_async_feedback_without_a_tracer_still_names_the_run(make_guard):
    client = RecordingLangSmith()
    guarded = GuardedRunnable(
        bound=text_chain(answer("Paris", 0.9)), guard=make_guard(), feedback=client
    )
    verdicts = VerdictCallback()

    await guarded.ainvoke(QUESTION, config={"callbacks": [verdicts]})

    [feedback] = client.feedback
    assert verdicts.last is not None
    assert feedback["run_id"] == verdicts.last.run_id
    assert (feedback["score"], feedback["trace_id"]) == (approx(0.9), None)


def test_a_failing_feedback_client_is_logged_and_the_answer_still_given(
    make_guard, caplog
):
    guarded = GuardedRunnable(
        bound=text_chain(answer("Paris", 0.9)),
        guard=make_guard(),
        feedback=RecordingLangSmith(fail=True),
    )

    with caplog.at_level(logging.WARNING, logger="langchain_confguard"):
        assert guarded.invoke(QUESTION) == "Paris"
    assert "LangSmith is unreachable" in caplog.text


def test_a_verdict_callback_reaches_the_verdict_of_a_string_output(make_guard):
    recorder, verdicts = RunRecorder(), VerdictCallback()
    chain = text_chain(answer("Lyon", 0.6), answer("Paris", 0.95))
    guarded = GuardedRunnable(bound=chain, guard=make_guard())

    reply = guarded.invoke(QUESTION, config={"callbacks": [verdicts, recorder]})

    assert reply == "Paris"
    [found] = verdicts.verdicts
    [root] = recorder.roots
    assert found.run_id == root.id and verdicts.for_run(root.id) == found
    assert found.request_id == root.metadata[REQUEST_ID_KEY]
    assert (found.verdict.action, len(found.verdict.attempts)) == ("accept", 2)
    assert found.metadata == {k: root.metadata[k] for k in found.metadata}


def test_a_nested_guarded_run_is_marked_and_its_verdict_collected(make_guard):
    recorder, verdicts = RunRecorder(), VerdictCallback()
    model = FakeLogprobChatModel(responses=[answer("Lyon", 0.4)])
    guarded = GuardedRunnable(bound=rag_chain(model), guard=make_guard())
    app = guarded | StrOutputParser()

    app.invoke(QUESTION, config={"callbacks": [verdicts, recorder]})

    [run] = recorder.named("GuardedRunnable")
    assert verdict_of_run(run)[:2] == (["confguard:escalate"], "escalate")
    assert verdicts.last is not None and verdicts.last.run_id == run.id


def test_batch_runs_sharing_a_config_each_carry_their_own_verdict(make_guard):
    model = FakeLogprobChatModel(
        responses={
            "of France?": answer("Paris", 0.9),
            "of Spain?": answer("Seville", 0.1),
        }
    )
    guarded = GuardedRunnable(bound=rag_chain(model), guard=make_guard())
    recorder, metadata, tags = RunRecorder(), {"user": "u1"}, ["web"]
    config: Any = {"callbacks": [recorder], "metadata": metadata, "tags": tags}

    replies = guarded.batch(["Capital of France?", "Capital of Spain?"], config)

    by_question = {r.inputs["input"]: r for r in recorder.roots}
    france, spain = by_question["Capital of France?"], by_question["Capital of Spain?"]
    assert (france.tags, france.metadata[ACTION_KEY]) == (
        ["web", "confguard:accept"],
        "accept",
    )
    assert (spain.tags, spain.metadata[ACTION_KEY]) == (
        ["web", "confguard:abstain"],
        "abstain",
    )
    assert (metadata, tags) == ({"user": "u1"}, ["web"])  # the caller's, untouched
    assert [verdict_of(r).action for r in replies] == ["accept", "abstain"]


def test_a_raising_policy_still_marks_the_errored_run(make_guard):
    recorder, verdicts = RunRecorder(), VerdictCallback()
    guard = make_guard(abstain={"message": "no", "raise_error": True})
    guarded = GuardedRunnable(bound=text_chain(answer("Lyon", 0.1)), guard=guard)

    with pytest.raises(LowConfidenceError) as raised:
        guarded.invoke(QUESTION, config={"callbacks": [recorder, verdicts]})

    [root] = recorder.roots
    assert root.error is not None
    assert verdict_of_run(root) == (["confguard:abstain"], "abstain", approx(0.1))
    assert raised.value.request_id is not None  # the error carries the request's id
    assert root.metadata[REQUEST_ID_KEY] == raised.value.request_id
    assert verdicts.last is not None and verdicts.last.verdict.action == "abstain"


def test_stream_and_return_result_mark_the_run_as_invoke_does(make_guard):
    recorder = RunRecorder()
    config: Any = {"callbacks": [recorder]}
    streamed = GuardedRunnable(
        bound=text_chain(answer("Paris", 0.9)), guard=make_guard()
    )
    whole = GuardedRunnable(
        bound=text_chain(answer("Lyon", 0.1)), guard=make_guard(), return_result=True
    )

    assert "".join(streamed.stream(QUESTION, config)) == "Paris"
    result = whole.invoke(QUESTION, config)

    first, second = recorder.roots
    assert verdict_of_run(first)[:2] == (["confguard:accept"], "accept")
    assert verdict_of_run(second)[:2] == (["confguard:abstain"], "abstain")
    assert second.metadata[REQUEST_ID_KEY] == result.request_id


def test_a_listener_on_the_guarded_run_reads_the_verdict_at_its_end(make_guard):
    seen: list[Any] = []
    guarded = GuardedRunnable(
        bound=text_chain(answer("Paris", 0.9)), guard=make_guard()
    )
    listened = guarded.with_listeners(on_end=lambda run: seen.append(run.metadata))

    assert listened.invoke(QUESTION) == "Paris"
    assert seen[0][ACTION_KEY] == "accept"


async def test_astream_events_show_the_verdict_event_of_the_guarded_run(make_guard):
    model = FakeLogprobChatModel(responses=[answer("Maybe Triton", 0.1)])
    guarded = GuardedRunnable(bound=rag_chain(model), guard=make_guard())

    events = guarded.astream_events(QUESTION, version="v2")
    seen = [e async for e in agated_stream(events)]

    [root_start] = [e for e in seen if e["event"] == "on_chain_start"]
    [custom] = [e for e in seen if e["event"] == "on_custom_event"]
    assert (custom["name"], custom["run_id"]) == (VERDICT_EVENT, root_start["run_id"])
    assert custom["data"]["confguard"]["action"] == "abstain"
    assert len(custom["data"]["request_id"]) == 32


def test_the_agent_model_run_carries_the_verdict_of_its_gated_answer(make_guard):
    client, recorder, verdicts = RecordingLangSmith(), RunRecorder(), VerdictCallback()
    model = FakeLogprobChatModel(responses=[answer("Lyon", 0.6), answer("Paris", 0.95)])
    gate = ConfidenceGateMiddleware(make_guard(), feedback=client)
    agent = create_agent(model, [], middleware=[gate])

    agent.invoke(
        {"messages": [("user", QUESTION)]}, {"callbacks": [recorder, verdicts]}
    )

    [model_run] = recorder.named("model")
    assert verdict_of_run(model_run) == (["confguard:accept"], "accept", approx(0.95))
    assert [r.metadata.get(ACTION_KEY) for r in recorder.roots] == [None]
    assert verdicts.last is not None and verdicts.last.run_id == model_run.id
    assert verdicts.last.request_id == model_run.metadata[REQUEST_ID_KEY]
    assert [f["run_id"] for f in client.feedback] == [model_run.id]


async def test_the_async_agent_model_run_carries_the_verdict_too(make_guard):
    recorder = RunRecorder()
    model = FakeLogprobChatModel(responses=[answer("Lyon", 0.1)])
    agent = create_agent(model, [], middleware=[ConfidenceGateMiddleware(make_guard())])

    await agent.ainvoke({"messages": [("user", QUESTION)]}, {"callbacks": [recorder]})

    [model_run] = recorder.named("model")
    assert verdict_of_run(model_run) == (["confguard:abstain"], "abstain", approx(0.1))


def test_no_feedback_is_posted_for_a_verdict_without_a_confidence():
    client = RecordingLangSmith()
    verdict = Verdict(action="abstain", reason="no signal ran", guard_action="abstain")
    found = RunVerdict(run_id=uuid4(), request_id="r1", verdict=verdict)

    post_feedback(client, found)

    assert client.feedback == []  # a missing confidence is never posted as a score
    assert found.metadata[CONFIDENCE_KEY] is None  # the run metadata says so
