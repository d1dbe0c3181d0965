"""Where confguard keeps files: unpacked models (a cache) and state (the spool)."""

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


def state_dir() -> Path:
    """Where confguard keeps local state that must survive restarts (the spool):
    `$CONFGUARD_STATE_DIR`, else `$XDG_STATE_HOME/confguard`, else
    ~/.local/state/confguard. Created on first use by whoever writes there.

    Example:
        >>> state_dir()
        PosixPath('/home/me/.local/state/confguard')
    """
    root = os.environ.get("CONFGUARD_STATE_DIR")
    if not root:
        xdg = os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state"
        root = str(Path(xdg) / "confguard")
    return Path(root).expanduser()


def read_text(path: Path, what: str, error: type[Exception]) -> str:
    """The UTF-8 text of the file `path`, or `error` saying why not, naming it as
    `what` (e.g. "policy file"): missing, not UTF-8, or unreadable.

    Example:
        >>> read_text(Path("guard.yaml"), "config file", ConfigurationError)
    """
    if not path.is_file():
        raise error(f"{what} not found: {path}")
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise error(f"{what} {path} is not UTF-8 text (byte {exc.start})") from None
    except OSError as exc:
        raise error(f"{what} {path} cannot be read: {exc}") from None


__all__ = ["cache_dir", "read_text", "state_dir"]
