"""GuardedQueryEngine: gate, retry, escalate and abstain around any query engine."""

from __future__ import annotations

import asyncio
import math
from typing import Any

import pytest
from confguard import (
    AsyncGuard,
    CallableRoute,
    FunctionSignal,
    Guard,
    LowConfidenceError,
    PipelineRoute,
    Policy,
)
from confguard.exceptions import ConfigurationError, InputError
from confguard.signals import AverageLogprob
from li_fakes import ScriptedEngine, node
from llama_index.core.base.response.schema import Response, StreamingResponse
from llama_index.core.llms import MockLLM
from llama_index.core.prompts import PromptTemplate
from llama_index.core.schema import NodeWithScore, QueryBundle

from llama_index.postprocessor.confguard import (
    GuardedQueryEngine,
    QueryEnginePipeline,
    Verdict,
    get_verdict,
    verdict_of,
)
from llama_index.postprocessor.confguard.testing import LogprobMockLLM

MESSAGE = "I'm not confident enough to answer that."


def policy(**data: Any) -> Policy:
    return Policy.from_dict({"thresholds": {"accept": 0.8}, **data})


def guarded(engine: Any, pol: Policy | None = None, **kwargs: Any) -> Any:
    return GuardedQueryEngine.from_signals(
        engine, [AverageLogprob()], pol or policy(), **kwargs
    )


def verdict(response: Any) -> Verdict:
    assert isinstance(response, Response)
    return verdict_of(response)


def text(response: Any) -> str | None:
    assert isinstance(response, Response)  # gated answers are never streams
    return response.response


def llm_by_text(**logprob_of: float) -> LogprobMockLLM:
    """Answers in order; each answer's token logprob is looked up by its text."""
    return LogprobMockLLM(list(logprob_of), logprobs=lambda text: logprob_of[text])


def test_a_confident_answer_is_accepted_with_the_verdict_merged_in(
    broncos_nodes: list[NodeWithScore], confident_llm: LogprobMockLLM
) -> None:
    engine = guarded(ScriptedEngine(llm=confident_llm, nodes=broncos_nodes))
    response = engine.query("Who won Super Bowl 50?")
    assert text(response) == "Denver Broncos"
    assert response.metadata["engine"] == "scripted"  # merged, not overwritten
    found = verdict(response)
    assert (found.action, found.guard_action, found.issues) == ("accept", "accept", ())
    assert found.confidence == pytest.approx(math.exp(-0.01))
    assert [s.name for s in found.signals] == ["avg_logprob"]
    assert [n.node.node_id for n in response.source_nodes] == [
        "broncos",
        "warsaw",
        "paris",
    ]


async def test_the_async_query_runs_the_async_guard(
    broncos_nodes: list[NodeWithScore], confident_llm: LogprobMockLLM
) -> None:
    engine = guarded(ScriptedEngine(llm=confident_llm, nodes=broncos_nodes))
    response = await engine.aquery("Who won Super Bowl 50?")
    assert text(response) == "Denver Broncos"
    assert verdict(response).action == "accept"
    assert len(response.source_nodes) == 3


def test_a_low_confidence_answer_is_retried_until_confident() -> None:
    llm = llm_by_text(guess=-2.0, **{"Denver Broncos": -0.01})
    pol = policy(thresholds={"accept": 0.8, "retry": 0.1})
    response = guarded(ScriptedEngine(llm=llm), pol).query("Who won?")
    assert text(response) == "Denver Broncos"
    found = verdict(response)
    assert [a.action for a in found.attempts] == ["retry", "accept"]
    assert found.attempts[0].confidence == pytest.approx(math.exp(-2.0))
    assert found.attempts[1].strategy == "repeat"


async def test_the_async_engine_retries_too() -> None:
    llm = llm_by_text(guess=-2.0, **{"Denver Broncos": -0.01})
    pol = policy(thresholds={"accept": 0.8, "retry": 0.1})
    response = await guarded(ScriptedEngine(llm=llm), pol).aquery("Who won?")
    assert [a.action for a in verdict(response).attempts] == ["retry", "accept"]


def test_a_retry_strategy_runs_its_own_engine_and_its_nodes_are_returned() -> None:
    base = ScriptedEngine(llm=llm_by_text(guess=-3.0), nodes=[node("narrow", "n")])
    wide = ScriptedEngine(llm=llm_by_text(sure=-0.01), nodes=[node("wide", "w")])
    pol = policy(
        thresholds={"accept": 0.8, "retry": 0.01},
        retry={"strategies": [{"name": "more_context", "params": {"top_k": 8}}]},
    )
    engine = guarded(base, pol, strategies={"more_context": wide})
    response = engine.query("Q")
    assert text(response) == "sure"
    assert [n.node.node_id for n in response.source_nodes] == ["wide"]
    assert (len(base.calls), len(wide.calls)) == (1, 1)
    assert [a.strategy for a in verdict(response).attempts] == [None, "more_context"]


def test_a_custom_strategy_name_is_declared_to_the_guards_by_from_signals() -> None:
    base = ScriptedEngine(llm=llm_by_text(guess=-3.0))
    wide = ScriptedEngine(llm=llm_by_text(sure=-0.01))
    pol = policy(
        thresholds={"accept": 0.8, "retry": 0.01}, retry={"strategies": ["wide"]}
    )
    response = guarded(base, pol, strategies={"wide": wide}).query("Q")
    assert text(response) == "sure"
    assert [a.strategy for a in verdict(response).attempts] == [None, "wide"]


def test_exhausted_retries_abstain_and_keep_the_last_source_nodes() -> None:
    engine = ScriptedEngine(llm=llm_by_text(guess=-3.0), nodes=[node("n1", "text")])
    pol = policy(thresholds={"accept": 0.8, "retry": 0.01}, retry={"max_attempts": 2})
    response = guarded(engine, pol).query("Q")
    assert text(response) == MESSAGE
    assert [n.node.node_id for n in response.source_nodes] == ["n1"]
    found = verdict(response)
    assert found.action == "abstain"
    assert found.reason.endswith("retries exhausted (2/2 attempts): abstain")
    assert found.judged_answer == "guess"  # kept for audit, not shown


def test_a_callable_route_answers_an_escalated_question() -> None:
    pol = policy(
        thresholds={"accept": 0.8, "escalate": 0.0}, escalate={"route": "human"}
    )
    engine = GuardedQueryEngine.from_signals(
        ScriptedEngine(llm=llm_by_text(guess=-3.0)),
        [AverageLogprob()],
        pol,
        routes={"human": CallableRoute(lambda req: f"A human on: {req.question}")},
    )
    response = engine.query("Who won?")
    assert text(response) == "A human on: Who won?"
    assert verdict(response).action == "escalate"


def test_a_stronger_engine_as_route_is_checked_and_its_answer_returned() -> None:
    weak = ScriptedEngine(llm=llm_by_text(guess=-3.0), nodes=[node("weak", "w")])
    strong = ScriptedEngine(llm=llm_by_text(right=-0.01), nodes=[node("strong", "s")])
    pol = policy(
        thresholds={"accept": 0.8, "escalate": 0.0}, escalate={"route": "strong"}
    )
    route = PipelineRoute(QueryEnginePipeline(strong))
    engine = GuardedQueryEngine.from_signals(
        weak, [AverageLogprob()], pol, routes={"strong": route}
    )
    response = engine.query("Q")
    assert text(response) == "right"
    assert [n.node.node_id for n in response.source_nodes] == ["strong"]
    found = verdict(response)
    assert [(a.action, a.route) for a in found.attempts] == [
        ("escalate", None),
        ("accept", "strong"),
    ]


def test_an_annotated_answer_carries_its_caveat() -> None:
    pol = policy(thresholds={"accept": 0.99, "annotate": 0.5})
    engine = guarded(ScriptedEngine(llm=llm_by_text(maybe=-0.1)), pol)
    response = engine.query("Q")
    caveat = "This answer may be inaccurate (confidence 90%)."
    assert text(response) == f"maybe\n\n{caveat}"
    assert verdict(response).caveat == caveat
    plain = guarded(
        ScriptedEngine(llm=llm_by_text(maybe=-0.1)), pol, append_caveat=False
    )
    assert text(plain.query("Q")) == "maybe"


def test_an_empty_response_is_refused_even_when_the_guard_accepts() -> None:
    engine = GuardedQueryEngine.from_signals(
        ScriptedEngine(llm=MockLLM(), answer=lambda text: ""),
        [FunctionSignal(lambda obs: 0.99, name="always")],
        policy(),
    )
    response = engine.query("Q")
    assert text(response) == MESSAGE
    found = verdict(response)
    assert (found.action, found.guard_action) == ("abstain", "accept")
    assert found.reason.startswith("the query engine returned an empty response")
    assert [i.code for i in found.issues] == ["empty_response"]


def test_an_empty_response_can_be_kept_with_its_issue_shown() -> None:
    signal = FunctionSignal(lambda obs: 0.99, name="always")
    engine = GuardedQueryEngine(
        ScriptedEngine(llm=MockLLM(), answer=lambda text: ""),
        Guard([signal], policy()),
        on_empty_response="keep",
    )
    response = engine.query("Q")
    assert text(response) == ""
    assert [i.code for i in verdict(response).issues] == ["empty_response"]


def test_a_refused_empty_response_raises_when_the_policy_says_so() -> None:
    engine = GuardedQueryEngine.from_signals(
        ScriptedEngine(llm=MockLLM(), answer=lambda text: ""),
        [FunctionSignal(lambda obs: 0.99, name="always")],
        policy(abstain={"raise_error": True}),
    )
    with pytest.raises(LowConfidenceError, match="empty response"):
        engine.query("Q")


def test_an_abstention_raises_when_the_policy_says_so() -> None:
    engine = guarded(
        ScriptedEngine(llm=llm_by_text(guess=-3.0)),
        policy(abstain={"raise_error": True}),
    )
    with pytest.raises(LowConfidenceError) as raised:
        engine.query("Q")
    assert raised.value.decision.action == "abstain"


def test_an_llm_without_logprobs_fails_closed_with_explicit_statuses() -> None:
    engine = guarded(ScriptedEngine(llm=MockLLM(max_tokens=2)))
    found = verdict(engine.query("Q"))
    assert found.action == "abstain"
    assert [i.code for i in found.issues] == ["no_logprobs"]
    [signal] = found.signals
    assert (signal.name, signal.status) == ("avg_logprob", "skipped")


def test_prompts_pass_through_to_the_wrapped_engine(hash_index: Any) -> None:
    inner = hash_index.as_query_engine(llm=LogprobMockLLM(["x"]))
    engine = guarded(inner)
    assert engine.get_prompts().keys() == inner.get_prompts().keys()
    key = "response_synthesizer:text_qa_template"
    engine.update_prompts({key: PromptTemplate("Q: {query_str} C: {context_str}")})
    assert inner.get_prompts()[key].get_template() == "Q: {query_str} C: {context_str}"


def test_a_streaming_engine_is_read_to_the_end_before_gating(hash_index: Any) -> None:
    llm = LogprobMockLLM(["Denver Broncos"], logprobs=-0.01)
    inner = hash_index.as_query_engine(llm=llm, streaming=True)
    response = guarded(inner).query("Who won Super Bowl 50?")
    assert isinstance(response, StreamingResponse)  # released once gated
    assert verdict_of(response).action == "accept"  # known before the first chunk
    assert "".join(response.response_gen) == "Denver Broncos"


def test_only_an_async_guard_still_serves_sync_queries(
    confident_llm: LogprobMockLLM,
) -> None:
    engine = GuardedQueryEngine(
        ScriptedEngine(llm=confident_llm), AsyncGuard([AverageLogprob()], policy())
    )
    assert verdict(engine.query("Q")).action == "accept"


async def test_a_sync_query_works_inside_a_running_event_loop(
    confident_llm: LogprobMockLLM,
) -> None:
    engine = GuardedQueryEngine(
        ScriptedEngine(llm=confident_llm), AsyncGuard([AverageLogprob()], policy())
    )
    assert verdict(engine.query("Q")).confidence == pytest.approx(math.exp(-0.01))


async def test_only_a_sync_guard_still_serves_async_queries(
    confident_llm: LogprobMockLLM,
) -> None:
    engine = GuardedQueryEngine(
        ScriptedEngine(llm=confident_llm), Guard([AverageLogprob()], policy())
    )
    assert verdict(await engine.aquery("Q")).action == "accept"


async def test_concurrent_async_queries_are_judged_on_their_own_logprobs() -> None:
    llm = LogprobMockLLM(
        lambda prompt: "low" if prompt == "q-low" else "high",
        logprobs=lambda text: -3.0 if text == "low" else -0.01,
    )
    engine = guarded(ScriptedEngine(llm=llm))
    questions = ["q-low", "q-high"] * 3
    responses = await asyncio.gather(*(engine.aquery(q) for q in questions))
    assert [r.response for r in responses] == [MESSAGE, "high"] * 3
    assert [verdict(r).confidence for r in responses] == pytest.approx(
        [math.exp(-3.0), math.exp(-0.01)] * 3
    )


@pytest.mark.parametrize(
    ("args", "kwargs", "message"),
    [
        ((), {}, "needs a Guard or an AsyncGuard"),
        (("guard",), {}, "must be a confguard Guard or AsyncGuard, got str"),
        ((), {"async_guard": "x"}, "async_guard must be an AsyncGuard"),
        ((None,), {"on_empty_response": "ignore"}, "on_empty_response must be"),
    ],
)
def test_a_misconfigured_engine_is_refused(
    confident_llm: LogprobMockLLM,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    message: str,
) -> None:
    if args == (None,):
        args = (Guard([AverageLogprob()], policy()),)
    with pytest.raises(ConfigurationError, match=message):
        GuardedQueryEngine(ScriptedEngine(llm=confident_llm), *args, **kwargs)


def test_a_response_without_a_verdict_says_so() -> None:
    with pytest.raises(InputError, match="carries no confguard verdict"):
        verdict_of(Response("plain"))
    assert get_verdict(Response("plain")) is None


def test_a_malformed_verdict_is_an_input_error() -> None:
    with pytest.raises(InputError, match="verdict is malformed"):
        get_verdict(Response("x", metadata={"confguard": {"action": "maybe"}}))


def test_the_callers_query_bundle_reaches_the_wrapped_engine(
    confident_llm: LogprobMockLLM,
) -> None:
    seen: list[Any] = []

    class Recording(ScriptedEngine):
        def query(self, str_or_query_bundle: Any) -> Any:
            seen.append(str_or_query_bundle)
            return super().query(str_or_query_bundle)

    bundle = QueryBundle("Who won?", custom_embedding_strs=["Super Bowl 50 winner"])
    guarded(Recording(llm=confident_llm)).query(bundle)
    assert seen[0].custom_embedding_strs == ["Super Bowl 50 winner"]
