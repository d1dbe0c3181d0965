"""EmbeddingIndex: cosine search, persistence with a manifest, staleness, bad input."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np
import pytest

from confguard.exceptions import ConfigurationError, InputError
from confguard.rag import EmbeddingIndex, Passage, index_folder
from confguard.rag.index import FORMAT_VERSION


class TableEmbedder:
    """Looks every text up in a table of (unnormalised) vectors; counts encodes."""

    def __init__(
        self, table: Mapping[str, Sequence[float]], name: str = "table", dim: int = 2
    ) -> None:
        self.table = {k: list(v) for k, v in table.items()}
        self.name = name
        self.dim = dim
        self.documents_encoded = 0

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        self.documents_encoded += len(texts)
        return np.array([self.table[t] for t in texts], dtype=np.float32)

    def embed_query(self, text: str) -> np.ndarray:
        return np.array(self.table[text], dtype=np.float32)


PASSAGES = (
    Passage(id="east", text="east"),
    Passage(id="north", text="north"),
    Passage(id="diag", text="diag"),
)
TABLE = {
    "east": [2.0, 0.0],
    "north": [0.0, 5.0],
    "diag": [3.0, 3.0],
    "q-east": [10.0, 0.0],
    "q-mostly-north": [1.0, 3.0],
}


def build(
    tmp_path: Path | None = None,
    *,
    embedder: TableEmbedder | None = None,
    passages: Sequence[Passage] = PASSAGES,
    batch_size: int = 32,
    progress: Callable[[int, int], None] | None = None,
) -> EmbeddingIndex:
    return EmbeddingIndex.build(
        embedder or TableEmbedder(TABLE),
        passages,
        cache_dir=tmp_path,
        batch_size=batch_size,
        progress=progress,
    )


def test_search_ranks_by_cosine_whatever_the_vector_lengths() -> None:
    hits = build().search("q-east", k=3)
    assert [h.passage.id for h in hits] == ["east", "diag", "north"]
    assert [h.rank for h in hits] == [0, 1, 2]
    assert [h.score for h in hits] == pytest.approx([1.0, 2**-0.5, 0.0], abs=1e-6)
    assert {h.retriever for h in hits} == {"table"}


def test_hits_become_contexts_tagged_with_their_retriever() -> None:
    [hit] = build().search("q-mostly-north", k=1)
    context = hit.to_context()
    assert (context.source, context.retriever) == ("north", "table")
    assert context.score == pytest.approx(3 / 10**0.5, abs=1e-6)


def test_k_larger_than_the_corpus_returns_every_passage() -> None:
    assert len(build().search("q-east", k=10)) == 3


def test_k_below_one_and_empty_queries_are_input_errors() -> None:
    index = build()
    with pytest.raises(InputError, match="k must be >= 1"):
        index.search("q-east", k=0)
    with pytest.raises(InputError, match="empty query"):
        index.search("   ", k=1)


def test_similarity_stats_are_the_mean_and_std_over_the_whole_corpus() -> None:
    index = build()
    stats = index.similarity_stats(index.embed_query("q-east"))
    cosines = np.array([1.0, 0.0, 2**-0.5])  # east, north, diag
    assert stats.mean == pytest.approx(cosines.mean(), abs=1e-6)
    assert stats.std == pytest.approx(cosines.std(), abs=1e-6)


def test_an_empty_corpus_or_a_blank_passage_cannot_be_indexed() -> None:
    with pytest.raises(InputError, match="empty corpus"):
        build(passages=())
    blank = (*PASSAGES, Passage(id="blank", text="  "))
    with pytest.raises(InputError, match="blank"):
        build(passages=blank)


def test_an_embedder_returning_the_wrong_width_is_a_configuration_error() -> None:
    liar = TableEmbedder(TABLE, dim=3)
    with pytest.raises(ConfigurationError, match=r"declares dim 3 .* shape \(3, 2\)"):
        build(embedder=liar)


def test_a_zero_vector_is_an_error_not_a_nan_in_the_index() -> None:
    zero = TableEmbedder({**TABLE, "north": [0.0, 0.0]})
    with pytest.raises(InputError, match=r"zero or non-finite vectors \(rows \[1\]\)"):
        build(embedder=zero)


def test_progress_is_reported_after_every_batch() -> None:
    calls: list[tuple[int, int]] = []
    build(batch_size=2, progress=lambda done, total: calls.append((done, total)))
    assert calls == [(2, 3), (3, 3)]


def test_build_saves_the_index_with_a_manifest(tmp_path: Path) -> None:
    index = build(tmp_path)
    folder = index_folder(tmp_path, "table")
    manifest = json.loads((folder / "manifest.json").read_text())
    assert not index.from_cache
    assert (folder / "index.faiss").exists()
    assert manifest["model"] == "table"
    assert (manifest["dim"], manifest["count"]) == (2, 3)
    assert manifest["version"] == FORMAT_VERSION


def test_a_fresh_index_is_loaded_without_encoding_again(tmp_path: Path) -> None:
    build(tmp_path)
    embedder = TableEmbedder(TABLE)
    index = build(tmp_path, embedder=embedder)
    assert index.from_cache
    assert embedder.documents_encoded == 0
    assert [h.passage.id for h in index.search("q-east", k=1)] == ["east"]


def test_a_changed_corpus_makes_the_index_stale(tmp_path: Path) -> None:
    build(tmp_path)
    table = {**TABLE, "north, revised": [0.0, 1.0]}
    passages = (PASSAGES[0], Passage(id="north", text="north, revised"), PASSAGES[2])
    embedder = TableEmbedder(table)
    index = build(tmp_path, embedder=embedder, passages=passages)
    assert not index.from_cache
    assert embedder.documents_encoded == 3
    assert index.search("q-mostly-north", k=1)[0].passage.text == "north, revised"


@pytest.mark.parametrize(
    "damage",
    [
        pytest.param('{"model": "table"', id="corrupt-manifest"),
        pytest.param("old-version", id="index-from-an-older-format"),
        pytest.param("wrong-count", id="manifest-outlived-its-index"),
    ],
)
def test_a_damaged_or_outdated_cache_is_rebuilt(tmp_path: Path, damage: str) -> None:
    build(tmp_path)
    path = index_folder(tmp_path, "table") / "manifest.json"
    manifest = json.loads(path.read_text())
    if damage == "old-version":
        del manifest["version"]
        path.write_text(json.dumps(manifest))
    elif damage == "wrong-count":
        smaller = TableEmbedder(TABLE)
        EmbeddingIndex.build(smaller, PASSAGES[:2], cache_dir=tmp_path)
        path.write_text(json.dumps(manifest))  # manifest of 3, index file of 2
    else:
        path.write_text(damage)
    embedder = TableEmbedder(TABLE)
    assert not build(tmp_path, embedder=embedder).from_cache
    assert embedder.documents_encoded == 3


def test_a_same_named_embedder_of_another_dimension_is_refused(tmp_path: Path) -> None:
    build(tmp_path)
    wider = TableEmbedder({k: [*v, 0.0] for k, v in TABLE.items()}, dim=3)
    with pytest.raises(ConfigurationError, match=r"dimension 2.* now produces 3"):
        build(tmp_path, embedder=wider)


def test_each_embedder_gets_its_own_folder(tmp_path: Path) -> None:
    build(tmp_path)
    other = build(tmp_path, embedder=TableEmbedder(TABLE, name="other/model"))
    assert not other.from_cache
    assert index_folder(tmp_path, "other/model").name == "other_model"
    assert (index_folder(tmp_path, "table") / "index.faiss").exists()
