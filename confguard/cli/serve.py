"""`confguard serve` (the review console) and `confguard users` (its accounts).

Both need the `serve` extra; FastAPI and uvicorn are imported only when a command
runs, so the rest of the CLI never needs them.
"""

from __future__ import annotations

import argparse
import getpass
import sys
import threading
from pathlib import Path
from typing import Any

from confguard.cli.checks import add_create_option, existing_store
from confguard.cli.command import Command
from confguard.cli.output import say
from confguard.exceptions import ConfigurationError

DEFAULT_STORE = "sqlite:///.confguard/audit.sqlite"
EXTRA = "the console needs the serve extra: pip install 'confguard[serve]'"


def _needs_extra() -> None:
    try:
        import argon2  # noqa: F401
        import fastapi  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError as exc:
        raise ConfigurationError(f"{EXTRA} ({exc.name} is missing)") from None


def add_serve_arguments(p: argparse.ArgumentParser) -> None:
    """The store, the guard config, and where to listen."""
    p.add_argument("--store", help=f"audit store URL (default {DEFAULT_STORE})")
    p.add_argument("--config", type=Path, help="guard config (its policy and store)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--lease-seconds", type=float, default=600.0)
    p.add_argument("--secure-cookies", action="store_true", help="behind HTTPS")
    p.add_argument(
        "--webhook",
        action="append",
        default=[],
        metavar="NAME=URL",
        help="also run the delivery worker: route NAME to this webhook (repeatable)",
    )
    p.add_argument(
        "--review",
        action="append",
        default=[],
        metavar="NAME",
        help="also run the delivery worker: route NAME to the review queue",
    )
    add_create_option(p)


def _worker(store: Any, args: argparse.Namespace) -> Any:
    """The delivery worker the console runs in a thread, if any route was named."""
    from confguard.cli.deliver import webhooks
    from confguard.routes import DeliveryWorker, ReviewQueueRoute, WebhookRoute
    from confguard.routes.base import Route

    hooks = webhooks(args.webhook)
    if not hooks and not args.review:
        return None
    routes: dict[str, Route] = {n: WebhookRoute(u) for n, u in hooks.items()}
    routes.update({name: ReviewQueueRoute(store) for name in args.review})
    return DeliveryWorker(store, routes)


def _store_url(args: argparse.Namespace) -> str:
    url = args.store
    if url is None and getattr(args, "config", None) is not None:
        from confguard.config import load

        section = load(args.config).config.store
        url = section.url if section is not None else None
    return existing_store(url or DEFAULT_STORE, create=args.create)


def run_serve(args: argparse.Namespace) -> int:
    """Start the console and serve until interrupted.

    Example:
        $ confguard serve --store sqlite:///audit.sqlite --port 8000
    """
    _needs_extra()
    import uvicorn

    from confguard.serve import Console, ConsoleSettings, create_app

    settings = ConsoleSettings(
        store_url=_store_url(args),
        config=args.config,
        lease_seconds=args.lease_seconds,
        secure_cookies=args.secure_cookies,
    )
    console = Console.open(settings)
    if not console.accounts.all():
        say("no account yet: create one with `confguard users add NAME --role admin`")
    worker = _worker(console.store, args)
    if worker is not None:
        thread = threading.Thread(target=worker.run, name="confguard-deliver")
        thread.daemon = True  # stopped below; never holds the process open
        thread.start()
        say(f"delivery worker running for routes {', '.join(sorted(worker.routes))}")
    say(
        f"review console on http://{args.host}:{args.port}/ (store {console.store.url})"
    )
    try:
        uvicorn.run(
            create_app(console), host=args.host, port=args.port, log_level="warning"
        )
    finally:
        if worker is not None:
            worker.stop()
        console.store.close()
    return 0


def add_users_arguments(p: argparse.ArgumentParser) -> None:
    """add NAME [--role], token NAME, list."""
    p.add_argument("action", choices=["add", "password", "token", "list"])
    p.add_argument("username", nargs="?")
    p.add_argument("--role", choices=["reviewer", "admin"], default="reviewer")
    p.add_argument("--store", default=DEFAULT_STORE)
    p.add_argument(
        "--password-stdin", action="store_true", help="read the password from stdin"
    )
    p.add_argument("--label", default="", help="what a token is for")
    add_create_option(p)


def _password(args: argparse.Namespace) -> str:
    if args.password_stdin or not sys.stdin.isatty():
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = getpass.getpass("password: ")
        if getpass.getpass("again: ") != password:
            raise ConfigurationError("the two passwords differ")
    if len(password) < 8:
        raise ConfigurationError("a password has at least 8 characters")
    return password


def run_users(args: argparse.Namespace) -> int:
    """Manage console accounts: add one (first of all an admin), list, make a token.

    Example:
        $ confguard users add ada --role admin --store sqlite:///audit.sqlite
        $ confguard users token ada --label ticketing
    """
    _needs_extra()
    from confguard.serve.security import hash_password, new_token
    from confguard.store import SQLStore
    from confguard.store.accounts import Accounts

    if args.action != "list" and not args.username:
        raise ConfigurationError(f"`users {args.action}` needs a username")
    with SQLStore(existing_store(args.store, create=args.create)) as store:
        accounts = Accounts(store.engine)
        return _USERS[args.action](accounts, args, hash_password, new_token)


def _add(accounts: Any, args: argparse.Namespace, hashing: Any, _: Any) -> int:
    account = accounts.add(args.username, hashing(_password(args)), args.role)
    say(f"account {account.username} ({account.role}) created")
    return 0


def _set_password(accounts: Any, args: argparse.Namespace, hashing: Any, _: Any) -> int:
    accounts.set_password(args.username, hashing(_password(args)))
    say(f"password of {args.username} changed")
    return 0


def _token(accounts: Any, args: argparse.Namespace, _: Any, make: Any) -> int:
    token = make()
    accounts.add_token(args.username, token, args.label)
    print(token)  # the only time it is shown: it is kept as a digest
    return 0


def _list(accounts: Any, args: argparse.Namespace, _: Any, __: Any) -> int:
    for account in accounts.all():
        say(f"{account.username}\t{account.role}\t{account.created_at:%Y-%m-%d}")
    return 0


_USERS = {"add": _add, "password": _set_password, "token": _token, "list": _list}

COMMAND = Command(
    "serve",
    "start the review console (web pages and JSON API)",
    add_serve_arguments,
    run_serve,
)
USERS_COMMAND = Command(
    "users",
    "console accounts: add, password, token, list",
    add_users_arguments,
    run_users,
)
