"""One faiss index per embedding model, persisted with a manifest and rebuilt when stale."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from pydantic import BaseModel, ConfigDict

from confguard.exceptions import ConfigurationError, InputError, ModelNotAvailableError
from confguard.observation import Context
from confguard.rag.corpus import Passage, corpus_hash

if TYPE_CHECKING:
    from confguard.embeddings.base import Embedder

Progress = Callable[[int, int], None]
"""Called as progress(done, total) while passages are encoded."""


class IndexManifest(BaseModel):
    """What an index on disk was built from; any mismatch makes it stale."""

    model_config = ConfigDict(frozen=True)

    model: str
    dim: int
    corpus_hash: str
    count: int


class Hit(BaseModel):
    """One retrieved passage with its similarity and rank."""

    model_config = ConfigDict(frozen=True)

    passage: Passage
    score: float
    rank: int
    retriever: str

    def to_context(self) -> Context:
        return Context(
            text=self.passage.text,
            source=self.passage.id,
            score=self.score,
            retriever=self.retriever,
        )


def _faiss() -> Any:
    try:
        import faiss
    except ImportError as exc:
        raise ModelNotAvailableError("faiss", "faiss-cpu", str(exc)) from exc
    return faiss


class EmbeddingIndex:
    """Exact inner-product search over L2-normalised vectors of one embedder.

    Example:
        >>> index = EmbeddingIndex.build(embedder, demo_corpus(), cache_dir=".confguard")
        >>> [hit.passage.title for hit in index.search("Who won Super Bowl 50?", k=3)]
    """

    def __init__(self, embedder: Embedder, passages: Sequence[Passage], faiss_index: Any):
        if faiss_index.d != embedder.dim:
            raise ConfigurationError(
                f"index for {embedder.name!r} has dimension {faiss_index.d}, "
                f"but the embedder produces {embedder.dim}"
            )
        if faiss_index.ntotal != len(passages):
            raise ConfigurationError(
                f"index for {embedder.name!r} holds {faiss_index.ntotal} vectors "
                f"for {len(passages)} passages"
            )
        self.embedder = embedder
        self.passages = tuple(passages)
        self._index = faiss_index

    @classmethod
    def build(
        cls,
        embedder: Embedder,
        passages: Sequence[Passage],
        *,
        cache_dir: str | Path | None = None,
        batch_size: int = 32,
        progress: Progress | None = None,
    ) -> EmbeddingIndex:
        """Load the index from `cache_dir` if it is fresh, else encode and save it."""
        if not passages:
            raise InputError("cannot build an index over an empty corpus")
        manifest = IndexManifest(
            model=embedder.name,
            dim=embedder.dim,
            corpus_hash=corpus_hash(passages),
            count=len(passages),
        )
        folder = None if cache_dir is None else _folder(Path(cache_dir), embedder.name)
        if folder is not None and _is_fresh(folder, manifest):
            return cls(embedder, passages, _faiss().read_index(str(folder / "index.faiss")))
        vectors = _encode(embedder, passages, batch_size, progress)
        index = _faiss().IndexFlatIP(embedder.dim)
        index.add(vectors)
        if folder is not None:
            _save(folder, index, manifest)
        return cls(embedder, passages, index)

    def search(self, query: str, k: int = 3) -> list[Hit]:
        """The top-k passages for a query, most similar first."""
        vector = np.asarray(self.embedder.embed_query(query), dtype=np.float32)
        scores, ids = self._index.search(vector.reshape(1, -1), min(k, len(self.passages)))
        return [
            Hit(
                passage=self.passages[int(i)],
                score=float(s),
                rank=rank,
                retriever=self.embedder.name,
            )
            for rank, (s, i) in enumerate(zip(scores[0], ids[0], strict=True))
            if i >= 0
        ]


def _folder(cache_dir: Path, model: str) -> Path:
    safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in model)
    return cache_dir / "indices" / safe


def _is_fresh(folder: Path, manifest: IndexManifest) -> bool:
    path = folder / "manifest.json"
    if not path.exists() or not (folder / "index.faiss").exists():
        return False
    try:
        stored = IndexManifest.model_validate_json(path.read_text("utf-8"))
    except ValueError:
        return False  # a corrupt manifest means rebuild, never trust the index
    return stored == manifest


def _save(folder: Path, index: Any, manifest: IndexManifest) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    _faiss().write_index(index, str(folder / "index.faiss"))
    (folder / "manifest.json").write_text(
        json.dumps(manifest.model_dump(), indent=2), encoding="utf-8"
    )


def _encode(
    embedder: Embedder,
    passages: Sequence[Passage],
    batch_size: int,
    progress: Progress | None,
) -> np.ndarray:
    chunks = []
    for start in range(0, len(passages), batch_size):
        batch = [p.text for p in passages[start : start + batch_size]]
        chunks.append(np.asarray(embedder.embed_documents(batch), dtype=np.float32))
        if progress is not None:
            progress(min(start + batch_size, len(passages)), len(passages))
    vectors = np.ascontiguousarray(np.vstack(chunks))
    if vectors.shape[1] != embedder.dim:
        raise ConfigurationError(
            f"embedder {embedder.name!r} declares dim {embedder.dim} "
            f"but produced vectors of {vectors.shape[1]}"
        )
    return vectors
