"""Test helpers for the LlamaIndex integration: table embedders, nodes, engines."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
from confguard.embeddings.base import Vectors
from llama_index.core.base.response.schema import Response
from llama_index.core.llms import LLM
from llama_index.core.query_engine import CustomQueryEngine
from llama_index.core.schema import NodeWithScore, TextNode
from pydantic import Field

PASSAGES = {
    "broncos": "The Denver Broncos defeated the Carolina Panthers in Super Bowl 50.",
    "warsaw": "Warsaw is the capital and largest city of Poland.",
    "paris": "Paris is the capital of France and lies on the Seine.",
}


class TableEmbedder:
    """An Embedder whose vectors are looked up in a table (unknown texts: error)."""

    def __init__(self, name: str, table: Mapping[str, Sequence[float]]) -> None:
        self.name = name
        self.table = {k: np.asarray(v, dtype=np.float32) for k, v in table.items()}
        self.dim = len(next(iter(self.table.values())))
        self.documents_seen: list[str] = []

    def embed_documents(self, texts: Sequence[str]) -> Vectors:
        self.documents_seen.extend(texts)
        return np.stack([self.table[t] for t in texts])

    def embed_query(self, text: str) -> Vectors:
        return self.table[text]


def node(node_id: str, text: str, score: float | None = 0.5) -> NodeWithScore:
    """A retrieved text node."""
    return NodeWithScore(node=TextNode(id_=node_id, text=text), score=score)


class ScriptedEngine(CustomQueryEngine):
    """Calls `llm` with the question and answers with its text and `nodes`.

    `answer` (a function of the LLM text) can replace the answer, e.g. by "".
    """

    llm: LLM
    nodes: list[NodeWithScore] = Field(default_factory=list)
    answer: Callable[[str], str] | None = None
    metadata: dict[str, Any] = Field(default_factory=lambda: {"engine": "scripted"})
    calls: list[str] = Field(default_factory=list)

    def custom_query(self, query_str: str) -> Response:
        self.calls.append(query_str)
        text = self.llm.complete(query_str).text
        return self._response(text)

    async def acustom_query(self, query_str: str) -> Response:
        self.calls.append(query_str)
        text = (await self.llm.acomplete(query_str)).text
        return self._response(text)

    def _response(self, text: str) -> Response:
        answer = self.answer(text) if self.answer else text
        return Response(answer, list(self.nodes), dict(self.metadata))
