"""Read token logprobs off LangChain messages and generations, in every known shape.

Where providers put them (first found wins):

- ``response_metadata["logprobs"]``: OpenAI-style chat ``{"content": [...]}``
  (langchain-openai, Groq, Fireworks, DeepSeek, vLLM, ...), llama.cpp / legacy
  completions ``{"tokens", "token_logprobs", "top_logprobs"}``, or a plain list
  of ``{"token", "logprob", "top_logprobs"}`` entries (Ollama);
- ``response_metadata["logprobs_result"]``: Google Gemini / Vertex, either the
  converted entry list or the raw ``{"chosen_candidates", "top_candidates"}``;
- ``additional_kwargs["logprobs"]`` (older integrations);
- a (non-chat) ``Generation.generation_info["logprobs"]``.

Streamed chunks carry their slice of the list; LangChain concatenates the slices
when it merges the chunks. Shapes are parsed by `confguard.logprobs.normalize`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from langchain_core.messages import BaseMessage
from langchain_core.outputs import ChatGeneration, Generation

from confguard.exceptions import LogprobFormatError
from confguard.logprobs import normalize
from confguard.observation import TokenLogprob

Tokens = tuple[TokenLogprob, ...]

_METADATA_KEYS = ("logprobs", "logprobs_result")


def message_logprobs(message: BaseMessage) -> Tokens | None:
    """The message's token logprobs, or None when the model exposed none.

    Raises `LogprobFormatError` for a shape confguard does not know.

    Example:
        >>> msg = AIMessage("Paris", response_metadata={"logprobs": {"content": [
        ...     {"token": "Paris", "logprob": -0.1, "top_logprobs": []}]}})
        >>> message_logprobs(msg)[0].logprob
        -0.1
    """
    raw = find_raw_logprobs(message.response_metadata, message.additional_kwargs)
    return None if raw is None else parse_logprobs(raw)


def generation_logprobs(generation: Generation) -> Tokens | None:
    """The logprobs of one generation: its message's, else its generation_info's."""
    if isinstance(generation, ChatGeneration):
        found = message_logprobs(generation.message)
        if found is not None:
            return found
    raw = find_raw_logprobs(generation.generation_info or {})
    return None if raw is None else parse_logprobs(raw)


def find_raw_logprobs(*sources: Mapping[str, Any]) -> object | None:
    """The first non-empty logprob payload under a known key of the sources."""
    for source in sources:
        for key in _METADATA_KEYS:
            value: object = source.get(key)
            if value is not None and value != {} and value is not False:
                return value
    return None


def parse_logprobs(raw: object) -> Tokens:
    """Normalise one provider payload (Gemini's raw candidates included)."""
    if isinstance(raw, Mapping) and "chosen_candidates" in raw:
        return normalize(_gemini_entries(raw))
    return normalize(raw)


def _gemini_entries(raw: Mapping[str, Any]) -> list[dict[str, Any]]:
    chosen: Sequence[Any] = raw.get("chosen_candidates") or []
    tops: Sequence[Any] = raw.get("top_candidates") or []
    if tops and len(tops) != len(chosen):
        raise LogprobFormatError(
            f"Gemini logprobs disagree in length: {len(chosen)} chosen_candidates, "
            f"{len(tops)} top_candidates"
        )
    return [
        {
            "token": _get(item, "token"),
            "logprob": _get(item, "log_probability"),
            "top_logprobs": [
                {"token": _get(c, "token"), "logprob": _get(c, "log_probability")}
                for c in (_get(tops[i], "candidates") or [] if tops else [])
            ],
        }
        for i, item in enumerate(chosen)
    ]


def _get(item: Any, name: str) -> Any:
    return item.get(name) if isinstance(item, Mapping) else getattr(item, name, None)


def openai_logprobs(tokens: Sequence[TokenLogprob]) -> dict[str, Any]:
    """Tokens in OpenAI's chat shape ``{"content": [...]}`` (for response_metadata).

    Example:
        >>> openai_logprobs([TokenLogprob(token="Hi", logprob=-0.2)])["content"][0]
        {'token': 'Hi', 'logprob': -0.2, 'bytes': [72, 105], 'top_logprobs': []}
    """
    return {"content": [_openai_entry(t) for t in tokens]}


def _openai_entry(token: TokenLogprob) -> dict[str, Any]:
    return {
        "token": token.token,
        "logprob": token.logprob,
        "bytes": list(token.token.encode("utf-8")),
        "top_logprobs": [
            {
                "token": t.token,
                "logprob": t.logprob,
                "bytes": list(t.token.encode("utf-8")),
            }
            for t in token.top_logprobs
        ],
    }


__all__ = [
    "find_raw_logprobs",
    "generation_logprobs",
    "message_logprobs",
    "openai_logprobs",
    "parse_logprobs",
]
