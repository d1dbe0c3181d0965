"""The distribution follows LlamaIndex's integration packaging (PEP 420 namespace)."""

from __future__ import annotations

from importlib.metadata import distribution
from pathlib import Path

import pytest

import llama_index.postprocessor.confguard as package

ROOT = Path(__file__).resolve().parents[1]


def test_the_namespace_levels_have_no_init_files() -> None:
    assert not (ROOT / "llama_index" / "__init__.py").exists()
    assert not (ROOT / "llama_index" / "postprocessor" / "__init__.py").exists()
    assert (ROOT / "llama_index" / "postprocessor" / "confguard" / "py.typed").exists()


def test_the_package_imports_from_the_namespace_beside_llama_index_core() -> None:
    import llama_index.core

    assert Path(package.__file__).parent == ROOT / "llama_index/postprocessor/confguard"
    assert "llama_index" in llama_index.core.__name__


def test_the_distribution_is_named_and_pinned_as_llamahub_expects() -> None:
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert project["project"]["name"] == "llama-index-postprocessor-confguard"
    assert "llama-index-core>=0.13,<0.15" in project["project"]["dependencies"]
    assert project["tool"]["llamahub"]["import_path"] == (
        "llama_index.postprocessor.confguard"
    )
    assert distribution("llama-index-postprocessor-confguard").version == "0.1.0"


def test_every_public_name_is_exported() -> None:
    for name in package.__all__:
        assert getattr(package, name) is not None
