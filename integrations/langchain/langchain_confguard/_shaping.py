"""Give a guarded output its final text and attach the verdict, keeping its type."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar
from uuid import uuid4

from langchain_core.documents import Document
from langchain_core.messages import AIMessage, BaseMessage
from pydantic import BaseModel

from confguard.results import Verdict
from langchain_confguard.text import answer_key
from langchain_confguard.verdict import METADATA_KEY

Shape = Callable[[Any, str, Verdict], Any]
Message = TypeVar("Message", bound=BaseMessage)


def attach(output: Any, text: str, verdict: Verdict) -> Any:
    """`output` with `text` as its answer and the verdict attached, same type.

    Types with no room for either (str, None, unknown objects) become `text`.
    """
    if isinstance(output, BaseMessage):
        return with_verdict(output, text, verdict, keep=True)
    if isinstance(output, Document):
        metadata = {**output.metadata, METADATA_KEY: verdict.to_metadata()}
        return output.model_copy(update={"page_content": text, "metadata": metadata})
    if isinstance(output, Mapping):
        return _mapping(output, text, verdict, attach)
    if isinstance(output, BaseModel) and "answer" in type(output).model_fields:
        return _model(output, text, verdict)
    return text


def replace(output: Any, text: str, verdict: Verdict) -> Any:
    """A refusal shaped like `output`: a fresh AIMessage, or its answer replaced."""
    if isinstance(output, BaseMessage):
        return with_verdict(output, text, verdict, keep=False)
    if isinstance(output, Mapping):
        return _mapping(output, text, verdict, replace)
    return attach(output, text, verdict)


def gated_id() -> str:
    """A new message id for a gated answer (never an attempt's id)."""
    return f"confguard-{uuid4().hex}"


def with_verdict(
    message: Message, text: str, verdict: Verdict, *, keep: bool
) -> Message | AIMessage:
    """The message with the verdict in its metadata; a fresh AIMessage unless `keep`.

    A kept message keeps its structured content when its text is the answer.
    The result always has a new id: LangGraph's ``messages`` stream skips a
    message whose id it has seen, so a gated answer reusing an attempt's id
    would never be streamed.
    """
    stored = {METADATA_KEY: verdict.to_metadata()}
    new_id = gated_id()
    if not keep:
        return AIMessage(content=text, id=new_id, response_metadata=stored)
    metadata = {**message.response_metadata, **stored}
    update: dict[str, Any] = {"response_metadata": metadata, "id": new_id}
    if message.text != text:
        update["content"] = text
    return message.model_copy(update=update)


def _mapping(
    output: Mapping[str, Any], text: str, verdict: Verdict, inner: Shape
) -> dict[str, Any]:
    updated = dict(output)
    key = answer_key(output)
    if key is not None:
        updated[key] = inner(output[key], text, verdict)
    updated[METADATA_KEY] = verdict.to_metadata()
    return updated


def _model(output: BaseModel, text: str, verdict: Verdict) -> BaseModel:
    update: dict[str, Any] = {"answer": text}
    if "verdict" in type(output).model_fields:
        update["verdict"] = verdict
    return output.model_copy(update=update)


__all__ = ["attach", "gated_id", "replace", "with_verdict"]
