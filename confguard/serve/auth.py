"""Who is asking: the session cookie for pages, a bearer token (or the cookie) for the
API; roles; and the CSRF check every POST passes.

A missing or expired login gives 401 (pages redirect to the login form), a role
too low 403, a missing or forged CSRF token 403.
"""

from __future__ import annotations

from fastapi import HTTPException, Request, Response

from confguard.serve.console import Console
from confguard.serve.security import (
    CSRF_HEADER,
    SESSION_COOKIE,
    Session,
    same_token,
)
from confguard.store.accounts import Account

NOT_LOGGED_IN = "log in first"
EXPIRED = "your session has expired: log in again"
CSRF_REFUSED = (
    "refused: this request did not carry the console's CSRF token (the form may be "
    "from an old page, or from another site); reload the page and try again"
)


def console_of(request: Request) -> Console:
    """The console this app serves."""
    console: Console = request.app.state.console
    return console


def session_of(request: Request) -> Session:
    """The request's session (anonymous if it has no valid cookie); read once."""
    cached = getattr(request.state, "session", None)
    if isinstance(cached, Session):
        return cached
    session = console_of(request).sessions.loads(request.cookies.get(SESSION_COOKIE))
    request.state.session = session
    return session


def set_session(request: Request, response: Response, session: Session) -> None:
    """Write `session` into the response's cookie: signed, HttpOnly, SameSite=Lax.

    The cookie lasts the browser session; the signature's age decides expiry, so
    an expired session is told so rather than silently logged out.
    """
    console = console_of(request)
    response.set_cookie(
        SESSION_COOKIE,
        console.sessions.dumps(session),
        httponly=True,
        samesite="lax",
        secure=console.settings.secure_cookies,
        path="/",
    )
    request.state.session = session


def _logged_in(request: Request) -> Account:
    session = session_of(request)
    account = console_of(request).account(session)
    if account is None:
        raise HTTPException(401, EXPIRED if session.expired else NOT_LOGGED_IN)
    return account


def page_account(request: Request) -> Account:
    """The logged-in account of a page request (401: to the login form)."""
    return _logged_in(request)


def admin_page_account(request: Request) -> Account:
    """The logged-in account of an admin page (403 for a reviewer)."""
    return _admin(_logged_in(request))


def _bearer(request: Request) -> str | None:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def api_account(request: Request) -> Account:
    """The API caller: a bearer token's account, else the session's (with CSRF)."""
    token = _bearer(request)
    if token is not None:
        account = console_of(request).accounts.by_token(token)
        if account is None:
            raise HTTPException(
                401, "unknown API token", headers={"WWW-Authenticate": "Bearer"}
            )
        return account
    session = session_of(request)
    account = console_of(request).account(session)
    if account is None:
        message = EXPIRED if session.expired else "give an API token (Bearer) or log in"
        raise HTTPException(401, message, headers={"WWW-Authenticate": "Bearer"})
    if request.method == "POST" and not same_token(
        request.headers.get(CSRF_HEADER), session.csrf
    ):
        raise HTTPException(403, CSRF_REFUSED)
    return account


def api_admin(request: Request) -> Account:
    """An admin API caller (403 for a reviewer)."""
    return _admin(api_account(request))


def _admin(account: Account) -> Account:
    if not account.is_admin:
        raise HTTPException(403, f"{account.username} is a reviewer: admins only")
    return account


def check_csrf(request: Request, token: str | None) -> None:
    """Refuse (403) a form whose CSRF token is not this session's."""
    if not same_token(token, session_of(request).csrf):
        raise HTTPException(403, CSRF_REFUSED)


__all__ = [
    "admin_page_account",
    "api_account",
    "api_admin",
    "check_csrf",
    "console_of",
    "page_account",
    "session_of",
    "set_session",
]
