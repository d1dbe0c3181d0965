"""The one console of the `confguard` command, and its one progress helper."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console, RenderableType
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

Advance = Callable[[str, int, int | None], None]
"""Called as advance(stage, done, total); a total of None spins until it is known."""

# Piped output has no terminal width; tables need room for their columns. No emoji:
# a spec like `mymodule:guard:` must print as written, not as a guard's face.
console = Console(width=None if sys.stdout.isatty() else 160, emoji=False)


def say(message: str) -> None:
    """Print a message whole, never wrapped, so logs and tests see it on one line."""
    console.print(message, soft_wrap=True)


def show(renderable: RenderableType) -> None:
    """Print a table or another rich renderable at the console's width."""
    console.print(renderable)


def error(message: object) -> int:
    """Report an error as one line; the command's exit code, 2."""
    # A message from a driver or a parser may span lines; the report must not.
    one_line = " ".join(part.strip() for part in str(message).splitlines())
    say(f"[bold red]error:[/] {escape(one_line.strip())}")
    return 2


@contextmanager
def progress_bars(*, transient: bool = False) -> Iterator[Advance]:
    """An `advance(stage, done, total)` callback drawing one bar per stage, with ETA.

    Example:
        >>> with progress_bars() as advance:
        ...     advance("indexing", 10, 100)
    """
    bars = Progress(
        SpinnerColumn(),
        TextColumn("{task.description:<11}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
        console=console,
        transient=transient,
    )
    tasks: dict[str, TaskID] = {}

    def advance(stage: str, done: int, total: int | None) -> None:
        if stage not in tasks:
            tasks[stage] = bars.add_task(stage, total=total)
        bars.update(tasks[stage], completed=done, total=total)

    with bars:
        yield advance


__all__ = ["Advance", "console", "error", "progress_bars", "say", "show"]
