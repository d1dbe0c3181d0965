"""A real uvicorn server in a background thread, for examples, tests and benchmarks.

Example:
    >>> with running(create_app(console)) as url:
    ...     httpx.get(f"{url}/login").status_code
    200
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn
from fastapi import FastAPI


@contextmanager
def running(
    app: FastAPI, host: str = "127.0.0.1", port: int = 0, *, timeout: float = 20.0
) -> Iterator[str]:
    """Serve `app` on `host`:`port` (0: a free port) until the block ends; its URL."""
    config = uvicorn.Config(app, host=host, port=port, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="confguard-serve", daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            raise RuntimeError(f"the console did not start on {host}:{port}")
        time.sleep(0.02)
    bound = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://{host}:{bound}"
    finally:
        server.should_exit = True
        thread.join(timeout)


__all__ = ["running"]
