"""The package's `__all__` is exactly the public names it gathers from its modules."""

from __future__ import annotations

import importlib

import pytest

from confguard.testing.api import undeclared_names

PUBLIC_MODULES = [
    "langchain_confguard",
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
    assert [n for n in module.__all__ if not hasattr(module, n)] == []
