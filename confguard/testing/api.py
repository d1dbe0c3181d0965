"""Check a module's `__all__` against the names it really makes public."""

from __future__ import annotations
import __future__

import collections.abc
import importlib
import inspect
import typing
from types import ModuleType


def public_names(module: ModuleType) -> set[str]:
    """Names a user would import: not private, not modules, not typing helpers.

    A package's API is what it gathers from its modules; a plain module's is what
    it defines itself (names it imports to use are not re-exports). Names served
    lazily by a module `__getattr__` count when they resolve.
    """
    names = {
        name
        for name, value in vars(module).items()
        if not name.startswith("_")
        and not inspect.ismodule(value)
        and not isinstance(value, __future__._Feature)
        and not any(getattr(h, name, _MISSING) is value for h in _HELPERS)
        and _belongs_to(value, module)
    }
    if hasattr(module, "__getattr__"):
        names |= {n for n in getattr(module, "__all__", ()) if hasattr(module, n)}
    return names


def _belongs_to(value: object, module: ModuleType) -> bool:
    if not (inspect.isclass(value) or inspect.isroutine(value)):
        return True  # constants and type aliases: bound right here
    origin = getattr(value, "__module__", "") or ""
    if hasattr(module, "__path__"):  # a package re-exports its modules' names
        return origin.startswith(module.__name__ + ".") or origin == module.__name__
    return origin == module.__name__


_MISSING = object()
_HELPERS = (typing, collections.abc)


def _is_confguard(value: object) -> bool:
    origin = getattr(value, "__module__", "") or ""
    return isinstance(origin, str) and origin.split(".")[0] in _PACKAGES


_PACKAGES = ("confguard", "langchain_confguard", "llama_index")


def undeclared_names(module: ModuleType) -> tuple[set[str], set[str]]:
    """(public names missing from `__all__`, names in `__all__` that are not public).

    A module may also list names it re-exports from elsewhere in confguard.

    Example:
        >>> undeclared_names(confguard.signals)
        (set(), set())
    """
    declared = set(getattr(module, "__all__", ()))
    public = public_names(module)
    reexported = {n for n in declared if _is_confguard(getattr(module, n, None))}
    return public - declared, declared - public - reexported


def check_all(name: str) -> None:
    """Assert that module `name` has an `__all__` listing exactly its public names.

    Example:
        >>> check_all("confguard.signals")   # raises AssertionError saying what differs
    """
    module = importlib.import_module(name)
    declared = getattr(module, "__all__", None)
    assert declared is not None, f"{name} has no __all__"
    assert len(declared) == len(set(declared)), f"{name}.__all__ repeats a name"
    missing = [n for n in declared if not hasattr(module, n)]
    assert not missing, f"{name}.__all__ names what it lacks: {missing}"
    unlisted, stray = undeclared_names(module)
    assert not unlisted, f"{name}: public but not in __all__: {sorted(unlisted)}"
    assert not stray, f"{name}: in __all__ but not public: {sorted(stray)}"


__all__ = ["check_all", "public_names", "undeclared_names"]
