"""Each public module of confguard declares exactly its public names in `__all__`."""

from __future__ import annotations

import sys
import types

import pytest

from confguard.testing.api import check_all

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
    check_all(name)


def _fake_module(source: str) -> str:
    name = "confguard._fake_api_module"
    module = types.ModuleType(name)
    exec(source, module.__dict__)
    sys.modules[name] = module
    return name


@pytest.mark.parametrize(
    ("source", "complaint"),
    [
        ("def shown(): ...\n", "has no __all__"),
        ("def a(): ...\ndef b(): ...\n__all__ = ['a']\n", "not in __all__"),
        ("__all__ = ['ghost']\n", "names what it lacks"),
        ("import json\ndumps = json.dumps\n__all__ = ['dumps']\n", "not public"),
        ("X = 1\n__all__ = ['X', 'X']\n", "repeats a name"),
    ],
)
def test_the_check_names_each_kind_of_mismatch(source: str, complaint: str) -> None:
    name = _fake_module(source)
    try:
        with pytest.raises(AssertionError, match=complaint):
            check_all(name)
    finally:
        del sys.modules[name]
