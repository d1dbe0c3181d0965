"""Hold an attempt's chunks back and release only the gated text.

A streaming integration never forwards an attempt's chunks as they arrive (the
gate has not decided yet); it holds them in a `HoldBack` and, once the guard has
decided, releases the *gated* text: the held chunks when they spell it exactly
(an accepted answer keeps its token boundaries), otherwise the gated text cut
into word-sized `pieces` (a refusal, an escalation's answer, a caveat added).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

_PIECE = re.compile(r"\s*\S+\s*$|\s*\S+|\s+")


def pieces(text: str) -> tuple[str, ...]:
    """`text` cut into word-sized chunks that join back to it exactly.

    Example:
        >>> pieces("I can't answer that.")
        ('I', " can't", ' answer', ' that.')
    """
    return tuple(_PIECE.findall(text))


class HoldBack:
    """Chunks of an answer held back until the gate decides what may be released.

    Example:
        >>> held = HoldBack()
        >>> for chunk in ["Den", "ver"]:
        ...     held.hold(chunk)
        >>> list(held.release("Denver"))
        ['Den', 'ver']
    """

    def __init__(self) -> None:
        self._chunks: list[str] = []

    def hold(self, chunk: str) -> None:
        """Keep `chunk` back (nothing is released before `release`)."""
        self._chunks.append(chunk)

    @property
    def text(self) -> str:
        """Everything held so far, joined: the answer the gate scores."""
        return "".join(self._chunks)

    def release(self, gated: str) -> Iterator[str]:
        """The gated text as chunks: the held ones if they spell it, else `pieces`."""
        if self._chunks and self.text == gated:
            yield from (chunk for chunk in self._chunks if chunk)
        else:
            yield from pieces(gated)


__all__ = ["HoldBack", "pieces"]
