"""The console's pages: login, the queue, a case and its verdict forms.

Handlers are plain functions (FastAPI runs them in its thread pool), since every
one of them waits on the database.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from confguard.serve.auth import (
    check_csrf,
    console_of,
    page_account,
    session_of,
    set_session,
)
from confguard.serve.cases import case_view
from confguard.serve.render import page
from confguard.serve.resolving import resolve_case
from confguard.serve.security import Session
from confguard.store.accounts import Account
from confguard.store.review_query import ReviewQuery

router = APIRouter()
Me = Annotated[Account, Depends(page_account)]
CsrfField = Annotated[str | None, Form(alias="csrf_token")]

DONE = {
    "approved": "Approved.",
    "edited": "Edited answer saved.",
    "rejected": "Rejected.",
    "empty": "No free case matches: every pending case is resolved or held by "
    "another reviewer.",
    "released": "Case given back to the queue.",
}


def _see(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


@router.get("/", include_in_schema=False)
def home() -> RedirectResponse:
    """The queue is the start page."""
    return _see("/queue")


@router.get("/login", response_class=HTMLResponse, include_in_schema=False)
def login_form(request: Request, expired: int = 0) -> Response:
    """The login form, with a fresh anonymous session holding its CSRF token."""
    session = session_of(request)
    if console_of(request).account(session) is not None:
        return _see("/queue")
    fresh = session if session.username is None else Session.anonymous()
    notice = "Your session has expired: log in again." if expired else None
    response = page(request, "login.html", status=200, notice=notice, account=None)
    set_session(request, response, fresh)
    return response


@router.post("/login", include_in_schema=False)
def login(
    request: Request,
    username: Annotated[str, Form()],
    password: Annotated[str, Form()],
    csrf: CsrfField = None,
) -> Response:
    """Check the password (rate-limited per name and address) and start a session."""
    check_csrf(request, csrf)
    console = console_of(request)
    keys = (f"user:{username}", f"ip:{request.client.host if request.client else '?'}")
    wait = console.limiter.retry_after(*keys)
    if wait > 0:
        raise HTTPException(
            429,
            f"too many failed logins: try again in {wait:.0f} s",
            headers={"Retry-After": str(int(wait) + 1)},
        )
    session = console.login(username, password)
    if session is None:
        console.limiter.failed(*keys)
        return page(
            request,
            "login.html",
            status=401,
            error="Wrong name or password.",
            account=None,
        )
    console.limiter.succeeded(*keys)
    response = _see("/queue")
    set_session(request, response, session)
    return response


@router.post("/logout", include_in_schema=False)
def logout(request: Request, csrf: CsrfField = None) -> Response:
    """End the session."""
    check_csrf(request, csrf)
    response = _see("/login")
    set_session(request, response, Session.anonymous())
    return response


def _query(params: dict[str, Any]) -> ReviewQuery:
    """The queue's query from the form's fields (empty fields are no filter)."""
    return ReviewQuery.parse(params)


_FILTERS = (
    "status",
    "route",
    "min_confidence",
    "max_confidence",
    "min_age_hours",
    "max_age_hours",
    "failed_signal",
    "sort",
    "page",
    "per_page",
)


@router.get("/queue", response_class=HTMLResponse, include_in_schema=False)
def queue(request: Request, me: Me, done: str = "") -> Response:
    """Cases filtered, sorted and paged, with the queue's counts."""
    params = {k: request.query_params.get(k) for k in _FILTERS}
    query = _query(params)
    console = console_of(request)
    found = console.queue.page(query)
    leases = console.leases.active([item.id for item in found.items])
    shown = {k: v for k, v in params.items() if v and k != "page"}
    return page(
        request,
        "queue.html",
        account=me,
        query=query,
        found=found,
        leases=leases,
        shown=shown,
        routes=console.queue.routes(),
        signal_names=console.queue.signal_names(),
        notice=DONE.get(done),
    )


@router.post("/queue/next", include_in_schema=False)
def next_case(request: Request, me: Me, csrf: CsrfField = None) -> Response:
    """Lease the next free pending case for me and open it."""
    check_csrf(request, csrf)
    item = console_of(request).leases.claim_next(me.username)
    if item is None:
        return _see("/queue?done=empty")
    return _see(f"/cases/{item.id}")


@router.get("/cases/{review_id}", response_class=HTMLResponse, include_in_schema=False)
def case(request: Request, review_id: str, me: Me, done: str = "") -> Response:
    """A case with its evidence; opening a pending case leases it to me if free."""
    console = console_of(request)
    item = console.queue.get(review_id)
    lease = console.leases.active([review_id]).get(review_id)
    if item.status == "pending" and (lease is None or lease.holder == me.username):
        lease = console.leases.claim(review_id, me.username)
    view = case_view(console.store, item, lease)
    mine = lease is not None and lease.holder == me.username
    return page(
        request, "case.html", account=me, case=view, mine=mine, notice=DONE.get(done)
    )


@router.post("/cases/{review_id}/resolve", include_in_schema=False)
def resolve(
    request: Request,
    review_id: str,
    me: Me,
    verdict: Annotated[str, Form()],
    csrf: CsrfField = None,
    edited_answer: Annotated[str | None, Form()] = None,
    note: Annotated[str | None, Form()] = None,
) -> Response:
    """Approve, edit or reject; then on to the next free case."""
    check_csrf(request, csrf)
    console = console_of(request)
    item = resolve_case(console, review_id, me, verdict, edited_answer, note)
    following = console.leases.claim_next(me.username)
    if following is None:
        return _see(f"/queue?done={item.status}")
    return _see(f"/cases/{following.id}?done={item.status}")


@router.post("/cases/{review_id}/release", include_in_schema=False)
def release(
    request: Request, review_id: str, me: Me, csrf: CsrfField = None
) -> Response:
    """Give my lease on a case back."""
    check_csrf(request, csrf)
    console_of(request).leases.release(review_id, me.username)
    return _see("/queue?done=released")


__all__ = ["router"]
