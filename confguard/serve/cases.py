"""One review case as the case page and `GET /api/reviews/{id}` show it.

Everything the console knows of a case, read from the store: the queue entry, its
request's decisions (the attempts trail and the per-signal breakdown of the last
one), the retrieved passages if the decision kept them (``metadata["contexts"]``),
each marked as supporting or contradicting the answer, the escalation's delivery
state, the verdict history and who holds the case.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict
from sqlalchemy import select

from confguard.results import SignalResult
from confguard.store.accounts import transaction
from confguard.store.base import AuditRecord, ReviewEvent, ReviewItem
from confguard.store.leases import Lease
from confguard.store.outbox import Escalation
from confguard.store.schema import ESCALATIONS, to_escalation
from confguard.store.sql import SQLStore
from confguard.text import answer_tokens, normalize_answer

Stance = Literal["supports", "contradicts", "neutral"]
SUPPORT_SHARE = 0.5
"""A passage holding at least this share of the answer's tokens supports it."""


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True)


class Piece(_Frozen):
    """A run of a passage's text; `marked` if it is one of the answer's words."""

    text: str
    marked: bool = False


class Passage(_Frozen):
    """A retrieved passage, its stance toward the answer, and its text in pieces."""

    text: str
    source: str | None = None
    score: float | None = None
    stance: Stance
    why: str
    pieces: tuple[Piece, ...]


class CaseView(_Frozen):
    """A review case with its evidence, attempts, delivery state and history."""

    item: ReviewItem
    attempts: tuple[AuditRecord, ...]
    signals: tuple[SignalResult, ...]
    passages: tuple[Passage, ...]
    escalations: tuple[Escalation, ...]
    history: tuple[ReviewEvent, ...]
    lease: Lease | None = None

    def api(self) -> dict[str, Any]:
        """The case as JSON for the API."""
        return self.model_dump(mode="json")


_WORD = re.compile(r"\w+", re.UNICODE)


def pieces(text: str, words: set[str]) -> tuple[Piece, ...]:
    """`text` cut into runs, the words in `words` (normalised) marked.

    Example:
        >>> [p.marked for p in pieces("Frank Herbert wrote it", {"herbert"})]
        [False, True, False]
    """
    out: list[Piece] = []
    at = 0
    for match in _WORD.finditer(text):
        if normalize_answer(match.group()) not in words:
            continue
        if match.start() > at:
            out.append(Piece(text=text[at : match.start()]))
        out.append(Piece(text=match.group(), marked=True))
        at = match.end()
    if at < len(text):
        out.append(Piece(text=text[at:]))
    return tuple(_merged(out))


def _merged(found: list[Piece]) -> list[Piece]:
    merged: list[Piece] = []
    for piece in found:
        if merged and not piece.marked and not merged[-1].marked:
            merged[-1] = Piece(text=merged[-1].text + piece.text)
        else:
            merged.append(piece)
    return merged


def stance(
    passage: str, answer: str, suggested: str | None
) -> tuple[Stance, str, set[str]]:
    """Whether `passage` supports the answer, contradicts it, or neither, and why.

    It supports the answer if it holds most of the answer's words; it contradicts it
    if instead it holds the answer a faithfulness signal suggested in its place.
    """
    words = set(normalize_answer(passage).split())
    mine = answer_tokens(answer)
    found = sum(t in words for t in mine)
    if mine and found / len(mine) >= SUPPORT_SHARE:
        return "supports", f"holds {found} of the answer's {len(mine)} words", set(mine)
    other = answer_tokens(suggested or "")
    if other and all(t in words for t in other):
        why = f"holds the answer a signal suggested instead: {suggested}"
        return "contradicts", why, set(other)
    return "neutral", f"holds {found} of the answer's {len(mine)} words", set(mine)


def _suggested(signals: tuple[SignalResult, ...]) -> str | None:
    for signal in signals:
        if signal.details.get("conflict") and signal.details.get("suggested_answer"):
            return str(signal.details["suggested_answer"])
    return None


def passages(record: AuditRecord | None, answer: str) -> tuple[Passage, ...]:
    """The passages a decision kept in its metadata, each with its stance."""
    if record is None:
        return ()
    suggested = _suggested(record.signals)
    out = []
    for raw in record.metadata.get("contexts") or ():
        text = str(raw.get("text", "")) if isinstance(raw, dict) else str(raw)
        kind, why, words = stance(text, answer, suggested)
        out.append(
            Passage(
                text=text,
                source=raw.get("source") if isinstance(raw, dict) else None,
                score=raw.get("score") if isinstance(raw, dict) else None,
                stance=kind,
                why=why,
                pieces=pieces(text, words),
            )
        )
    return tuple(out)


def escalations_of(store: SQLStore, request_id: str) -> tuple[Escalation, ...]:
    """The outbox entries of one request (its delivery state)."""
    query = select(ESCALATIONS).where(ESCALATIONS.c.request_id == request_id)
    with transaction(store.engine, "read escalations") as connection:
        return tuple(to_escalation(row) for row in connection.execute(query))


def case_view(store: SQLStore, item: ReviewItem, lease: Lease | None) -> CaseView:
    """Everything the store knows of the case `item`."""
    attempts = tuple(store.decisions(request_id=item.request_id))
    last = attempts[-1] if attempts else None
    return CaseView(
        item=item,
        attempts=attempts,
        signals=last.signals if last else (),
        passages=passages(last, item.answer),
        escalations=escalations_of(store, item.request_id),
        history=tuple(store.review_history(item.id)),
        lease=lease,
    )


__all__ = ["CaseView", "Passage", "Piece", "case_view", "passages", "pieces", "stance"]
