"""Give a streaming client the gated text only, on every LangChain streaming path.

Every attempt a guard scores runs tagged ``confguard:attempt`` (the runs of a
`GuardedRunnable`'s wrapped Runnable, and the model calls inside the agent
middlewares) and ``nostream`` (so LangGraph's ``stream_mode="messages"`` does not
stream their tokens at all); the gated answer is a new message with its own id.
`gated_stream` / `agated_stream` drop whatever an attempt still shows (its
``astream_events`` events, a ``messages`` chunk of a tagged run), so a client
that reads through them sees the gated answer and nothing else.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator, Mapping
from typing import Any, TypeVar

from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage

from confguard.streaming import pieces

ATTEMPT_TAG = "confguard:attempt"
"""The tag of every attempt's run and of everything inside it (filter on it)."""
NOSTREAM_TAG = "nostream"
"""LangGraph's tag for runs whose tokens ``stream_mode="messages"`` must skip."""
ATTEMPT_TAGS = (ATTEMPT_TAG, NOSTREAM_TAG)
"""The tags every attempt runs under."""
Item = TypeVar("Item")


def is_attempt(item: Any) -> bool:
    """Whether a streamed item comes from an ungated attempt (drop it).

    Understands ``astream_events`` events, ``stream_mode="messages"`` pairs
    ``(chunk, metadata)``, the ``(mode, payload)`` pairs of several modes, the
    ``(namespace, ...)`` tuples of ``subgraphs=True`` and ``version="v2"`` parts.

    Example:
        >>> is_attempt({"event": "on_chat_model_stream", "tags": [ATTEMPT_TAG]})
        True
    """
    if isinstance(item, Mapping):
        if "event" in item:
            return _tagged(item.get("tags"), item.get("metadata"))
        return item.get("type") == "messages" and is_attempt(item.get("data"))
    if not isinstance(item, tuple) or len(item) < 2:
        return False
    *head, last = item
    if isinstance(head[0], BaseMessage) and isinstance(last, Mapping):
        return _tagged(last.get("tags"), last)  # (message chunk, metadata)
    mode = head[-1] if isinstance(head[-1], str) else "messages"
    return mode == "messages" and isinstance(last, tuple) and is_attempt(last)


def _tagged(tags: Any, metadata: Any) -> bool:
    if tags and ATTEMPT_TAG in tags:
        return True
    return isinstance(metadata, Mapping) and "confguard_attempt" in metadata


def gated_stream(items: Iterable[Item]) -> Iterator[Item]:
    """The items of a stream that carry gated text only (attempts dropped).

    Example:
        >>> stream = graph.stream(state, stream_mode="messages")
        >>> for chunk, meta in gated_stream(stream):
        ...     print(chunk.content, end="")
    """
    return (item for item in items if not is_attempt(item))


async def agated_stream(items: AsyncIterable[Item]) -> AsyncIterator[Item]:
    """Async twin of `gated_stream` (e.g. over ``astream_events``).

    Example:
        >>> async for event in agated_stream(chain.astream_events(q, version="v2")):
        ...     handle(event)
    """
    async for item in items:
        if not is_attempt(item):
            yield item


def message_chunks(message: AIMessage) -> list[AIMessage | AIMessageChunk]:
    """A gated message released as chunks; the verdict rides on the last one.

    Only plain-text messages are cut (tool calls, structured content and other
    fields would not survive being split); they are released whole.
    """
    if not isinstance(message.content, str) or message.tool_calls:
        return [message]
    parts = list(pieces(message.content)) or [""]
    head = [
        AIMessageChunk(content=part, id=message.id, name=message.name)
        for part in parts[:-1]
    ]
    last = AIMessageChunk(
        content=parts[-1],
        id=message.id,
        response_metadata=message.response_metadata,
        additional_kwargs=message.additional_kwargs,
        usage_metadata=message.usage_metadata,
        name=message.name,
        chunk_position="last",
    )
    return [*head, last]


def text_chunks(output: Any) -> list[Any]:
    """A gated output released as chunks: messages and strings cut, others whole."""
    if isinstance(output, AIMessage):
        return list(message_chunks(output))
    if isinstance(output, str):
        return list(pieces(output)) or [output]
    return [output]


__all__ = [
    "ATTEMPT_TAG",
    "ATTEMPT_TAGS",
    "NOSTREAM_TAG",
    "agated_stream",
    "gated_stream",
    "is_attempt",
    "message_chunks",
    "text_chunks",
]
