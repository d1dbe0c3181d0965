"""Where confguard keeps unpacked models: one cache folder shared by every loader."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    """Where unpacked models live: `$CONFGUARD_CACHE_DIR` or ~/.cache/confguard.

    Example:
        >>> cache_dir()
        PosixPath('/home/me/.cache/confguard')
    """
    root = os.environ.get("CONFGUARD_CACHE_DIR") or Path.home() / ".cache" / "confguard"
    path = Path(root).expanduser()
    path.mkdir(parents=True, exist_ok=True)
    return path


__all__ = ["cache_dir"]
