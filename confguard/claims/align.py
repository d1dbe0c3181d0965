"""Align token texts with the characters of the answer they spell.

Providers' token pieces usually join to the answer exactly, but not always: the
answer may have been stripped, a piece may be a partial UTF-8 byte (shown as
"\\ufffd" or "bytes:\\xe2"), a template may add a leading space. `token_offsets`
walks the answer with a cursor and gives each token the characters it matches,
so a claim's characters find the tokens that produced them.
"""

from __future__ import annotations

from collections.abc import Sequence

from confguard.observation import TokenLogprob

Span = tuple[int, int]
_LOOKAHEAD = 8
"""How far ahead a piece that does not match at the cursor is looked for."""


def token_offsets(answer: str, tokens: Sequence[TokenLogprob | str]) -> list[Span]:
    """The (start, end) characters of `answer` each token spells, in order.

    A token that matches nowhere near the cursor gets an empty span there.

    Example:
        >>> token_offsets("Hi there", ["Hi", " there"])
        [(0, 2), (2, 8)]
    """
    spans, cursor = [], 0
    for token in tokens:
        piece = token.token if isinstance(token, TokenLogprob) else token
        start, end = _match(answer, piece, cursor)
        spans.append((start, end))
        cursor = end
    return spans


def _match(answer: str, piece: str, cursor: int) -> Span:
    if not piece:
        return cursor, cursor
    if answer.startswith(piece, cursor):
        return cursor, cursor + len(piece)
    core = piece.strip()
    if not core:  # white space the answer does not have (e.g. it was stripped)
        return cursor, cursor
    found = answer.find(core, cursor, cursor + len(piece) + _LOOKAHEAD)
    if found < 0:
        return cursor, cursor
    return found, found + len(core)


def token_span(spans: Sequence[Span], start: int, end: int) -> tuple[int, int] | None:
    """The tokens (first, last + 1) whose characters overlap `[start, end)`.

    Example:
        >>> token_span([(0, 2), (2, 8), (8, 9)], 2, 8)
        (1, 2)
    """
    inside = [i for i, (s, e) in enumerate(spans) if s < end and e > start]
    if not inside:
        return None
    return inside[0], inside[-1] + 1


__all__ = ["Span", "token_offsets", "token_span"]
