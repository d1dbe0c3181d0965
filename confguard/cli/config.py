"""`confguard config validate|show FILE|PRESET`: check a config, or print it resolved.

Example:
    $ confguard config show balanced        # the shipped preset, resolved
"""

from __future__ import annotations

import argparse

import yaml

from confguard.cli.command import Command
from confguard.cli.output import console, say
from confguard.config import (
    GuardParts,
    LoadedConfig,
    StoreSection,
    build,
    load,
    resolved,
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The action and the config to read."""
    p.add_argument(
        "action",
        choices=["validate", "show"],
        help="validate: build every part (no store is opened) and print one line; "
        "show: print the config resolved (defaults filled in, secrets masked)",
    )
    p.add_argument(
        "source",
        metavar="FILE|PRESET",
        help="a guard config file (YAML, see examples/guard.yaml) or a shipped "
        "preset: fast, balanced, thorough (see docs/presets.md)",
    )


def run(args: argparse.Namespace) -> int:
    """Validate (exit 0 with a summary, 2 with the error) or show the config.

    Example:
        $ confguard config validate examples/guard.yaml
        examples/guard.yaml: ok: 4 signals (min_token_prob, ...), combiner weighted, ...
    """
    loaded = load(args.source)
    parts = build(loaded, dry_run=True)
    if args.action == "validate":
        say(_summary(loaded.source, parts, loaded.config.store))
    else:
        _show(loaded)
    return 0


def _summary(source: str, parts: GuardParts, store: StoreSection | None) -> str:
    names = ", ".join(s.name for s in parts.signals)
    combiner = getattr(parts.options.get("combiner"), "name", None)
    fitted = parts.policy.combiner
    carried = fitted if isinstance(fitted, str) else f"{fitted.name} (fitted)"
    routes = list(parts.options["routes"])
    listed = f"{_count(len(routes), 'route')} ({', '.join(routes)})" if routes else ""
    backend = store.url.partition(":")[0] if store is not None else "none"
    needs = f"; needs {', '.join(parts.needs)}" if parts.needs else ""
    strata = [s.label for s in parts.policy.strata]
    banded = (
        f"{_count(len(strata), 'stratum')} ({', '.join(strata)}), " if strata else ""
    )
    return (
        f"{source}: ok: {_count(len(parts.signals), 'signal')} ({names}), combiner "
        f"{combiner or carried}, {banded}{listed or 'no routes'}, "
        f"store {backend}{needs}"
    )


def _count(n: int, noun: str) -> str:
    plural = noun[:-2] + "a" if noun.endswith("um") else noun + "s"
    return f"{n} {noun}" if n == 1 else f"{n} {plural}"


def _show(loaded: LoadedConfig) -> None:
    text = yaml.safe_dump(resolved(loaded), sort_keys=False, allow_unicode=True)
    # Plain text: YAML's [brackets] must not be read as console markup.
    console.print(text.rstrip(), markup=False, highlight=False, soft_wrap=True)


COMMAND = Command(
    "config",
    "validate a guard config file, or show it resolved (defaults, secrets masked)",
    add_arguments,
    run,
)
