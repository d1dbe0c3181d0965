"""Single-embedder RAG: one index, one request per question, strategies as data."""

from __future__ import annotations

import pytest

from confguard.evaluation.datasets import EvalItem
from confguard.evaluation.runner import GivenContexts
from confguard.exceptions import ConfigurationError, UnknownComponentError
from confguard.llm.base import GenerationRequest
from confguard.rag import ANSWER_REQUEST, EmbeddingIndex, Passage, RAGPipeline
from confguard.results import Attempt
from confguard.strategies import more_context, other_embedder, repeat, temperature
from confguard.testing import FakeEmbedder, FakeGenerator

PASSAGES = (
    Passage(id="broncos", text="The Denver Broncos won Super Bowl 50."),
    Passage(id="panthers", text="The Carolina Panthers lost Super Bowl 50."),
    Passage(id="plants", text="Plants turn sunlight into sugar."),
)
QUESTION = "Who won Super Bowl 50?"


def rag(generator: FakeGenerator, **options: object) -> RAGPipeline:
    index = EmbeddingIndex.build(FakeEmbedder(dim=256, name="fake"), PASSAGES)
    return RAGPipeline(generator, index, **options)  # type: ignore[arg-type]


def test_the_answer_is_the_first_line_of_a_greedy_completion() -> None:
    generator = FakeGenerator([" Denver Broncos\nQuestion: more"])
    obs = rag(generator)(QUESTION)
    [request] = generator.calls
    assert obs.answer == "Denver Broncos"
    assert request == ANSWER_REQUEST.with_(prompt=request.prompt)
    assert request.prompt.endswith(f"Question: {QUESTION}\nAnswer:")
    assert [c.source for c in obs.contexts] == ["broncos"]
    assert (obs.pipeline, obs.attempt, obs.finish_reason) == ("rag", 1, "stop")
    assert obs.metadata == {}


def test_more_context_retrieves_that_many_passages() -> None:
    obs = rag(FakeGenerator(["x"]))(
        QUESTION, Attempt(number=2, strategy=more_context(2))
    )
    assert [c.source for c in obs.contexts] == ["broncos", "panthers"]
    assert obs.attempt == 2


def test_a_temperature_strategy_changes_the_request_and_nothing_else() -> None:
    generator = FakeGenerator(["x"])
    rag(generator)(QUESTION, Attempt(number=2, strategy=temperature(0.7)))
    [request] = generator.calls
    assert request == ANSWER_REQUEST.with_(prompt=request.prompt, temperature=0.7)


def test_a_strategy_without_parameters_runs_the_first_attempts_settings() -> None:
    generator = FakeGenerator(["x"])
    pipeline = rag(generator)
    pipeline(QUESTION)
    pipeline(QUESTION, Attempt(number=2, strategy=repeat()))
    assert generator.calls[0] == generator.calls[1]


def test_the_request_template_sets_every_generation_setting() -> None:
    generator = FakeGenerator(["one two three"])
    template = ANSWER_REQUEST.with_(max_tokens=2, top_k=3)
    obs = rag(generator, request=template)(QUESTION)
    assert (obs.answer, obs.finish_reason) == ("one two", "length")
    assert (generator.calls[0].max_tokens, generator.calls[0].top_k) == (2, 3)


def test_its_own_embedder_is_accepted_and_any_other_refused() -> None:
    pipeline = rag(FakeGenerator(["x"]))
    same = pipeline(QUESTION, Attempt(number=2, strategy=other_embedder("fake")))
    assert [c.retriever for c in same.contexts] == ["fake"]
    with pytest.raises(
        UnknownComponentError, match="unknown embedder 'e5'; known: fake"
    ):
        pipeline(QUESTION, Attempt(number=2, strategy=other_embedder("e5")))


def test_a_template_asking_for_several_answers_is_refused() -> None:
    with pytest.raises(ConfigurationError, match=r"request\.n=2"):
        rag(FakeGenerator(["x"]), request=GenerationRequest(prompt="", n=2))


async def test_acall_gives_the_same_observation_as_a_call() -> None:
    pipeline = rag(FakeGenerator([" Denver"]))
    assert await pipeline.acall(QUESTION) == pipeline(QUESTION)


# --- the evaluation runner's given-contexts pipeline ------------------------------

ITEM = EvalItem(
    id="q1",
    question=QUESTION,
    answers=("Denver Broncos",),
    contexts=("The Denver Broncos won Super Bowl 50.",),
)


def test_given_contexts_answers_from_the_items_passages_with_the_template() -> None:
    generator = FakeGenerator([" Denver Broncos\nQuestion: more"])
    obs = GivenContexts(generator, request=ANSWER_REQUEST.with_(max_tokens=8)).answer(
        ITEM
    )
    [request] = generator.calls
    assert obs.answer == "Denver Broncos"
    assert request.max_tokens == 8 and request.stop == ("\n",)
    assert "Context: The Denver Broncos won Super Bowl 50." in request.prompt
    assert [c.source for c in obs.contexts] == ["given"]
    assert obs.pipeline == "given_contexts"


async def test_given_contexts_async_twin_matches() -> None:
    pipeline = GivenContexts(FakeGenerator([" Denver"]))
    assert await pipeline.aanswer(ITEM) == pipeline.answer(ITEM)
