"""Find the question in a Runnable's input and the answer in its output.

Inputs: a string, a message, a list of messages (or ``("human", "...")`` tuples),
a PromptValue, or a dict with a ``question`` / ``input`` / ``query`` key.
Outputs: a string, a message, a Document, a dict with an ``answer`` / ``output`` /
``result`` / ``text`` key, or a pydantic model with an ``answer`` field.
Anything else needs an explicit extractor (``question_from=`` / ``answer_from=``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from langchain_core.documents import Document
from langchain_core.messages import BaseMessage, HumanMessage, convert_to_messages
from langchain_core.prompt_values import PromptValue
from pydantic import BaseModel

from confguard.exceptions import ObservationError
from confguard.observation import Context

QUESTION_KEYS = ("question", "input", "query")
ANSWER_KEYS = ("answer", "output", "result", "text")
SCORE_KEYS = ("score", "relevance_score", "similarity_score", "_similarity_score")

QuestionFrom = Callable[[Any], str]
AnswerFrom = Callable[[Any], "str | None"]


def question_text(value: Any) -> str:
    """The question asked by a Runnable input.

    Example:
        >>> question_text({"question": "Who won?", "lang": "en"})
        'Who won?'
    """
    if isinstance(value, str):
        return value
    if isinstance(value, BaseMessage):
        return value.text
    if isinstance(value, PromptValue):
        return _last_human(value.to_messages())
    if isinstance(value, Mapping):
        return question_text(_keyed(value, QUESTION_KEYS, "question"))
    if isinstance(value, Sequence):
        return _last_human(_messages(value))
    raise ObservationError(
        f"cannot find the question in a {type(value).__name__} input; pass "
        "question_from=<function input -> str>"
    )


def _messages(value: Sequence[Any]) -> list[BaseMessage]:
    try:
        return convert_to_messages(value)
    except (ValueError, TypeError, NotImplementedError) as exc:
        raise ObservationError(
            f"input list is not a list of messages ({exc}); pass question_from=..."
        ) from exc


def _last_human(messages: Sequence[BaseMessage]) -> str:
    for message in reversed(messages):
        if isinstance(message, HumanMessage):
            return message.text
    if messages:
        return messages[-1].text
    raise ObservationError("the input holds no message to take the question from")


def _keyed(value: Mapping[str, Any], keys: Sequence[str], what: str) -> Any:
    for key in keys:
        if key in value:
            return value[key]
    raise ObservationError(
        f"cannot find the {what} in a dict with keys {sorted(map(str, value))}; "
        f"expected one of {list(keys)} or pass {what}_from=..."
    )


def answer_text(value: Any) -> str | None:
    """The answer text of a Runnable output; None when the output carries no text.

    A message with only tool calls has no text; so has ``None``.

    Example:
        >>> answer_text(AIMessage("Paris"))
        'Paris'
    """
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, BaseMessage):
        return value.text or None
    if isinstance(value, Document):
        return value.page_content
    if isinstance(value, Mapping):
        return answer_text(_keyed(value, ANSWER_KEYS, "answer"))
    answer = getattr(value, "answer", None) if isinstance(value, BaseModel) else None
    if isinstance(answer, str):
        return answer
    raise ObservationError(
        f"cannot find the answer text in a {type(value).__name__} output; pass "
        "answer_from=<function output -> str | None>"
    )


def answer_key(value: Mapping[str, Any]) -> str | None:
    """The key a dict output keeps its answer under, if any."""
    return next((key for key in ANSWER_KEYS if key in value), None)


def document_context(document: Document, retriever: str | None = None) -> Context:
    """A retrieved Document as an Observation context.

    Example:
        >>> document_context(Document("Paris is...", metadata={"score": 0.7})).score
        0.7
    """
    metadata = document.metadata
    source = metadata.get("source", document.id)
    return Context(
        text=document.page_content,
        source=None if source is None else str(source),
        score=_score(metadata),
        retriever=retriever,
    )


def _score(metadata: Mapping[str, Any]) -> float | None:
    for key in SCORE_KEYS:
        value = metadata.get(key)
        if isinstance(value, bool) or not isinstance(value, int | float):
            continue
        if math.isfinite(value):
            return float(value)
    return None


__all__ = [
    "ANSWER_KEYS",
    "QUESTION_KEYS",
    "AnswerFrom",
    "QuestionFrom",
    "answer_key",
    "answer_text",
    "document_context",
    "question_text",
]
