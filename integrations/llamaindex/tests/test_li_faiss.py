"""End to end on a real FaissVectorStore over the demo corpus (hashing embedders)."""

from __future__ import annotations

from pathlib import Path

import faiss
import pytest
from confguard import Policy
from confguard.rag import demo_corpus
from confguard.signals import AverageLogprob
from confguard.testing import FakeEmbedder
from llama_index.core import StorageContext, VectorStoreIndex, load_index_from_storage
from llama_index.core.base.response.schema import Response
from llama_index.core.schema import TextNode
from llama_index.vector_stores.faiss import FaissVectorStore

from llama_index.postprocessor.confguard import (
    ConfguardEmbedding,
    ConfidentNodePostprocessor,
    GuardedQueryEngine,
    NodeAgreement,
    node_score,
    verdict_of,
)
from llama_index.postprocessor.confguard.testing import LogprobMockLLM

QUESTION = "Which NFL team represented the AFC at Super Bowl 50?"
GOLD = "Super_Bowl_50#0"
DIM = 256


@pytest.fixture(scope="module")
def embed_model() -> ConfguardEmbedding:
    return ConfguardEmbedding(FakeEmbedder(dim=DIM, name="hash"))


@pytest.fixture(scope="module")
def faiss_index(embed_model: ConfguardEmbedding) -> VectorStoreIndex:
    nodes = [TextNode(id_=p.id, text=p.text) for p in demo_corpus()]
    store = FaissVectorStore(faiss_index=faiss.IndexFlatIP(DIM))
    context = StorageContext.from_defaults(vector_store=store)
    return VectorStoreIndex(nodes, storage_context=context, embed_model=embed_model)


def guarded_engine(index: VectorStoreIndex) -> GuardedQueryEngine:
    voters = [FakeEmbedder(dim=DIM, name="hash-a"), FakeEmbedder(dim=64, name="hash-b")]
    post = ConfidentNodePostprocessor(embedders=voters, top_k=1, min_confidence=0.5)
    inner = index.as_query_engine(
        llm=LogprobMockLLM(["Denver Broncos"], logprobs=-0.02),
        similarity_top_k=4,
        node_postprocessors=[post],
    )
    signals = [AverageLogprob(), NodeAgreement()]
    return GuardedQueryEngine.from_signals(inner, signals, Policy())


def test_the_guarded_engine_answers_from_the_passage_all_embedders_agree_on(
    faiss_index: VectorStoreIndex,
) -> None:
    response = guarded_engine(faiss_index).query(QUESTION)
    assert isinstance(response, Response)
    assert response.response == "Denver Broncos"
    [top] = response.source_nodes  # the others were found by neither voter
    assert top.node.node_id == GOLD
    score = node_score(top)
    assert score is not None
    assert score.found_by == ("hash-a", "hash-b")
    verdict = verdict_of(response)
    assert verdict.action == "accept"
    agreement = next(s for s in verdict.signals if s.name == "node_agreement")
    assert (agreement.status, agreement.confidence) == ("ok", 1.0)


async def test_the_async_path_gives_the_same_answer_and_nodes(
    faiss_index: VectorStoreIndex,
) -> None:
    response = await guarded_engine(faiss_index).aquery(QUESTION)
    assert [n.node.node_id for n in response.source_nodes] == [GOLD]
    assert verdict_of(response).action == "accept"


def test_a_persisted_faiss_index_reloads_and_is_guarded_the_same(
    faiss_index: VectorStoreIndex, embed_model: ConfguardEmbedding, tmp_path: Path
) -> None:
    faiss_index.storage_context.persist(persist_dir=str(tmp_path))
    store = FaissVectorStore.from_persist_dir(str(tmp_path))
    context = StorageContext.from_defaults(
        vector_store=store, persist_dir=str(tmp_path)
    )
    reloaded = load_index_from_storage(context, embed_model=embed_model)
    assert isinstance(reloaded, VectorStoreIndex)
    response = guarded_engine(reloaded).query(QUESTION)
    assert [n.node.node_id for n in response.source_nodes] == [GOLD]
