"""The callback handlers: what they collect, and monitoring without gating."""

from __future__ import annotations

import math
import uuid

import pytest
from langchain_confguard import (
    AsyncConfidenceCallbackHandler,
    ConfidenceCallbackHandler,
    openai_logprobs,
)
from langchain_confguard.testing import (
    FakeLogprobChatModel,
    FakeResponse,
    FakeRetriever,
)
from langchain_core.messages import AIMessage, AIMessageChunk
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, LLMResult
from langchain_core.runnables import RunnableLambda
from lc_helpers import PARIS_DOC, answer, rag_chain

from confguard.store import InMemoryStore

QUESTION = "What is the capital of France?"


def test_the_handler_collects_question_contexts_and_answer_logprobs(model_factory):
    handler = ConfidenceCallbackHandler()
    model = model_factory(answer("The Paris", 0.5))

    rag_chain(model).invoke(QUESTION, {"callbacks": [handler]})
    observation = handler.observation()

    assert observation.question == QUESTION
    assert observation.answer == "The Paris"
    assert [(c.text, c.score, c.retriever) for c in observation.contexts] == [
        (PARIS_DOC.page_content, 0.8, "FakeRetriever")
    ]
    assert [t.token for t in observation.logprobs] == ["The", " Paris"]
    assert observation.logprobs[0].logprob == pytest.approx(math.log(0.5))
    assert (observation.issues, observation.pipeline) == ((), "langchain")


def test_streamed_runs_keep_their_logprobs(model_factory):
    handler = ConfidenceCallbackHandler()
    model = model_factory(answer("The Paris", 0.5))

    chunks = list(rag_chain(model).stream(QUESTION, {"callbacks": [handler]}))
    observation = handler.observation()

    assert "".join(c.content for c in chunks) == "The Paris"
    assert [t.token for t in observation.logprobs] == ["The", " Paris"]


def test_streamed_slices_fill_in_when_the_final_result_lost_them():
    handler = ConfidenceCallbackHandler()
    run, root = uuid.uuid4(), uuid.uuid4()
    tokens = FakeResponse(text="The Paris", prob=0.5).tokens()

    handler.on_chain_start({}, {"question": QUESTION}, run_id=root)
    handler.on_chat_model_start({}, [[]], run_id=run, parent_run_id=root)
    for token in tokens:
        chunk = ChatGenerationChunk(
            message=AIMessageChunk(content=token.token),
            generation_info={"logprobs": openai_logprobs([token])},
        )
        handler.on_llm_new_token(token.token, chunk=chunk, run_id=run)
    final = LLMResult(generations=[[ChatGeneration(message=AIMessage("The Paris"))]])
    handler.on_llm_end(final, run_id=run, parent_run_id=root)
    handler.on_chain_end(AIMessage("The Paris"), run_id=root)

    observation = handler.observation()
    assert observation.logprobs == tokens
    assert observation.issues == ()


def test_extra_generations_become_samples():
    handler = ConfidenceCallbackHandler()
    run = uuid.uuid4()
    replies = [FakeResponse(text=t, prob=0.9).message() for t in ("Paris", "Lyon")]

    handler.on_chat_model_start({}, [[]], run_id=run)
    handler.on_llm_end(
        LLMResult(generations=[[ChatGeneration(message=m) for m in replies]]),
        run_id=run,
    )

    observation = handler.observation(QUESTION)
    assert observation.answer == "Paris"
    assert [s.text for s in observation.samples] == ["Lyon"]


def test_a_model_without_logprobs_leaves_them_none(model_factory):
    handler = ConfidenceCallbackHandler()
    model = FakeLogprobChatModel(responses=[FakeResponse(text="Paris", logprobs=False)])

    model.invoke(QUESTION, {"callbacks": [handler]})
    observation = handler.observation()

    assert (observation.question, observation.answer) == (QUESTION, "Paris")
    assert observation.logprobs is None
    assert [(i.code, i.detail) for i in observation.issues] == [
        ("no_logprobs", "the model exposed no logprobs")
    ]


def test_monitoring_scores_and_records_every_run_without_gating(make_guard):
    store = InMemoryStore()
    guard = make_guard(store=store)
    results = []
    handler = ConfidenceCallbackHandler(guard, on_result=results.append)
    model = FakeLogprobChatModel(
        responses={"of France?": answer("Paris", 0.9), "of Spain?": answer("Vigo", 0.1)}
    )
    chain = rag_chain(model)

    replies = chain.batch(
        ["Capital of France?", "Capital of Spain?"], {"callbacks": [handler]}
    )

    assert [r.content for r in replies] == ["Paris", "Vigo"]  # nothing gated
    decided = sorted((r.question, r.decision.action) for r in results)
    assert decided == [
        ("Capital of France?", "accept"),
        ("Capital of Spain?", "abstain"),
    ]
    assert len(store.decisions()) == 2


async def test_async_monitoring_scores_with_acheck(model_factory, make_guard):
    results = []

    async def keep(result):
        results.append(result)

    guard = make_guard()
    handler = AsyncConfidenceCallbackHandler(guard, on_result=keep)
    model = model_factory(answer("Paris", 0.9))

    await rag_chain(model).ainvoke(QUESTION, {"callbacks": [handler]})

    [result] = results
    assert (result.question, result.answer, result.decision.action) == (
        QUESTION,
        "Paris",
        "accept",
    )
    assert result.assessment.signal("avg_logprob").confidence == pytest.approx(0.9)


def test_a_monitored_chat_model_alone_is_scored_at_its_end(model_factory, make_guard):
    results = []
    guard = make_guard()
    handler = ConfidenceCallbackHandler(guard, on_result=results.append)

    model_factory(answer("Paris", 0.9)).invoke(QUESTION, {"callbacks": [handler]})

    [result] = results
    assert (result.question, result.decision.action) == (QUESTION, "accept")


def test_a_long_lived_handler_keeps_nothing_once_runs_end(model_factory, make_guard):
    handler = ConfidenceCallbackHandler(make_guard(), on_result=lambda result: None)
    model = model_factory(answer("Paris", 0.9))
    retriever = FakeRetriever(documents=[PARIS_DOC])

    rag_chain(model).batch([QUESTION] * 3, {"callbacks": [handler]})
    retriever.invoke(QUESTION, {"callbacks": [handler]})
    with pytest.raises(ZeroDivisionError):
        RunnableLambda(lambda q: 1 / 0).invoke(QUESTION, {"callbacks": [handler]})

    assert handler.open_runs == 0
