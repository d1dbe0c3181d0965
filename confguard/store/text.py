"""Text made safe for a SQL column: no lone surrogates, no NUL.

Python strings may hold what no database can: a lone surrogate (``"\\ud800"``, what
``json.loads`` makes of an emoji cut in half) cannot be encoded as UTF-8, and
PostgreSQL refuses NUL (``"\\x00"``) in text and JSON. A decision must be recorded
whatever its text, so the SQL store writes a repaired copy instead.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic_core import PydanticSerializationError, to_json

_UNSAFE = re.compile("[\ud800-\udfff\x00]")

NUL_ESCAPE = "\\x00"
"""What a NUL is written as: the four characters backslash, x, 0, 0."""


def storable(text: str) -> str:
    """`text` with lone surrogates replaced by U+FFFD and NUL escaped as ``\\x00``.

    A surrogate pair spelled as two code points becomes the character it encodes.

    Example:
        >>> storable("cut \\ud83d emoji, NUL \\x00, whole \\ud83d\\ude00")
        'cut � emoji, NUL \\\\x00, whole 😀'
    """
    if text.isascii() and "\x00" not in text:  # the common case: O(1), then memchr
        return text
    if _UNSAFE.search(text) is None:
        return text
    # UTF-16 pairs the surrogates that make a character and replaces the rest.
    paired = text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
    return paired.replace("\x00", NUL_ESCAPE)


def storable_value(value: Any) -> Any:
    """`value` with `storable` applied to every string in it, keys included."""
    if isinstance(value, str):
        return storable(value)
    if isinstance(value, dict):
        return {storable_value(k): storable_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [storable_value(v) for v in value]
    return value


def storable_row(values: dict[str, Any]) -> dict[str, Any]:
    """A row's column values, every text value made storable.

    JSON values are left to `storable_json`, the engine's JSON serialiser, which
    checks the dumped text once instead of walking every value.
    """
    return {
        column: storable(value) if isinstance(value, str) else value
        for column, value in values.items()
    }


def storable_json(value: Any) -> str:
    r"""`value` as JSON text with every string in it made storable.

    pydantic-core's encoder: four times json's speed, and NaN or infinity become
    null, which PostgreSQL's JSON accepts (json's bare NaN it refuses).

    Example:
        >>> print(storable_json({"k": "\ud800 and \x00"}))
        {"k":"� and \\x00"}
    """
    try:
        text = to_json(value, inf_nan_mode="null").decode()
    except PydanticSerializationError:  # a surrogate UTF-8 cannot encode
        return to_json(storable_value(value), inf_nan_mode="null").decode()
    if "\\u0000" in text:  # NUL, escaped by the encoder
        return to_json(storable_value(value), inf_nan_mode="null").decode()
    return text


__all__ = [
    "NUL_ESCAPE",
    "storable",
    "storable_json",
    "storable_row",
    "storable_value",
]
