"""`confguard serve`: the review console, its JSON API, and the calibration loop.

Needs the `serve` extra (``pip install 'confguard[serve]'``): FastAPI, uvicorn,
Jinja2, argon2-cffi, itsdangerous, python-multipart.

Example:
    >>> from confguard.serve import Console, ConsoleSettings, create_app
    >>> app = create_app(Console.open(ConsoleSettings(store_url="sqlite:///a.sqlite")))
"""

from __future__ import annotations

from confguard.serve.app import create_app
from confguard.serve.console import Console, ConsoleSettings

__all__ = ["Console", "ConsoleSettings", "create_app"]
