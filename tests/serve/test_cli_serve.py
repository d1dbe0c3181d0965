"""`confguard users` makes accounts and tokens; `confguard serve` starts the console
as its own process on 127.0.0.1 and refuses the unauthenticated."""

from __future__ import annotations

import io
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from confguard.cli import main
from confguard.cli.output import console as cli_console
from confguard.store import SQLStore
from confguard.store.accounts import Accounts

PASSWORD = "correct horse battery"


def users(
    monkeypatch: pytest.MonkeyPatch, *argv: str, stdin: str = ""
) -> tuple[int, str]:
    monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    with cli_console.capture() as captured:
        code = main(["users", *argv])
    return code, captured.get()


def test_users_add_makes_an_argon2_account_and_refuses_a_duplicate(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path}/audit.sqlite"
    code, out = users(
        monkeypatch,
        "add",
        "ada",
        "--role",
        "admin",
        "--store",
        url,
        "--create",
        "--password-stdin",
        stdin=PASSWORD + "\n",
    )
    assert code == 0 and "account ada (admin) created" in out
    with SQLStore(url) as store:
        account, stored = Accounts(store.engine).credentials("ada") or (None, "")
    assert account is not None and account.role == "admin"
    assert stored.startswith("$argon2id$")
    code, out = users(
        monkeypatch, "add", "ada", "--store", url, "--password-stdin", stdin=PASSWORD
    )
    assert code == 2 and "account 'ada' exists already" in out


def test_a_short_password_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path}/audit.sqlite"
    code, out = users(
        monkeypatch,
        "add",
        "bo",
        "--store",
        url,
        "--create",
        "--password-stdin",
        stdin="short\n",
    )
    assert code == 2 and "at least 8 characters" in out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_confguard_serve_starts_the_console_in_its_own_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path}/audit.sqlite"
    users(
        monkeypatch,
        "add",
        "bo",
        "--store",
        url,
        "--create",
        "--password-stdin",
        stdin=PASSWORD,
    )
    monkeypatch.setattr(sys, "stdout", io.StringIO())
    assert main(["users", "token", "bo", "--store", url]) == 0
    token = sys.stdout.getvalue().strip()  # type: ignore[attr-defined]  # printed once
    monkeypatch.undo()
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "confguard.cli",
            "serve",
            "--store",
            url,
            "--port",
            str(port),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                login = httpx.get(f"{base}/login", timeout=2)
                break
            except httpx.TransportError:
                assert process.poll() is None, process.stderr and process.stderr.read()
                assert time.monotonic() < deadline, "the console did not start"
                time.sleep(0.2)
        assert login.status_code == 200 and "csrf_token" in login.text
        assert httpx.get(f"{base}/api/reviews", timeout=5).status_code == 401
        assert httpx.get(f"{base}/queue", timeout=5).status_code == 303
        listed = httpx.get(
            f"{base}/api/reviews",
            headers={"Authorization": f"Bearer {token}"},
            timeout=5,
        )
        assert listed.status_code == 200 and listed.json()["total"] == 0
    finally:
        process.terminate()
        process.wait(timeout=15)
