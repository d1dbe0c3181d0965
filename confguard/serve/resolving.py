"""One verdict on one case, the same for the pages and the API.

Refused with the right error before anything is written: an unknown verdict or an
empty edit (InputError, 422), a case another reviewer holds (ReviewLeasedError,
409). The store's compare-and-set then resolves it once (ReviewConflictError, 409,
if someone was faster), and the lease is given back.
"""

from __future__ import annotations

from typing import get_args

from confguard.exceptions import InputError
from confguard.serve.console import Console
from confguard.store.accounts import Account
from confguard.store.base import ReviewItem, Verdict
from confguard.store.leases import Lease

VERDICTS: tuple[str, ...] = get_args(Verdict)


def checked_verdict(verdict: str, edited_answer: str | None) -> Verdict:
    """The verdict, refusing an unknown one and an edit without an answer."""
    if verdict not in VERDICTS:
        raise InputError(
            f"verdict must be one of {', '.join(VERDICTS)}, got {verdict!r}"
        )
    if verdict == "edited" and not (edited_answer or "").strip():
        raise InputError("an edit needs the corrected answer: it was empty")
    if verdict != "edited" and (edited_answer or "").strip():
        raise InputError(f"an edited answer goes with `edited`, not `{verdict}`")
    return verdict  # type: ignore[return-value]


def _check_not_held(console: Console, review_id: str, me: Account) -> Lease | None:
    from confguard.exceptions import ReviewLeasedError

    lease = console.leases.active([review_id]).get(review_id)
    if lease is not None and lease.holder != me.username:
        raise ReviewLeasedError(review_id, holder=lease.holder, until=lease.until)
    return lease


def resolve_case(
    console: Console,
    review_id: str,
    me: Account,
    verdict: str,
    edited_answer: str | None,
    note: str | None,
) -> ReviewItem:
    """Record `me`'s verdict on `review_id`, once; release my lease on it."""
    chosen = checked_verdict(verdict, edited_answer)
    lease = _check_not_held(console, review_id, me)  # an unknown id has no lease
    item = console.store.resolve_review(
        review_id,
        chosen,
        edited_answer=edited_answer.strip()
        if chosen == "edited" and edited_answer
        else None,
        reviewer=me.username,
        note=(note or "").strip() or None,
    )  # UnknownReviewError (404) for an unknown id, ReviewConflictError (409) if late
    if lease is not None:
        console.leases.release(review_id, me.username)
    return item


__all__ = ["VERDICTS", "checked_verdict", "resolve_case"]
