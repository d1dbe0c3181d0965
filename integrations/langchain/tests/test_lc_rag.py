"""Confident RAG in LCEL over LangChain retrievers, alone and guarded."""

from __future__ import annotations

import math

import pytest
from langchain_confguard import (
    ConfguardRetriever,
    ConfidentAnswer,
    ConfidentRAGRunnable,
    GuardedRunnable,
    verdict_of,
)
from langchain_confguard.testing import FakeLogprobChatModel, FakeRetriever
from langchain_core.documents import Document
from langchain_core.tracers.context import collect_runs
from lc_helpers import answer

from confguard.rag import EmbeddingIndex, Passage
from confguard.signals import AverageLogprob
from confguard.testing import FakeEmbedder, FakeGenerator

QUESTION = "What is the capital of France?"
LYON = Document("Lyon is a big French city.", metadata={"score": 0.4})
PARIS = Document("Paris is the capital of France.", metadata={"score": 0.7})
OTHER = Document("France borders Spain.", metadata={"score": 0.3})


def confident_rag(**options) -> ConfidentRAGRunnable:
    # Each retriever's passage leads the model to its own answer and confidence.
    model = FakeLogprobChatModel(
        responses={
            "Lyon is a big": answer("Lyon", 0.3),
            "Paris is the capital": answer("Paris", 0.9),
        }
    )
    retrievers = {
        "minilm": FakeRetriever(documents=[LYON, OTHER]),
        "e5": FakeRetriever(documents=[PARIS, OTHER]),
    }
    return ConfidentRAGRunnable(retrievers=retrievers, llm=model, **options)


def test_the_most_confident_retrievers_answer_is_selected():
    result = confident_rag(metric=AverageLogprob()).invoke(QUESTION)

    assert isinstance(result, ConfidentAnswer)
    assert (result.answer, result.retriever) == ("Paris", "e5")
    assert result.confidence == pytest.approx(0.9)
    assert [(c.retriever, c.answer) for c in result.candidates] == [
        ("minilm", "Lyon"),
        ("e5", "Paris"),
    ]


def test_self_certainty_is_the_default_metric():
    result = confident_rag().invoke(QUESTION)

    # Top-2 rows (0.9, 0.1): KL(U || q) = -log 2 - (log 0.9 + log 0.1) / 2 = 0.5108;
    # confidence = 1 - exp(-0.5108 / log 2) = 0.5214.
    kl = -math.log(2) - (math.log(0.9) + math.log(0.1)) / 2
    assert result.answer == "Paris"
    assert result.confidence == pytest.approx(1 - math.exp(-kl / math.log(2)))
    assert result.candidates[1].result.name == "self_certainty"


def test_the_observation_keeps_every_candidate_and_the_winners_contexts():
    observation = confident_rag(metric=AverageLogprob()).invoke(QUESTION).observation

    assert observation.answer == "Paris"
    assert [c.text for c in observation.contexts] == [
        PARIS.page_content,
        OTHER.page_content,
    ]
    assert {c.retriever for c in observation.contexts} == {"e5"}
    assert [s.text for s in observation.samples] == ["Lyon", "Paris"]
    assert observation.selected_candidate.retriever == "e5"
    assert [c.retriever for c in observation.candidates] == ["minilm", "e5"]


def test_top_k_keeps_each_retrievers_first_documents():
    observation = (
        confident_rag(metric=AverageLogprob(), top_k=1).invoke(QUESTION).observation
    )

    assert [c.text for c in observation.contexts] == [PARIS.page_content]


def test_retrievals_and_generations_are_traced_inside_the_run():
    with collect_runs() as runs:
        confident_rag(metric=AverageLogprob()).invoke(QUESTION)

    [root] = runs.traced_runs
    inner = [child.name for child in root.child_runs]
    assert inner.count("FakeLogprobChatModel") == 2
    assert "RunnableParallel<minilm,e5>" in inner


async def test_ainvoke_selects_like_invoke():
    result = await confident_rag(metric=AverageLogprob()).ainvoke(
        {"question": QUESTION}
    )

    assert (result.answer, result.retriever) == ("Paris", "e5")


def test_a_confguard_generator_can_answer_instead_of_a_chat_model():
    generator = FakeGenerator(
        lambda prompt: "Paris" if "capital" in prompt[-200:] else "Lyon"
    )
    rag = ConfidentRAGRunnable(
        retrievers={"a": FakeRetriever(documents=[PARIS])},
        llm=generator,
        metric=AverageLogprob(),
    )

    assert rag.invoke(QUESTION).answer == "Paris"
    assert generator.calls[0].stop == ("\n",)


def test_guarding_confident_rag_uses_its_observation_and_attaches_the_verdict(
    make_guard,
):
    guarded = GuardedRunnable(
        bound=confident_rag(metric=AverageLogprob()), guard=make_guard()
    )

    result = guarded.invoke(QUESTION)

    assert isinstance(result, ConfidentAnswer)
    assert verdict_of(result).action == "accept"
    assert result.verdict.confidence == pytest.approx(0.9)


def test_a_retry_strategys_top_k_trims_the_documents_of_the_retry(make_guard):
    seen: list[int] = []

    def keep(obs) -> float:
        seen.append(len(obs.contexts))
        return 0.6 if len(seen) == 1 else 0.9  # retry band, then accept

    guard = make_guard(
        [keep],
        retry={
            "max_attempts": 2,
            "strategies": [{"name": "more_context", "params": {"top_k": 1}}],
        },
    )

    GuardedRunnable(bound=confident_rag(metric=AverageLogprob()), guard=guard).invoke(
        QUESTION
    )

    assert seen == [2, 1]


def test_a_retry_strategys_embedder_and_temperature_shape_the_retry(make_guard):
    generator = FakeGenerator(["Paris"])
    rag = ConfidentRAGRunnable(
        retrievers={
            "minilm": FakeRetriever(documents=[LYON]),
            "e5": FakeRetriever(documents=[PARIS]),
        },
        llm=generator,
        metric=AverageLogprob(),
    )
    seen: list[list[str]] = []

    def keep(obs) -> float:
        seen.append([c.retriever for c in obs.candidates])
        return 0.6 if len(seen) == 1 else 0.9  # retry band, then accept

    strategy = {"name": "e5_warm", "params": {"embedder": "e5", "temperature": 0.5}}
    retry = {"max_attempts": 2, "strategies": [strategy]}
    guard = make_guard([keep], retry=retry, strategies=("e5_warm",))

    GuardedRunnable(bound=rag, guard=guard).invoke(QUESTION)

    assert seen == [["minilm", "e5"], ["e5"]]
    assert [c.temperature for c in generator.calls] == [0.0, 0.0, 0.5]


def test_a_confguard_index_serves_as_a_langchain_retriever(tmp_path):
    passages = [
        Passage(id="p1", text="Paris is the capital of France.", title="France"),
        Passage(id="p2", text="Bananas are yellow fruit.", title="Fruit"),
    ]
    index = EmbeddingIndex.build(FakeEmbedder(dim=64), passages, cache_dir=tmp_path)

    [doc] = ConfguardRetriever(index=index, k=1).invoke("capital of France")

    assert doc.page_content == "Paris is the capital of France."
    assert (doc.id, doc.metadata["source"], doc.metadata["retriever"]) == (
        "p1",
        "p1",
        "fake",
    )
    assert doc.metadata["score"] > 0.5
