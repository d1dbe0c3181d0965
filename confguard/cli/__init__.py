"""The `confguard` command: one parser, one console, one module per subcommand.

Every subcommand module (`demo`, `review`, `evaluate`, `calibrate`) gives a
`Command`; this module builds the parser from them and reports every error as one
line with exit code 2.

Example:
    $ confguard demo
    $ confguard review list
    $ confguard eval --dataset squad:path/to/squad.json --limit 200 --out ev
    $ confguard calibrate --samples ev --target-risk 0.1 --delta 0.05
    $ confguard deliver --store sqlite:///audit.sqlite --webhook oncall=URL --once
    $ confguard store replay --store sqlite:///audit.sqlite
    $ confguard config validate examples/guard.yaml
"""

from __future__ import annotations

from collections.abc import Sequence

from confguard.cli import (
    calibrate,
    config,
    db,
    deliver,
    demo,
    evaluate,
    review,
    serve,
    store,
)
from confguard.cli.command import Command, Parser
from confguard.cli.output import error
from confguard.exceptions import ConfguardError

COMMANDS: tuple[Command, ...] = (
    demo.COMMAND,
    review.COMMAND,
    evaluate.COMMAND,
    calibrate.COMMAND,
    db.COMMAND,
    deliver.COMMAND,
    store.COMMAND,
    config.COMMAND,
    serve.COMMAND,
    serve.USERS_COMMAND,
)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `confguard` command; returns the exit code.

    Example:
        >>> main(["review", "list", "--store", "sqlite:///audit.sqlite"])
        0
    """
    try:
        args = parser().parse_args(argv)
        code: int = args.run(args)
    except ConfguardError as exc:
        return error(exc)
    except OSError as exc:  # a path the checks could not foresee (a full disk, …)
        return error(exc)
    except SystemExit as exc:  # --help has printed the help
        return exc.code if isinstance(exc.code, int) else 0
    return code


def parser() -> Parser:
    """The `confguard` parser, one subcommand per entry of `COMMANDS`."""
    names = " | ".join(c.name for c in COMMANDS)
    root = Parser(prog="confguard", description=f"The `confguard` command: {names}.")
    sub = root.add_subparsers(required=True, metavar="COMMAND")
    for command in COMMANDS:
        p = sub.add_parser(command.name, help=command.help)
        command.add_arguments(p)
        p.set_defaults(run=command.run)
    return root


__all__ = ["COMMANDS", "main", "parser"]
