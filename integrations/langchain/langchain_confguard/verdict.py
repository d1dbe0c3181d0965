"""Where a guarded LangChain output keeps its `Verdict`, and how to read it back.

It lives in ``message.response_metadata["confguard"]`` for message outputs, in
``output["confguard"]`` for dict outputs, in ``document.metadata["confguard"]``
for Documents and in a ``verdict`` field of pydantic outputs that have one.
A plain-string output has no room for it: ask for the whole `GuardResult` with
``return_result=True``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from langchain_core.documents import Document
from langchain_core.messages import BaseMessage

from confguard.results import VERDICT_KEY, Verdict

METADATA_KEY = VERDICT_KEY


def get_verdict(output: Any) -> Verdict | None:
    """The verdict attached to a guarded output, or None if it carries none.

    Example:
        >>> get_verdict(guarded.invoke("Who won Super Bowl 50?")).action
        'accept'
    """
    return Verdict.find(_placement(output))


def verdict_of(output: Any) -> Verdict:
    """The verdict attached to a guarded output; `InputError` if it carries none.

    Example:
        >>> verdict_of(guarded.invoke({"question": "..."})).action
        'abstain'
    """
    return Verdict.read(_placement(output), where=f"{type(output).__name__} output")


def _placement(output: Any) -> Mapping[str, Any] | None:
    if isinstance(output, BaseMessage):
        return output.response_metadata
    if isinstance(output, Document):
        return output.metadata
    if isinstance(output, Mapping):
        return output
    return {METADATA_KEY: getattr(output, "verdict", None)}


__all__ = ["METADATA_KEY", "get_verdict", "verdict_of"]
