"""What every subcommand of `confguard` is, and the parser they share."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass
from typing import NoReturn

from confguard.exceptions import ConfigurationError


@dataclass(frozen=True)
class Command:
    """One subcommand: its name, its one-line help, its options and what it runs."""

    name: str
    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]


class Parser(argparse.ArgumentParser):
    """An argument parser whose usage errors are one line, reported like any other."""

    def error(self, message: str) -> NoReturn:
        """Raise instead of printing the usage block and exiting."""
        raise ConfigurationError(f"{message} (see `{self.prog} --help`)")


__all__ = ["Command", "Parser"]
