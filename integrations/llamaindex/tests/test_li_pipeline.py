"""QueryEnginePipeline: one attempt of a query engine as an Observation with issues."""

from __future__ import annotations

import math

from confguard.observation import Issue, NodeScore, Observation
from confguard.results import Attempt, RetryStrategy
from li_fakes import ScriptedEngine, node
from llama_index.core.llms import MockLLM
from llama_index.core.schema import NodeWithScore

from llama_index.postprocessor.confguard import QueryEnginePipeline
from llama_index.postprocessor.confguard.nodes import with_node_score
from llama_index.postprocessor.confguard.testing import LogprobMockLLM


def issue_codes(obs: Observation) -> list[str]:
    return [i.code for i in obs.issues]


def test_an_attempt_observes_answer_contexts_and_logprobs(
    broncos_nodes: list[NodeWithScore], confident_llm: LogprobMockLLM
) -> None:
    engine = ScriptedEngine(llm=confident_llm, nodes=broncos_nodes)
    obs = QueryEnginePipeline(engine)("Who won Super Bowl 50?")
    assert obs.answer == "Denver Broncos"
    assert [c.source for c in obs.contexts] == ["broncos", "warsaw", "paris"]
    assert obs.contexts[0].score == 0.9
    assert obs.logprobs is not None
    assert [t.logprob for t in obs.logprobs] == [-0.01, -0.01]
    assert (obs.pipeline, obs.attempt, obs.issues) == ("llamaindex", 1, ())
    assert obs.metadata == {}  # left to the user


async def test_the_async_attempt_uses_aquery(
    broncos_nodes: list[NodeWithScore], confident_llm: LogprobMockLLM
) -> None:
    engine = ScriptedEngine(llm=confident_llm, nodes=broncos_nodes)
    obs = await QueryEnginePipeline(engine).acall("Who won?", Attempt(number=2))
    assert obs.answer == "Denver Broncos"
    assert obs.attempt == 2
    assert obs.logprobs is not None


def test_an_llm_without_logprobs_is_an_explicit_issue() -> None:
    engine = ScriptedEngine(llm=MockLLM(max_tokens=2))
    obs = QueryEnginePipeline(engine)("Q")
    assert obs.logprobs is None
    assert issue_codes(obs) == ["no_logprobs"]
    assert "MockLLM never does" in obs.issues[0].detail


def test_an_answer_without_any_llm_call_is_an_explicit_issue() -> None:
    class NoLLM(ScriptedEngine):
        def custom_query(self, query_str: str) -> str:  # type: ignore[override]
            return "cached answer"

    obs = QueryEnginePipeline(NoLLM(llm=MockLLM()))("Q")
    assert obs.answer == "cached answer"
    assert issue_codes(obs) == ["no_llm_call"]


def test_an_empty_response_becomes_an_empty_answer_with_an_issue() -> None:
    engine = ScriptedEngine(llm=LogprobMockLLM(["  "]))
    obs = QueryEnginePipeline(engine)("Q")
    assert obs.answer == ""
    assert obs.issues == (
        Issue(
            code="empty_response",
            attempt=1,
            detail="the query engine returned an empty response (with no source nodes)",
        ),
    )


def test_the_synthesizers_empty_marker_without_nodes_counts_as_empty() -> None:
    engine = ScriptedEngine(llm=MockLLM(), answer=lambda text: "Empty Response")
    obs = QueryEnginePipeline(engine)("Q")
    assert obs.answer == ""
    assert issue_codes(obs) == ["empty_response"]


def test_nodes_without_text_are_left_out_of_the_contexts_with_an_issue(
    confident_llm: LogprobMockLLM,
) -> None:
    nodes = [node("blank", ""), node("full", "Some text."), node("space", " \n")]
    obs = QueryEnginePipeline(ScriptedEngine(llm=confident_llm, nodes=nodes))("Q")
    assert [c.source for c in obs.contexts] == ["full"]
    [issue] = obs.issues
    assert issue.code == "node_without_text"
    assert issue.detail.endswith("contexts: blank, space")


def test_a_non_finite_node_score_is_not_passed_on(
    confident_llm: LogprobMockLLM,
) -> None:
    nodes = [node("a", "text", score=math.nan), node("b", "text", score=None)]
    obs = QueryEnginePipeline(ScriptedEngine(llm=confident_llm, nodes=nodes))("Q")
    assert [c.score for c in obs.contexts] == [None, None]


def test_a_retry_strategy_picks_its_engine(confident_llm: LogprobMockLLM) -> None:
    base = ScriptedEngine(llm=confident_llm)
    wide = ScriptedEngine(llm=confident_llm)
    pipeline = QueryEnginePipeline(base, strategies={"more_context": wide})
    retry = Attempt(number=2, strategy=RetryStrategy(name="more_context"))
    pipeline("Q", retry)
    assert (len(base.calls), len(wide.calls)) == (0, 1)
    obs = pipeline("Q", Attempt(number=3, strategy=RetryStrategy(name="repeat")))
    assert (len(base.calls), obs.issues) == (1, ())


def test_a_strategy_without_an_engine_reruns_the_base_with_an_issue(
    confident_llm: LogprobMockLLM,
) -> None:
    base = ScriptedEngine(llm=confident_llm)
    retry = Attempt(number=2, strategy=RetryStrategy(name="temperature_zero"))
    obs = QueryEnginePipeline(base)("Q", retry)
    assert len(base.calls) == 1
    assert obs.issues[0] == Issue(
        code="strategy_without_engine",
        attempt=2,
        detail="retry strategy 'temperature_zero' has no engine (known: none); "
        "the base engine ran again",
    )


def test_the_postprocessors_node_scores_become_typed_evidence(
    confident_llm: LogprobMockLLM,
) -> None:
    found = NodeScore(confidence=1.0, found_by=("minilm", "e5"))
    nodes = [with_node_score(node("n1", "Some text."), found), node("n2", "Other.")]
    obs = QueryEnginePipeline(ScriptedEngine(llm=confident_llm, nodes=nodes))("Q")
    assert obs.node_scores == (found.model_copy(update={"node_id": "n1"}),)
    assert [c.retriever for c in obs.contexts] == ["minilm,e5", None]
