"""Each public module's `__all__` is exactly the public names it defines or imports."""

from __future__ import annotations
import __future__

import collections.abc
import importlib
import inspect
import typing
from types import ModuleType

import pytest

PUBLIC_MODULES = [
    "confguard",
    "confguard.embeddings",
    "confguard.evaluation",
    "confguard.exceptions",
    "confguard.llm",
    "confguard.logprobs",
    "confguard.observation",
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
]


def public_names(module: ModuleType) -> set[str]:
    """Names a user would import: not private, not modules, not typing helpers."""
    return {
        name
        for name, value in vars(module).items()
        if not name.startswith("_")
        and not inspect.ismodule(value)
        and not isinstance(value, __future__._Feature)
        and _defined_in_package(value, module)
    }


def _defined_in_package(value: object, module: ModuleType) -> bool:
    # Stdlib, typing and third-party names a module merely uses are not its API.
    name = getattr(value, "__name__", None)
    if isinstance(name, str) and any(
        getattr(helper, name, None) is value for helper in _HELPERS
    ):
        return False
    if inspect.isclass(value) or inspect.isroutine(value):
        origin = getattr(value, "__module__", "") or ""
        return origin.split(".")[0] == "confguard"
    return True


_HELPERS = (typing, collections.abc)


@pytest.mark.parametrize("name", PUBLIC_MODULES)
def test_all_lists_exactly_the_public_names(name: str) -> None:
    module = importlib.import_module(name)
    declared = getattr(module, "__all__", None)
    assert declared is not None, f"{name} has no __all__"
    assert len(declared) == len(set(declared)), f"{name}.__all__ repeats a name"
    assert set(declared) == public_names(module)


@pytest.mark.parametrize("name", PUBLIC_MODULES)
def test_every_name_in_all_exists(name: str) -> None:
    module = importlib.import_module(name)
    missing = [n for n in module.__all__ if not hasattr(module, n)]
    assert missing == []
