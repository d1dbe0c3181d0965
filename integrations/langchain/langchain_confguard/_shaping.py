"""Give a guarded output its final text and attach the verdict, keeping its type."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from langchain_core.documents import Document
from langchain_core.messages import AIMessage, BaseMessage
from pydantic import BaseModel

from confguard.results import Annotate, GuardResult
from langchain_confguard.text import answer_key
from langchain_confguard.verdict import METADATA_KEY, Verdict


def given_text(result: GuardResult, show_caveat: bool) -> str:
    """The text the caller gets: the answer, a caveat appended when annotated."""
    text = result.answer or ""
    decision = result.decision
    if show_caveat and isinstance(decision, Annotate) and text:
        return f"{text}\n\n{decision.caveat}"
    return text


def attach(output: Any, text: str, verdict: Verdict) -> Any:
    """`output` with `text` as its answer and the verdict attached, same type.

    Types with no room for either (str, None, unknown objects) become `text`.
    """
    if isinstance(output, BaseMessage):
        return _message(output, text, verdict)
    if isinstance(output, Document):
        metadata = {**output.metadata, METADATA_KEY: verdict.to_metadata()}
        return output.model_copy(update={"page_content": text, "metadata": metadata})
    if isinstance(output, Mapping):
        return _mapping(output, text, verdict)
    if isinstance(output, BaseModel) and "answer" in type(output).model_fields:
        return _model(output, text, verdict)
    return text


def replace(output: Any, text: str, verdict: Verdict) -> Any:
    """A refusal shaped like `output`: a fresh AIMessage, or its answer replaced."""
    if isinstance(output, BaseMessage):
        metadata = {METADATA_KEY: verdict.to_metadata()}
        return AIMessage(content=text, id=output.id, response_metadata=metadata)
    if isinstance(output, Mapping):
        key = answer_key(output)
        updated = dict(output)
        if key is not None:
            updated[key] = replace(output[key], text, verdict)
        updated[METADATA_KEY] = verdict.to_metadata()
        return updated
    return attach(output, text, verdict)


def _message(message: BaseMessage, text: str, verdict: Verdict) -> BaseMessage:
    metadata = {**message.response_metadata, METADATA_KEY: verdict.to_metadata()}
    update: dict[str, Any] = {"response_metadata": metadata}
    if message.text != text:  # keep structured content when the answer stands
        update["content"] = text
    return message.model_copy(update=update)


def _mapping(output: Mapping[str, Any], text: str, verdict: Verdict) -> dict[str, Any]:
    updated = dict(output)
    key = answer_key(output)
    if key is not None:
        updated[key] = attach(output[key], text, verdict)
    updated[METADATA_KEY] = verdict.to_metadata()
    return updated


def _model(output: BaseModel, text: str, verdict: Verdict) -> BaseModel:
    update: dict[str, Any] = {"answer": text}
    if "verdict" in type(output).model_fields:
        update["verdict"] = verdict
    return output.model_copy(update=update)


__all__ = ["attach", "given_text", "replace"]
