"""GuardedRunnable: every policy path, LangChain's calling styles, and bad input."""

from __future__ import annotations

from typing import Any

import pytest
from langchain_confguard import (
    ATTEMPT_TAG,
    GuardedRunnable,
    agated_stream,
    verdict_of,
)
from langchain_confguard.testing import FakeLogprobChatModel, FakeResponse
from langchain_core.documents import Document
from langchain_core.messages import AIMessage
from langchain_core.runnables import RunnableLambda
from langchain_core.tracers.context import collect_runs
from lc_helpers import PARIS_DOC, answer, rag_chain

from confguard import (
    AsyncGuard,
    CallableRoute,
    GuardResult,
    LowConfidenceError,
    ObservationError,
)
from confguard.exceptions import ConfigurationError
from confguard.signals import AverageLogprob
from confguard.signals.retrieval import RetrievalSupport

QUESTION = "What is the capital of France?"


def guarded(model: Any, guard: Any, **options: Any) -> GuardedRunnable:
    return GuardedRunnable(bound=rag_chain(model), guard=guard, **options)


def test_a_confident_answer_is_accepted_unchanged_with_its_verdict(
    model_factory, make_guard
):
    model = model_factory(answer("Paris", 0.9))

    reply = guarded(model, make_guard()).invoke(QUESTION)

    assert isinstance(reply, AIMessage)
    assert reply.content == "Paris"
    assert "logprobs" in reply.response_metadata  # the model's own metadata stays
    verdict = verdict_of(reply)
    assert verdict is not None
    assert (verdict.action, len(verdict.attempts)) == ("accept", 1)
    assert verdict.confidence == pytest.approx(0.9)
    assert verdict.signals[0].name == "avg_logprob"


def test_an_unsure_answer_is_retried_and_the_confident_retry_accepted(
    model_factory, make_guard
):
    model = model_factory(answer("Lyon", 0.6), answer("Paris", 0.95))

    reply = guarded(model, make_guard()).invoke(QUESTION)

    assert reply.content == "Paris"
    verdict = verdict_of(reply)
    assert (verdict.action, len(verdict.attempts)) == ("accept", 2)
    assert model.calls == 2


def test_a_retry_strategy_reaches_the_runnable_through_configurable(make_guard):
    seen: list[dict[str, Any]] = []

    def record(question: str, config: Any) -> AIMessage:
        seen.append(dict(config["configurable"]))
        prob = 0.6 if len(seen) == 1 else 0.95
        return FakeResponse(text="Paris", prob=prob).message()

    GuardedRunnable(bound=RunnableLambda(record), guard=make_guard()).invoke(QUESTION)

    assert seen[0]["confguard_attempt"] == 1
    assert "confguard_strategy" not in seen[0]
    assert (seen[1]["confguard_attempt"], seen[1]["confguard_strategy"]) == (
        2,
        "more_context",
    )
    assert seen[1]["top_k"] == 5


def test_a_middling_answer_is_escalated_to_the_route(model_factory, make_guard):
    model = model_factory(answer("Lyon", 0.4))

    reply = guarded(model, make_guard()).invoke(QUESTION)

    assert reply.content == f"A person answers: {QUESTION}"
    verdict = verdict_of(reply)
    assert (verdict.action, verdict.route) == ("escalate", "human")
    assert "logprobs" not in reply.response_metadata  # a fresh message, not Lyon's


def test_a_hopeless_answer_is_refused_with_the_abstain_message(
    model_factory, make_guard
):
    model = model_factory(answer("Lyon", 0.1))

    reply = guarded(model, make_guard()).invoke(QUESTION)

    assert reply.content == "I can't answer that."
    assert verdict_of(reply).action == "abstain"


def test_an_annotated_answer_carries_its_caveat(model_factory, make_guard):
    model = model_factory(answer("Paris", 0.75))

    reply = guarded(model, make_guard()).invoke(QUESTION)

    assert reply.content == "Paris\n\n(unsure: 75%)"
    assert verdict_of(reply).caveat == "(unsure: 75%)"
    no_caveat = guarded(model, make_guard(), append_caveat=False).invoke(QUESTION)
    assert no_caveat.content == "Paris"


def test_a_raising_policy_raises_low_confidence_error_for_with_fallbacks(
    model_factory, make_guard
):
    model = model_factory(answer("Lyon", 0.1))
    guard = make_guard(abstain={"message": "no", "raise_error": True})
    chain = guarded(model, guard)

    with pytest.raises(LowConfidenceError) as raised:
        chain.invoke(QUESTION)
    assert raised.value.decision.action == "abstain"

    safe = chain.with_fallbacks(
        [RunnableLambda(lambda q: AIMessage("Ask a librarian."))],
        exceptions_to_handle=(LowConfidenceError,),
    )
    assert safe.invoke(QUESTION).content == "Ask a librarian."


def test_batch_gates_each_input_on_its_own(make_guard):
    model = FakeLogprobChatModel(
        responses={
            "of France?": answer("Paris", 0.9),
            "of Spain?": answer("Seville", 0.1),
        }
    )
    chain = guarded(model, make_guard())

    replies = chain.batch(["Capital of France?", "Capital of Spain?"])

    assert [r.content for r in replies] == ["Paris", "I can't answer that."]
    assert [verdict_of(r).action for r in replies] == ["accept", "abstain"]


async def test_ainvoke_and_abatch_gate_like_invoke(make_guard):
    model = FakeLogprobChatModel(
        responses={
            "of France?": answer("Paris", 0.9),
            "of Spain?": answer("Seville", 0.1),
        }
    )
    chain = guarded(model, make_guard())

    reply = await chain.ainvoke("Capital of France?")
    replies = await chain.abatch(["Capital of Spain?", "Capital of France?"])

    assert verdict_of(reply).action == "accept"
    assert [r.content for r in replies] == ["I can't answer that.", "Paris"]


async def test_async_retry_then_accept(model_factory, make_guard):
    model = model_factory(answer("Lyon", 0.6), answer("Paris", 0.95))

    reply = await guarded(model, make_guard()).ainvoke(QUESTION)

    assert (reply.content, len(verdict_of(reply).attempts)) == ("Paris", 2)


def test_stream_yields_only_the_gated_answer_in_chunks(model_factory, make_guard):
    model = model_factory(answer("Lyon", 0.6), answer("The Paris", 0.95))

    chunks = list(guarded(model, make_guard()).stream(QUESTION))

    assert [c.content for c in chunks] == ["The", " Paris"]
    whole = chunks[0] + chunks[1]
    assert len(verdict_of(whole).attempts) == 2  # the verdict rides on the last
    assert whole.id.startswith("confguard-")  # its own id, not the attempt's


async def test_astream_yields_only_the_gated_answer(model_factory, make_guard):
    model = model_factory(answer("Lyon", 0.1))

    chunks = [c async for c in guarded(model, make_guard()).astream(QUESTION)]

    assert "".join(c.content for c in chunks) == "I can't answer that."


async def test_inner_tokens_show_in_astream_events_tagged_and_can_be_filtered(
    model_factory, make_guard
):
    model = model_factory(answer("Lyon", 0.1))
    chain = guarded(model, make_guard())

    events = [e async for e in chain.astream_events(QUESTION, version="v2")]
    inner = [e for e in events if e["event"] == "on_chat_model_stream"]
    assert [
        e["data"]["chunk"].content for e in inner if e["data"]["chunk"].content
    ] == ["Lyon"]
    assert all(ATTEMPT_TAG in e["tags"] for e in inner)

    for kept in (
        [e async for e in agated_stream(chain.astream_events(QUESTION, version="v2"))],
        [
            e
            async for e in chain.astream_events(
                QUESTION, version="v2", exclude_tags=[ATTEMPT_TAG]
            )
        ],
    ):
        streamed = [e["data"]["chunk"].content for e in kept if "chunk" in e["data"]]
        assert "".join(streamed) == "I can't answer that."


def test_each_attempt_is_a_tagged_child_run_of_the_guarded_run(
    model_factory, make_guard
):
    model = model_factory(answer("Lyon", 0.6), answer("Paris", 0.95))

    with collect_runs() as runs:
        guarded(model, make_guard()).invoke(QUESTION)

    [root] = runs.traced_runs
    assert root.name == "GuardedRunnable"
    attempts = [
        (run.tags, run.extra["metadata"]["confguard_attempt"])
        for run in root.child_runs
    ]
    tags = [ATTEMPT_TAG, "nostream"]  # nostream: LangGraph skips their tokens
    assert attempts == [(tags, 1), (tags, 2)]


def test_dict_outputs_carry_the_verdict_and_keep_their_other_keys(make_guard):
    model = FakeLogprobChatModel(responses=[answer("Lyon", 0.1)])
    chain = rag_chain(model) | RunnableLambda(
        lambda message: {"answer": message.content, "sources": ["d1"]}
    )

    reply = GuardedRunnable(bound=chain, guard=make_guard()).invoke(QUESTION)

    assert reply["answer"] == "I can't answer that."
    assert reply["sources"] == ["d1"]
    assert verdict_of(reply).action == "abstain"


def test_string_outputs_are_strings_and_return_result_gives_the_guard_result(
    model_factory, make_guard
):
    model = model_factory(answer("Paris", 0.9))
    chain = rag_chain(model) | RunnableLambda(lambda message: message.content)

    assert GuardedRunnable(bound=chain, guard=make_guard()).invoke(QUESTION) == "Paris"
    result = GuardedRunnable(
        bound=chain, guard=make_guard(), return_result=True
    ).invoke(QUESTION)
    assert isinstance(result, GuardResult)
    assert (result.answer, result.decision.action) == ("Paris", "accept")


def test_the_observation_holds_retrieved_contexts_for_retrieval_signals(
    model_factory, make_guard
):
    model = model_factory(answer("Paris", 0.9))
    guard = make_guard([AverageLogprob(), RetrievalSupport(low=0.2, high=0.6)])

    result = guarded(model, guard, return_result=True).invoke(QUESTION)

    observation = result.attempts[0].observation
    assert [c.text for c in observation.contexts] == [PARIS_DOC.page_content]
    assert observation.contexts[0].retriever == "FakeRetriever"
    assert result.assessment.signal("retrieval").confidence == 1.0  # 0.8 >= high


def test_a_chain_without_retriever_reports_retrieval_signals_skipped(
    model_factory, make_guard
):
    model = model_factory(answer("Paris", 0.9))
    guard = make_guard([AverageLogprob(), RetrievalSupport()])

    result = GuardedRunnable(bound=model, guard=guard, return_result=True).invoke(
        QUESTION
    )

    retrieval = result.assessment.signal("retrieval")
    assert (retrieval.status.value, retrieval.reason) == (
        "skipped",
        "no retrieved contexts",
    )
    assert result.decision.action == "abstain"  # the test policy fails closed
    assert "fail_closed" in result.decision.reason


def test_a_model_without_logprobs_reports_token_signals_skipped(make_guard):
    model = FakeLogprobChatModel(responses=[FakeResponse(text="Paris", logprobs=False)])

    reply = guarded(model, make_guard()).invoke(QUESTION)

    verdict = verdict_of(reply)
    assert verdict.action == "abstain"
    assert (verdict.signals[0].status, verdict.signals[0].reason) == (
        "skipped",
        "model exposes no logprobs",
    )


def test_an_output_without_text_is_scored_as_an_empty_answer(make_guard):
    call = {"name": "search", "args": {"q": "x"}, "id": "c1", "type": "tool_call"}
    model = FakeLogprobChatModel(responses=[FakeResponse(tool_calls=(call,))])

    result = guarded(model, make_guard(), return_result=True).invoke(QUESTION)

    observation = result.attempts[0].observation
    assert (observation.answer, observation.logprobs) == ("", None)
    assert [(i.code, i.detail) for i in observation.issues] == [
        ("empty_response", "the output carries no text")
    ]
    assert result.assessment.signal("avg_logprob").status.value == "skipped"
    assert result.decision.action == "abstain"


def test_errors_of_the_wrapped_runnable_propagate_unchanged(make_guard):
    def broken(question: str) -> str:
        raise ConnectionError("provider down")

    chain = GuardedRunnable(bound=RunnableLambda(broken), guard=make_guard())

    with pytest.raises(ConnectionError, match="provider down"):
        chain.invoke(QUESTION)


def test_an_input_without_a_question_is_refused_naming_its_type(make_guard):
    chain = GuardedRunnable(bound=RunnableLambda(lambda x: "Paris"), guard=make_guard())

    with pytest.raises(ObservationError, match="int input; pass question_from"):
        chain.invoke(42)
    with pytest.raises(ObservationError, match=r"keys \['lang'\]"):
        chain.invoke({"lang": "en"})


def test_an_output_of_unknown_type_is_refused_naming_its_type(make_guard):
    chain = GuardedRunnable(bound=RunnableLambda(lambda x: 42), guard=make_guard())

    with pytest.raises(ObservationError, match="answer text in a int output"):
        chain.invoke(QUESTION)
    custom = GuardedRunnable(
        bound=RunnableLambda(lambda x: 42),
        guard=make_guard([lambda obs: 0.9]),
        answer_from=str,
    )
    assert custom.invoke(QUESTION) == "42"


def test_the_guard_must_be_a_confguard_guard():
    with pytest.raises(ConfigurationError, match="got str"):
        GuardedRunnable(bound=RunnableLambda(lambda x: x), guard="strict")


def test_input_and_output_schemas_are_the_wrapped_runnables(make_guard):
    chain = rag_chain(FakeLogprobChatModel(responses=["Paris"]))
    wrapped = GuardedRunnable(bound=chain, guard=make_guard())

    assert (
        wrapped.get_input_schema().model_json_schema()
        == chain.get_input_schema().model_json_schema()
    )
    assert wrapped.OutputType is chain.OutputType
    result_schema = GuardedRunnable(bound=chain, guard=make_guard(), return_result=True)
    assert result_schema.get_output_schema() is GuardResult


def test_prepare_rewrites_the_input_of_each_attempt(make_guard):
    seen: list[str] = []

    def answer_for(question: str) -> AIMessage:
        seen.append(question)
        return FakeResponse(text="Paris", prob=0.6 if len(seen) == 1 else 0.9).message()

    GuardedRunnable(
        bound=RunnableLambda(answer_for),
        guard=make_guard(),
        prepare=lambda question, attempt: f"{question} (attempt {attempt.number})",
    ).invoke("Capital?")

    assert seen == ["Capital? (attempt 1)", "Capital? (attempt 2)"]


def test_documents_as_output_carry_the_verdict_in_their_metadata(make_guard):
    chain = RunnableLambda(lambda q: Document("Paris"))
    reply = GuardedRunnable(bound=chain, guard=make_guard([lambda obs: 0.9])).invoke(
        QUESTION
    )
    assert verdict_of(reply).action == "accept"
    assert reply.page_content == "Paris"


def test_an_async_guard_serves_invoke_as_well(model_factory, make_guard):
    guard = make_guard()
    route = CallableRoute(lambda request: "A person answers.")
    aguard = AsyncGuard(guard.signals, guard.policy, routes={"human": route})
    model = model_factory(answer("Lyon", 0.6), answer("Paris", 0.95))

    reply = guarded(model, aguard).invoke(QUESTION)

    assert (reply.content, len(verdict_of(reply).attempts)) == ("Paris", 2)
