"""The shipped presets: guard configs for the embedded defaults, found by name.

`fast`, `balanced` and `thorough` are YAML files inside the package
(`confguard/data/presets/`), written by `scripts/fit_presets.py`. Anywhere a config
path is read — `Guard.from_config`, `confguard config show|validate`, `confguard
demo --preset`, `confguard eval --preset` — a preset's name reads its file, unless
a file of that name exists in the working directory.

Example:
    >>> preset_path("balanced").name
    'balanced.yaml'
"""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

from confguard.exceptions import UnknownComponentError

PRESETS: tuple[str, ...] = ("fast", "balanced", "thorough")
"""The shipped presets, cheapest first."""


def preset_path(name: str) -> Path:
    """The file of the shipped preset `name`; unknown names are refused."""
    if name not in PRESETS:
        raise UnknownComponentError("preset", name, list(PRESETS))
    folder = resources.files("confguard.data").joinpath("presets")
    return Path(str(folder.joinpath(f"{name}.yaml")))


def config_source(path: str | os.PathLike[str]) -> Path:
    """The file a config argument names: a path, or a shipped preset's name."""
    given = Path(path)
    if str(path) in PRESETS and not given.exists():
        return preset_path(str(path))
    return given


__all__ = ["PRESETS", "config_source", "preset_path"]
