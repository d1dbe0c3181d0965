"""Fixtures for the LlamaIndex integration (helpers live in li_fakes.py)."""

from __future__ import annotations

import pytest
from confguard.testing import FakeEmbedder
from li_fakes import PASSAGES, node
from llama_index.core import VectorStoreIndex
from llama_index.core.schema import NodeWithScore, TextNode

from llama_index.postprocessor.confguard import ConfguardEmbedding
from llama_index.postprocessor.confguard.testing import LogprobMockLLM


@pytest.fixture
def broncos_nodes() -> list[NodeWithScore]:
    """Three retrieved nodes, the first of which answers the Super Bowl question."""
    return [node(k, v, 0.9 - 0.1 * i) for i, (k, v) in enumerate(PASSAGES.items())]


@pytest.fixture
def confident_llm() -> LogprobMockLLM:
    """An LLM answering "Denver Broncos" with token probability exp(-0.01)."""
    return LogprobMockLLM(["Denver Broncos"], logprobs=-0.01)


@pytest.fixture
def hash_index() -> VectorStoreIndex:
    """An in-memory vector index over PASSAGES with hashing bag-of-words vectors."""
    nodes = [TextNode(id_=k, text=v) for k, v in PASSAGES.items()]
    embed_model = ConfguardEmbedding(FakeEmbedder(dim=256, name="hash"))
    return VectorStoreIndex(nodes, embed_model=embed_model)
