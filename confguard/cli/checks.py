"""Checks of the command line made before any work starts, each naming its option.

The number types are given to argparse (``type=at_least(1)``), so a bad value is a
usage error of one line; the path checks run first thing in a command, so a typo in
``--out`` is reported before an hour of evaluation rather than after it.
"""

from __future__ import annotations

import argparse
import math
import os
from collections.abc import Callable
from pathlib import Path

from confguard.exceptions import ConfigurationError


def at_least(minimum: int) -> Callable[[str], int]:
    """An argparse type: a whole number >= `minimum`.

    Example:
        >>> at_least(1)("3")
        3
    """

    def whole_number(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected a whole number, got {text!r}"
            ) from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be >= {minimum}, got {value}")
        return value

    return whole_number


def fraction(*, zero: bool = False, one: bool = False) -> Callable[[str], float]:
    """An argparse type: a number in (0, 1), with 0 or 1 included as asked.

    Example:
        >>> fraction(one=True)("1")
        1.0
    """
    interval = f"{'[' if zero else '('}0, 1{']' if one else ')'}"

    def number(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected a number, got {text!r}"
            ) from None
        low = value >= 0.0 if zero else value > 0.0
        high = value <= 1.0 if one else value < 1.0
        if not (math.isfinite(value) and low and high):
            raise argparse.ArgumentTypeError(f"must be in {interval}, got {text}")
        return value

    return number


def output_file(path: Path, option: str) -> None:
    """Refuse `path` as a file to write unless its folder exists and is writable."""
    if path.is_dir():
        raise ConfigurationError(f"{option} {path}: is a folder, not a file")
    _writable_folder(path.parent, option, path)


def output_folder(path: Path, option: str) -> None:
    """Refuse `path` as a folder to write into unless it (or its parent) can be."""
    if path.exists() and not path.is_dir():
        raise ConfigurationError(f"{option} {path}: is a file, not a folder")
    _writable_folder(path if path.exists() else path.parent, option, path)


def _writable_folder(folder: Path, option: str, path: Path) -> None:
    folder = folder if str(folder) else Path(".")
    if not folder.is_dir():
        raise ConfigurationError(
            f"{option} {path}: the folder {folder} does not exist (create it first)"
        )
    if not os.access(folder, os.W_OK | os.X_OK):
        raise ConfigurationError(f"{option} {path}: the folder {folder} is read-only")


def add_create_option(p: argparse.ArgumentParser) -> None:
    """`--create`: the flag that lets `--store` name a SQLite file not there yet."""
    p.add_argument(
        "--create",
        action="store_true",
        help="create the --store database if it does not exist (SQLite)",
    )


def existing_store(url: str, *, create: bool) -> str:
    """`url`, refused if it names a SQLite file that is not there and not `create`.

    A mistyped path would otherwise open a new, empty audit store without a word.

    Example:
        >>> existing_store("sqlite:///new.sqlite", create=True)
        'sqlite:///new.sqlite'
    """
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url)
    except ArgumentError:
        return url  # the store itself says why (and masks any password)
    database = parsed.database or ""
    if create or parsed.get_backend_name() != "sqlite":
        return url
    if database in ("", ":memory:") or database.startswith("file:"):
        return url
    if not Path(database).expanduser().is_file():
        raise ConfigurationError(
            f"--store: no audit store at {database} (a new one is created only "
            "with --create)"
        )
    return url


__all__ = [
    "add_create_option",
    "at_least",
    "existing_store",
    "fraction",
    "output_file",
    "output_folder",
]
