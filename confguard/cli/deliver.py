"""`confguard deliver`: deliver the store's pending escalations, once or in a loop."""

from __future__ import annotations

import argparse

from confguard.cli.checks import existing_store
from confguard.cli.command import Command
from confguard.cli.output import say
from confguard.exceptions import ConfigurationError


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The store, the routes by name, and how long to keep going."""
    p.add_argument("--store", required=True, help="the audit store's database URL")
    p.add_argument(
        "--webhook",
        action="append",
        default=[],
        metavar="NAME=URL",
        help="deliver route NAME's cases to this webhook (repeatable)",
    )
    p.add_argument(
        "--review",
        action="append",
        default=[],
        metavar="NAME",
        help="deliver route NAME's cases to the store's review queue (repeatable)",
    )
    p.add_argument("--once", action="store_true", help="deliver what is due, exit")
    p.add_argument("--deadline", type=_seconds, default=10.0, help="per webhook call")
    p.add_argument("--interval", type=_seconds, default=5.0, help="sleep when idle")


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds, got {text!r}") from None
    if not 0 < value <= 3600:
        raise argparse.ArgumentTypeError(f"must be in (0, 3600] seconds, got {text}")
    return value


def webhooks(pairs: list[str]) -> dict[str, str]:
    """``NAME=URL`` pairs by name; ConfigurationError naming a malformed one.

    Example:
        >>> webhooks(["oncall=https://hooks.example/confguard"])
        {'oncall': 'https://hooks.example/confguard'}
    """
    found: dict[str, str] = {}
    for pair in pairs:
        name, _, url = pair.partition("=")
        if not name or not url.startswith(("http://", "https://")):
            raise ConfigurationError(f"--webhook {pair!r}: expected NAME=http(s)://...")
        if name in found:
            raise ConfigurationError(f"--webhook: route {name!r} given twice")
        found[name] = url
    return found


def run(args: argparse.Namespace) -> int:
    """Deliver due escalations through the named routes; loop unless --once.

    Example:
        $ confguard deliver --store sqlite:///.confguard/audit.sqlite \\
            --webhook oncall=https://hooks.example/confguard --once
    """
    from confguard.routes import DeliveryWorker, ReviewQueueRoute, WebhookRoute
    from confguard.routes.base import Route
    from confguard.store.sql import SQLStore

    hooks = webhooks(args.webhook)
    if not hooks and not args.review:
        raise ConfigurationError("give at least one route: --webhook NAME=URL")
    with SQLStore(existing_store(args.store, create=False)) as store:
        routes: dict[str, Route] = {
            n: WebhookRoute(u, deadline=args.deadline) for n, u in hooks.items()
        }
        routes.update({name: ReviewQueueRoute(store) for name in args.review})
        lease = max(60.0, 3 * args.deadline)
        worker = DeliveryWorker(store, routes, lease_seconds=lease)
        if args.once:
            report = worker.run_once()
        else:
            try:
                report = worker.run(idle_seconds=args.interval)
            except KeyboardInterrupt:
                say("stopped")
                return 0
    say(
        f"delivered {report.delivered}, deferred {report.deferred}, "
        f"failed {report.failed}"
    )
    return 0


COMMAND = Command("deliver", "deliver pending escalations", add_arguments, run)
