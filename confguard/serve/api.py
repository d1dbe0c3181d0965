"""The JSON API under /api/: reviews (list, read, claim, resolve), stats, policies.

Authenticated by a bearer token (`confguard users token NAME`) or the console's
session cookie with its CSRF token in the ``X-CSRF-Token`` header. Errors are JSON
``{"error": message, "status": code}``: 401, 403, 404, 409, 422, 503.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from confguard.policy.model import Policy
from confguard.serve.admin_pages import signed_proposal
from confguard.serve.auth import api_account, api_admin, console_of
from confguard.serve.calibration import CurrentPolicy, Proposal, Refusal, propose
from confguard.serve.cases import CaseView, case_view
from confguard.serve.resolving import resolve_case
from confguard.serve.stats import Stats, stats
from confguard.store.accounts import Account
from confguard.store.base import ReviewItem
from confguard.store.leases import Lease
from confguard.store.policy_versions import PolicyVersion
from confguard.store.review_query import ReviewPage, ReviewQuery

router = APIRouter(prefix="/api")
Caller = Annotated[Account, Depends(api_account)]
AdminCaller = Annotated[Account, Depends(api_admin)]


class Resolution(BaseModel):
    """A verdict on one case."""

    model_config = ConfigDict(extra="forbid")

    verdict: str = Field(description="approved, edited or rejected")
    edited_answer: str | None = None
    note: str | None = None


class Claimed(BaseModel):
    """The case leased to the caller, or None when no free case is left."""

    review: ReviewItem | None
    lease: Lease | None = None


class ProposalRequest(BaseModel):
    """The guarantee asked for."""

    model_config = ConfigDict(extra="forbid")

    target_risk: float = Field(gt=0, lt=1)
    delta: float = Field(default=0.05, gt=0, lt=1)
    stratum_risk: dict[str, Annotated[float, Field(gt=0, lt=1)]] = {}
    """A named stratum's own target risk, by name (the rest: `target_risk`)."""


class ProposalAnswer(BaseModel):
    """A proposal with the token that applies it, or the refusal."""

    proposal: Proposal | None = None
    token: str | None = None
    refusal: Refusal | None = None
    current: CurrentPolicy
    baseline: Proposal | Refusal | None = None
    """The current policy certified on the same verdicts without a refit."""


class Apply(BaseModel):
    """A proposal to apply (its token), and why."""

    model_config = ConfigDict(extra="forbid")

    token: str
    note: str = ""


@router.get("/reviews", response_model=ReviewPage)
def list_reviews(
    caller: Caller,
    query: Annotated[ReviewQuery, Query()],
    request: Request,
) -> ReviewPage:
    """Cases filtered, sorted and paged (the same filters as the queue page)."""
    return console_of(request).queue.page(query)


@router.get("/reviews/{review_id}", response_model=CaseView)
def read_review(review_id: str, caller: Caller, request: Request) -> CaseView:
    """One case with its evidence, attempts, delivery state, history and lease."""
    console = console_of(request)
    item = console.queue.get(review_id)
    lease = console.leases.active([review_id]).get(review_id)
    return case_view(console.store, item, lease)


@router.post("/reviews/next", response_model=Claimed)
def claim_next(
    caller: Caller, query: Annotated[ReviewQuery, Query()], request: Request
) -> Claimed:
    """Lease the next free pending case (matching the filters) to the caller."""
    console = console_of(request)
    item = console.leases.claim_next(caller.username, query)
    if item is None:
        return Claimed(review=None)
    return Claimed(review=item, lease=console.leases.active([item.id]).get(item.id))


@router.post("/reviews/{review_id}/claim", response_model=Lease)
def claim(review_id: str, caller: Caller, request: Request) -> Lease:
    """Lease one case to the caller (409 if another reviewer holds it)."""
    return console_of(request).leases.claim(review_id, caller.username)


@router.post("/reviews/{review_id}/resolve", response_model=ReviewItem)
def resolve(
    review_id: str, body: Resolution, caller: Caller, request: Request
) -> ReviewItem:
    """Approve, edit or reject a case, once (409 if it was resolved or is held)."""
    return resolve_case(
        console_of(request),
        review_id,
        caller,
        body.verdict,
        body.edited_answer,
        body.note,
    )


@router.get("/stats", response_model=Stats)
def read_stats(caller: Caller, request: Request) -> Stats:
    """The dashboard's figures."""
    console = console_of(request)
    return stats(console.store, console.policy())


@router.get("/policy/versions", response_model=list[PolicyVersion])
def versions(caller: Caller, request: Request) -> list[PolicyVersion]:
    """Every applied policy version, newest first."""
    return console_of(request).versions.all()


@router.get("/policy/current", response_model=CurrentPolicy)
def current(caller: Caller, request: Request) -> CurrentPolicy:
    """The policy in force: version, threshold and guarantee."""
    return console_of(request).current()


@router.post("/policy/proposals", response_model=ProposalAnswer)
def make_proposal(body: ProposalRequest, caller: AdminCaller, request: Request) -> Any:
    """Refit on the verdicts; the proposal and its token, or 422 with the refusal."""
    from fastapi.responses import JSONResponse

    console = console_of(request)
    levels = body.model_dump()  # target_risk, delta and stratum_risk
    found = propose(console.store, console.policy(), **levels)
    if isinstance(found, Refusal):
        answer = ProposalAnswer(refusal=found, current=console.current())
        return JSONResponse(
            {"error": found.message, "status": 422, **answer.model_dump(mode="json")},
            status_code=422,
        )
    token = console.proposals.dumps(found.model_dump(mode="json"))
    baseline = propose(console.store, console.policy(), **levels, refit=False)
    return ProposalAnswer(
        proposal=found, token=token, current=console.current(), baseline=baseline
    )


@router.post("/policy/versions", response_model=PolicyVersion)
def apply(body: Apply, caller: AdminCaller, request: Request) -> PolicyVersion:
    """Apply a proposal (by its token) as a new policy version."""
    console = console_of(request)
    chosen = signed_proposal(console, body.token)
    return console.versions.apply(
        Policy.from_yaml(chosen.policy_yaml),
        caller.username,
        note=body.note or "applied through the API",
        summary=chosen.summary(),
    )


@router.post("/policy/versions/{version}/rollback", response_model=PolicyVersion)
def rollback(version: int, caller: AdminCaller, request: Request) -> PolicyVersion:
    """Make version `version`'s policy current again, as a new version."""
    return console_of(request).versions.rollback(version, caller.username)


__all__ = ["router"]
