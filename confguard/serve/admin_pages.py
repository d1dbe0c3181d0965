"""The dashboard (every account) and the calibration page (admins)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from confguard.evaluation.targets import parse_targets
from confguard.exceptions import InputError
from confguard.serve.auth import (
    admin_page_account,
    check_csrf,
    console_of,
    page_account,
)
from confguard.serve.calibration import Proposal, Refusal, propose
from confguard.serve.console import Console
from confguard.serve.render import page
from confguard.serve.stats import ACTIONS, stats
from confguard.serve.svg import decisions_by_day, histogram, reliability_diagram
from confguard.store.accounts import Account

router = APIRouter()
Me = Annotated[Account, Depends(page_account)]
Admin = Annotated[Account, Depends(admin_page_account)]
CsrfField = Annotated[str | None, Form(alias="csrf_token")]


@router.get("/dashboard", response_class=HTMLResponse, include_in_schema=False)
def dashboard(request: Request, me: Me) -> Response:
    """Decisions over time, confidences by action, and the verdicts' metrics."""
    console = console_of(request)
    figures = stats(console.store, console.policy())
    return page(
        request,
        "dashboard.html",
        account=me,
        stats=figures,
        by_day=decisions_by_day(figures.by_day),
        histograms=[histogram(a, figures.histograms[a]) for a in ACTIONS],
        reliability=reliability_diagram(figures.reliability),
    )


def _calibration(
    request: Request, me: Account, *, status: int = 200, **values: object
) -> Response:
    console = console_of(request)
    values.setdefault("proposal", None)
    values.setdefault("refusal", None)
    values.setdefault("token", None)
    values.setdefault("target_risk", 0.1)
    values.setdefault("delta", 0.05)
    values.setdefault("stratum_risk", "")
    values.setdefault("invalid", None)
    return page(
        request,
        "calibration.html",
        status=status,
        account=me,
        current=console.current(),
        versions=console.versions.all(),
        labels=len(console.store.labels()),
        named_strata=[s.name for s in console.policy().strata if s.name],
        **values,
    )


@router.get("/calibration", response_class=HTMLResponse, include_in_schema=False)
def calibration(request: Request, me: Admin, done: str = "") -> Response:
    """The current policy, its versions, and the form to propose a new one."""
    notice = {"applied": "Applied: the new version is in force."}.get(done)
    notice = notice or ({"rolled": "Rolled back."}.get(done))
    return _calibration(request, me, notice=notice)


@router.post("/calibration/propose", include_in_schema=False)
def calibration_propose(
    request: Request,
    me: Admin,
    target_risk: Annotated[float, Form(gt=0, lt=1)],
    delta: Annotated[float, Form(gt=0, lt=1)],
    stratum_risk: Annotated[str, Form()] = "",
    csrf: CsrfField = None,
) -> Response:
    """Refit on the verdicts and show the proposal (or why it cannot be made).

    `stratum_risk` is "name=risk, ...": named strata's own targets (blank: none).
    """
    check_csrf(request, csrf)
    console = console_of(request)
    policy, store = console.policy(), console.store
    shown = {"target_risk": target_risk, "delta": delta, "stratum_risk": stratum_risk}
    try:
        own = parse_targets(stratum_risk)
        found = propose(
            store, policy, target_risk=target_risk, delta=delta, stratum_risk=own
        )
    except InputError as exc:  # a malformed target, or a stratum the policy lacks
        return _calibration(request, me, status=422, invalid=str(exc), **shown)
    if isinstance(found, Refusal):
        return _calibration(request, me, status=422, refusal=found, **shown)
    baseline = propose(
        store,
        policy,
        target_risk=target_risk,
        delta=delta,
        stratum_risk=own,
        refit=False,
    )
    token = console.proposals.dumps(found.model_dump(mode="json"))
    return _calibration(
        request,
        me,
        status=200,  # given, so `shown` cannot be read as the status
        proposal=found,
        token=token,
        baseline=baseline,
        **shown,
    )


def signed_proposal(console: Console, token: str) -> Proposal:
    """The proposal a signed token carries (403 if forged, 409 if too old)."""
    data = console.proposals.loads(token, console.settings.proposal_minutes * 60)
    if not isinstance(data, dict):
        raise HTTPException(
            409,
            "this proposal is too old or was not made by the console: propose again",
        )
    return Proposal.model_validate(data)


@router.post("/calibration/apply", include_in_schema=False)
def calibration_apply(
    request: Request,
    me: Admin,
    proposal: Annotated[str, Form()],
    csrf: CsrfField = None,
    note: Annotated[str, Form()] = "",
) -> Response:
    """Apply a proposal as a new policy version."""
    check_csrf(request, csrf)
    console = console_of(request)
    chosen = signed_proposal(console, proposal)
    from confguard.policy.model import Policy

    console.versions.apply(
        Policy.from_yaml(chosen.policy_yaml),
        me.username,
        note=note or "applied from the calibration page",
        summary=chosen.summary(),
    )
    return RedirectResponse("/calibration?done=applied", status_code=303)


@router.post("/calibration/rollback", include_in_schema=False)
def calibration_rollback(
    request: Request,
    me: Admin,
    version: Annotated[int, Form()],
    csrf: CsrfField = None,
) -> Response:
    """Make an older version's policy current again (as a new version)."""
    check_csrf(request, csrf)
    console_of(request).versions.rollback(version, me.username)
    return RedirectResponse("/calibration?done=rolled", status_code=303)


__all__ = ["router", "signed_proposal"]
