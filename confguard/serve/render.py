"""Jinja2 pages with autoescape on: model output and contexts are always text."""

from __future__ import annotations

from datetime import datetime
from importlib import resources
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, StrictUndefined

from confguard.serve.auth import session_of
from confguard.serve.security import CSRF_FIELD

NONE = "\N{EN DASH}"
"""What a missing figure shows as."""
TEMPLATES = resources.files("confguard.serve") / "templates"
STATIC = resources.files("confguard.serve") / "static"


def _number(value: float | None, digits: int = 3) -> str:
    return NONE if value is None else f"{value:.{digits}f}"


def _percent(value: float | None) -> str:
    return NONE if value is None else f"{value:.1%}"


def _moment(value: datetime | None) -> str:
    return NONE if value is None else value.strftime("%Y-%m-%d %H:%M:%S UTC")


def environment() -> Environment:
    """The template environment: autoescape for every template, strict undefined."""
    env = Environment(
        loader=FileSystemLoader(str(TEMPLATES)),
        autoescape=True,  # every template, whatever its name: nothing is raw HTML
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(number=_number, percent=_percent, moment=_moment)
    return env


_ENV = environment()


def page(
    request: Request, name: str, *, status: int = 200, **values: Any
) -> HTMLResponse:
    """Render template `name` with the session's CSRF token and `values`."""
    values.setdefault("notice", None)
    values.setdefault("error", None)
    html = _ENV.get_template(name).render(
        csrf_field=CSRF_FIELD, csrf=session_of(request).csrf, **values
    )
    return HTMLResponse(html, status_code=status)


__all__ = ["STATIC", "TEMPLATES", "environment", "page"]
