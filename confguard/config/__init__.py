"""Guard configs in YAML: one file declares a guard's signals, policy, routes, store.

`load` reads and validates a file, `build` makes the components through the one
registry (`confguard.registry`), `resolved` is the view `confguard config show`
prints. `Guard.from_config(path)` and `AsyncGuard.from_config(path)` use `parts`.

Example:
    >>> from confguard import Guard
    >>> guard = Guard.from_config("examples/guard.yaml")
"""

from __future__ import annotations

import os
from typing import Any

from confguard.config.build import MEMORY_URL, GuardParts, build
from confguard.config.load import LoadedConfig, field_name, load
from confguard.config.model import FIELDS, Component, GuardConfig, StoreSection
from confguard.config.resolve import MASK, resolved


def parts(path: str | os.PathLike[str], **resources: Any) -> GuardParts:
    """Load the config at `path` and build its parts (what the guards are made of).

    Example:
        >>> parts("examples/guard.yaml").policy.thresholds.accept
        0.8
    """
    return build(load(path), **resources)


__all__ = [
    "FIELDS",
    "MASK",
    "MEMORY_URL",
    "Component",
    "GuardConfig",
    "GuardParts",
    "LoadedConfig",
    "StoreSection",
    "build",
    "field_name",
    "load",
    "parts",
    "resolved",
]
