"""Caveat templates: the one check both the answer's and the claims' caveats use."""

from __future__ import annotations


def checked_caveat(value: str) -> str:
    """`value` if it formats with `{confidence}` alone; a ValueError saying why not.

    Example:
        >>> checked_caveat("Check this ({confidence:.0%}).")
        'Check this ({confidence:.0%}).'
    """
    try:
        value.format(confidence=0.5)
    except (KeyError, IndexError, ValueError) as exc:
        raise ValueError(
            f"invalid template ({exc!r}); only {{confidence}} is available"
        ) from None
    return value
