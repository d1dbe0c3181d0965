"""The Embedder protocol, and a base class that batches, normalises and locks."""

from __future__ import annotations

import asyncio
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from typing import Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

Vectors = npt.NDArray[np.float32]
ProgressCallback = Callable[[int, int], None]
"""Called as `progress(done, total)` after each batch of documents."""


@runtime_checkable
class Embedder(Protocol):
    """Texts in, L2-normalised float32 vectors out (queries and documents differ).

    Kept to the four members every embedder has; `BaseEmbedder` adds batching,
    progress and the async twins `aembed_documents` / `aembed_query`.

    Example:
        >>> doc_vectors = embedder.embed_documents(["Paris is in France."])  # (1, dim)
        >>> scores = doc_vectors @ embedder.embed_query("Where is Paris?")
    """

    name: str
    dim: int

    def embed_documents(self, texts: Sequence[str]) -> Vectors: ...

    def embed_query(self, text: str) -> Vectors: ...


def normalise(vectors: npt.ArrayLike) -> Vectors:
    """Rows scaled to unit L2 norm, as float32 (all-zero rows stay zero).

    Example:
        >>> normalise([[3.0, 4.0]])
        array([[0.6, 0.8]], dtype=float32)
    """
    array = np.atleast_2d(np.asarray(vectors, dtype=np.float32))
    norms = np.linalg.norm(array, axis=1, keepdims=True)
    return (array / np.where(norms > 0, norms, 1.0)).astype(np.float32)


class BaseEmbedder(ABC):
    """Batching, normalisation, a lock and async twins around two encode hooks.

    Subclasses set `name` and `dim` and implement `_encode_documents` and
    `_encode_queries` (one batch of texts in, one row per text out).
    """

    name: str
    dim: int

    def __init__(self, *, batch_size: int = 32) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.batch_size = batch_size
        self._lock = threading.Lock()  # the native encoders are not re-entrant

    def embed_documents(
        self, texts: Sequence[str], *, progress: ProgressCallback | None = None
    ) -> Vectors:
        """Embed passages in `batch_size` batches, calling `progress(done, total)`.

        Example:
            >>> embedder.embed_documents(["a", "b"], progress=print).shape
            2 2
            (2, 384)
        """
        texts = _as_texts(texts)
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for start in range(0, len(texts), self.batch_size):
            batch = texts[start : start + self.batch_size]
            out[start : start + len(batch)] = self._encode(
                self._encode_documents, batch
            )
            if progress is not None:
                progress(start + len(batch), len(texts))
        return out

    def embed_query(self, text: str) -> Vectors:
        """Embed one search query as a (dim,) vector.

        Example:
            >>> embedder.embed_query("Where is Paris?").shape
            (384,)
        """
        if not isinstance(text, str):
            raise TypeError(f"embed_query takes one str, got {type(text).__name__}")
        rows = self._encode(self._encode_queries, [text])
        return rows.reshape(self.dim)

    async def aembed_documents(
        self, texts: Sequence[str], *, progress: ProgressCallback | None = None
    ) -> Vectors:
        """`embed_documents` in a worker thread."""
        return await asyncio.to_thread(self.embed_documents, texts, progress=progress)

    async def aembed_query(self, text: str) -> Vectors:
        """`embed_query` in a worker thread."""
        return await asyncio.to_thread(self.embed_query, text)

    def _encode(
        self, encode: Callable[[list[str]], Vectors], texts: list[str]
    ) -> Vectors:
        with self._lock:
            rows = normalise(encode(texts))
        if rows.shape != (len(texts), self.dim):
            raise ValueError(
                f"{self.name} returned vectors of shape {rows.shape}, "
                f"expected {(len(texts), self.dim)}"
            )
        return rows

    @abstractmethod
    def _encode_documents(self, texts: list[str]) -> Vectors:
        """One batch of passages, one row each (need not be normalised)."""

    @abstractmethod
    def _encode_queries(self, texts: list[str]) -> Vectors:
        """One batch of queries, one row each (need not be normalised)."""


def _as_texts(texts: Sequence[str]) -> list[str]:
    if isinstance(texts, str):
        raise TypeError("embed_documents takes a sequence of texts, not one string")
    texts = list(texts)
    bad = [type(t).__name__ for t in texts if not isinstance(t, str)]
    if bad:
        raise TypeError(f"texts must all be str; got {', '.join(sorted(set(bad)))}")
    return texts
