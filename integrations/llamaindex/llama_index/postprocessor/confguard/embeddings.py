"""Embedding adapters both ways: confguard's local embedders in LlamaIndex, and back."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import numpy as np
from confguard.embeddings.base import Embedder, Vectors, normalise
from llama_index.core.base.embeddings.base import BaseEmbedding, Embedding
from pydantic import PrivateAttr


class ConfguardEmbedding(BaseEmbedding):
    """A LlamaIndex embedding model over a confguard `Embedder` (e.g. the local MiniLM).

    Queries and documents go through the embedder's own query and document
    encoders (E5 adds its "query: " / "passage: " prefixes).

    Example:
        >>> from confguard.embeddings import MiniLMEmbedder
        >>> embed_model = ConfguardEmbedding(MiniLMEmbedder())
        >>> index = VectorStoreIndex(nodes, embed_model=embed_model)
    """

    _embedder: Embedder = PrivateAttr()

    def __init__(self, embedder: Embedder, **kwargs: Any) -> None:
        kwargs.setdefault("model_name", embedder.name)
        kwargs.setdefault("embed_batch_size", 32)
        super().__init__(**kwargs)
        self._embedder = embedder

    @classmethod
    def class_name(cls) -> str:
        """The name LlamaIndex shows for this model."""
        return "ConfguardEmbedding"

    @property
    def embedder(self) -> Embedder:
        """The confguard embedder underneath."""
        return self._embedder

    def _get_query_embedding(self, query: str) -> Embedding:
        return _row(self._embedder.embed_query(query))

    async def _aget_query_embedding(self, query: str) -> Embedding:
        return _row(await aembed_query(self._embedder, query))

    def _get_text_embedding(self, text: str) -> Embedding:
        return _row(self._embedder.embed_documents([text])[0])

    async def _aget_text_embedding(self, text: str) -> Embedding:
        return _row((await aembed_documents(self._embedder, [text]))[0])

    def _get_text_embeddings(self, texts: list[str]) -> list[Embedding]:
        return [_row(v) for v in self._embedder.embed_documents(texts)]

    async def _aget_text_embeddings(self, texts: list[str]) -> list[Embedding]:
        return [_row(v) for v in await aembed_documents(self._embedder, texts)]


def _row(vector: Vectors) -> Embedding:
    return [float(x) for x in np.asarray(vector, dtype=np.float32).reshape(-1)]


async def aembed_query(embedder: Embedder, text: str) -> Vectors:
    """The embedder's `aembed_query` if it has one, else `embed_query` in a thread."""
    method = getattr(embedder, "aembed_query", None)
    if method is not None:
        return np.asarray(await method(text), dtype=np.float32)
    return await asyncio.to_thread(embedder.embed_query, text)


async def aembed_documents(embedder: Embedder, texts: Sequence[str]) -> Vectors:
    """The embedder's `aembed_documents` if it has one, else a worker thread."""
    method = getattr(embedder, "aembed_documents", None)
    if method is not None:
        return np.asarray(await method(texts), dtype=np.float32)
    return await asyncio.to_thread(embedder.embed_documents, texts)


class LlamaIndexEmbedder:
    """A LlamaIndex embedding model as a confguard `Embedder` (unit-length rows).

    Without `dim`, one probe query is embedded at construction to learn it.

    Example:
        >>> voter = LlamaIndexEmbedder(OpenAIEmbedding(), name="openai", dim=1536)
        >>> voter.embed_query("Who won Super Bowl 50?").shape
        (1536,)
    """

    def __init__(
        self, model: BaseEmbedding, *, name: str | None = None, dim: int | None = None
    ) -> None:
        self.model = model
        self.name = name or model.model_name
        self.dim = dim or len(model.get_query_embedding("dimension probe"))

    def embed_documents(self, texts: Sequence[str]) -> Vectors:
        """Embed passages, one unit-length row each."""
        return normalise(self.model.get_text_embedding_batch(list(texts)))

    def embed_query(self, text: str) -> Vectors:
        """Embed one query as a unit-length (dim,) vector."""
        vector: Vectors = normalise([self.model.get_query_embedding(text)])[0]
        return vector

    async def aembed_documents(self, texts: Sequence[str]) -> Vectors:
        """Async twin of `embed_documents`."""
        return normalise(await self.model.aget_text_embedding_batch(list(texts)))

    async def aembed_query(self, text: str) -> Vectors:
        """Async twin of `embed_query`."""
        vector: Vectors = normalise([await self.model.aget_query_embedding(text)])[0]
        return vector


def as_embedder(model: Embedder | BaseEmbedding) -> Embedder:
    """A confguard embedder, adapting a LlamaIndex model if that is what was given."""
    if isinstance(model, BaseEmbedding):
        if isinstance(model, ConfguardEmbedding):
            return model.embedder
        return LlamaIndexEmbedder(model)
    if isinstance(model, Embedder):
        return model
    raise TypeError(
        f"{type(model).__name__} is neither a confguard Embedder nor a LlamaIndex "
        "BaseEmbedding"
    )


__all__ = [
    "ConfguardEmbedding",
    "LlamaIndexEmbedder",
    "aembed_documents",
    "aembed_query",
    "as_embedder",
]
