"""Embedding adapters: confguard's in LlamaIndex, and LlamaIndex models as voters."""

from __future__ import annotations

import numpy as np
import pytest
from confguard.embeddings.base import Embedder
from confguard.testing import FakeEmbedder
from li_fakes import TableEmbedder
from llama_index.core.embeddings import MockEmbedding

from llama_index.postprocessor.confguard import ConfguardEmbedding, LlamaIndexEmbedder
from llama_index.postprocessor.confguard.embeddings import (
    aembed_query,
    as_embedder,
)


def test_a_confguard_embedder_serves_llamaindex_queries_and_texts() -> None:
    fake = FakeEmbedder(dim=16, name="hash")
    model = ConfguardEmbedding(fake)
    assert model.model_name == "hash"
    assert model.get_query_embedding("red apple") == pytest.approx(
        fake.embed_query("red apple").tolist()
    )
    batch = model.get_text_embedding_batch(["red apple", "green pear"])
    assert np.asarray(batch) == pytest.approx(
        fake.embed_documents(["red apple", "green pear"])
    )


async def test_the_embedding_adapter_has_async_twins() -> None:
    fake = FakeEmbedder(dim=16)
    model = ConfguardEmbedding(fake)
    query = await model.aget_query_embedding("red apple")
    texts = await model.aget_text_embedding_batch(["red apple"])
    assert query == pytest.approx(fake.embed_query("red apple").tolist())
    assert texts[0] == pytest.approx(query)


async def test_embedders_without_async_methods_run_in_a_thread() -> None:
    table = TableEmbedder("t", {"q": [3.0, 4.0]})
    model = ConfguardEmbedding(table)
    assert await model.aget_query_embedding("q") == pytest.approx([3.0, 4.0])
    assert (await aembed_query(table, "q")).tolist() == pytest.approx([3.0, 4.0])


def test_a_llamaindex_model_becomes_a_unit_length_confguard_embedder() -> None:
    voter = LlamaIndexEmbedder(MockEmbedding(embed_dim=4), name="mock")
    assert isinstance(voter, Embedder)
    assert (voter.name, voter.dim) == ("mock", 4)
    assert voter.embed_query("x").tolist() == pytest.approx([0.5, 0.5, 0.5, 0.5])
    assert voter.embed_documents(["a", "b"]).shape == (2, 4)


async def test_a_llamaindex_voter_has_async_twins() -> None:
    voter = LlamaIndexEmbedder(MockEmbedding(embed_dim=4), dim=4)
    assert (await voter.aembed_query("x")).shape == (4,)
    assert (await voter.aembed_documents(["a"])).shape == (1, 4)


def test_as_embedder_unwraps_adapts_or_refuses() -> None:
    fake = FakeEmbedder(dim=8)
    assert as_embedder(fake) is fake
    assert as_embedder(ConfguardEmbedding(fake)) is fake
    assert isinstance(as_embedder(MockEmbedding(embed_dim=2)), LlamaIndexEmbedder)
    with pytest.raises(TypeError, match="neither a confguard Embedder"):
        as_embedder("minilm")  # type: ignore[arg-type]
