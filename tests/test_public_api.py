"""Each public module's `__all__` is exactly the public names it defines or imports."""

from __future__ import annotations

import importlib

import pytest

from confguard.testing.api import undeclared_names

PUBLIC_MODULES = [
    "confguard",
    "confguard.defaults",
    "confguard.embeddings",
    "confguard.evaluation",
    "confguard.exceptions",
    "confguard.llm",
    "confguard.llm.plans",
    "confguard.logprobs",
    "confguard.observation",
    "confguard.paths",
    "confguard.policy",
    "confguard.prompts",
    "confguard.rag",
    "confguard.registry",
    "confguard.results",
    "confguard.routes",
    "confguard.scoring",
    "confguard.signals",
    "confguard.store",
    "confguard.strategies",
    "confguard.testing",
    "confguard.testing.api",
]


@pytest.mark.parametrize("name", PUBLIC_MODULES)
def test_all_lists_exactly_the_public_names(name: str) -> None:
    module = importlib.import_module(name)
    declared = getattr(module, "__all__", None)
    assert declared is not None, f"{name} has no __all__"
    assert len(declared) == len(set(declared)), f"{name}.__all__ repeats a name"
    assert undeclared_names(module) == (set(), set())


@pytest.mark.parametrize("name", PUBLIC_MODULES)
def test_every_name_in_all_exists(name: str) -> None:
    module = importlib.import_module(name)
    missing = [n for n in module.__all__ if not hasattr(module, n)]
    assert missing == []
