"""The console's FastAPI app: pages, API, static files, security headers, errors.

Example:
    >>> from confguard.serve import Console, ConsoleSettings, create_app
    >>> app = create_app(Console.open(ConsoleSettings(store_url="sqlite:///a.sqlite")))
    >>> # uvicorn.run(app, host="127.0.0.1", port=8000)
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from confguard.exceptions import (
    InputError,
    ReviewConflictError,
    ReviewLeasedError,
    StoreError,
    StoreUnavailableError,
    UnknownPolicyVersionError,
    UnknownReviewError,
)
from confguard.serve import admin_pages, api, pages
from confguard.serve.auth import EXPIRED, api_account
from confguard.serve.console import Console
from confguard.serve.render import STATIC, page
from confguard.serve.security import CONTENT_SECURITY_POLICY
from confguard.store.accounts import Account

SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}

_STATUS: tuple[tuple[type[Exception], int], ...] = (
    (UnknownReviewError, 404),
    (UnknownPolicyVersionError, 404),
    (ReviewConflictError, 409),
    (ReviewLeasedError, 409),
    (StoreUnavailableError, 503),
    (InputError, 422),
    (StoreError, 500),
)
"""confguard's errors as HTTP statuses, most specific first."""


def status_of(exc: Exception) -> int:
    """The HTTP status a confguard error answers with."""
    return next(code for kind, code in _STATUS if isinstance(exc, kind))


def _is_api(request: Request) -> bool:
    return request.url.path.startswith("/api/")


def _error(request: Request, status: int, message: str, **headers: str) -> Response:
    if _is_api(request):
        body = {"error": message, "status": status}
        return JSONResponse(body, status_code=status, headers=headers or None)
    if status == 401:
        expired = "?expired=1" if message == EXPIRED else ""
        return RedirectResponse(f"/login{expired}", status_code=303)
    if status == 503:
        message = f"The audit store is not answering; nothing was changed. ({message})"
    response = page(request, "error.html", status=status, message=message, account=None)
    response.headers.update(headers)
    return response


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    return _error(request, exc.status_code, str(exc.detail), **(exc.headers or {}))


async def _confguard_error(request: Request, exc: Exception) -> Response:
    return _error(request, status_of(exc), str(exc))


async def _invalid(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    problems = "; ".join(
        f"{'.'.join(str(p) for p in e['loc'][1:]) or 'request'}: {e['msg']}"
        for e in exc.errors()
    )
    if _is_api(request):
        body = {"error": problems, "status": 422, "detail": exc.errors()}
        return JSONResponse(_json_safe(body), status_code=422)
    return _error(request, 422, problems)


def _json_safe(value: Any) -> Any:
    from fastapi.encoders import jsonable_encoder

    return jsonable_encoder(value, custom_encoder={Exception: str})


class SecurityHeaders:
    """Adds `SECURITY_HEADERS` to every HTTP response (plain ASGI: no extra task)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.headers = [
            (k.lower().encode(), v.encode()) for k, v in SECURITY_HEADERS.items()
        ]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {name.lower() for name, _ in message.get("headers", [])}
                extra = [(k, v) for k, v in self.headers if k not in present]
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        await self.app(scope, receive, with_headers)


def create_app(console: Console) -> FastAPI:
    """The console app over `console`'s store."""
    app = FastAPI(
        title="confguard review console",
        version="1",
        docs_url=None,  # the bundled docs page loads scripts from elsewhere: CSP
        redoc_url=None,
        openapi_url=None,  # served below, behind authentication
    )
    app.state.console = console
    app.include_router(pages.router)
    app.include_router(admin_pages.router)
    app.include_router(api.router)
    app.mount("/static", StaticFiles(directory=str(STATIC)), name="static")
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(StoreError, _confguard_error)
    app.add_exception_handler(InputError, _confguard_error)
    app.add_exception_handler(RequestValidationError, _invalid)
    app.add_middleware(SecurityHeaders)

    @app.get("/api/openapi.json", include_in_schema=False)
    def openapi(_: Annotated[Account, Depends(api_account)]) -> dict[str, Any]:
        return app.openapi()

    return app


__all__ = ["SECURITY_HEADERS", "create_app", "status_of"]
