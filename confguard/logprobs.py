"""Normalise every provider's logprob shape into a tuple of TokenLogprob.

Shapes understood (one small parser each, tried in order by a dispatch table):

- confguard's own ``TokenLogprob`` sequence (returned as a tuple);
- OpenAI chat ``{"content": [{"token", "logprob", "top_logprobs": [...]}, ...]}``,
  or the SDK's ``ChoiceLogprobs`` object with the same attributes;
- llama.cpp / OpenAI legacy completions ``{"tokens", "token_logprobs",
  "top_logprobs": [{token: logprob}, ...]}`` (``None`` alternatives allowed);
- a response or choice that carries ``.logprobs`` / ``["logprobs"]`` (Ollama
  ``ChatResponse``, OpenAI ``Choice``), and ``{"choices": [one choice]}``;
- LlamaIndex ``List[List[LogProb]]``: each inner list holds the top-k
  alternatives at a position; LlamaIndex keeps no separate chosen token, so the
  first entry is taken as the chosen one (true under greedy decoding);
- a bare list of entries with ``token`` / ``logprob`` / ``top_logprobs`` (dicts or
  objects: OpenAI ``ChatCompletionTokenLogprob``, Ollama ``Logprob``).

Values are cast with ``float`` (numpy floats included); values a hair above 0
from float error are clamped to 0.0; NaN and infinities are rejected.
"""

from __future__ import annotations

import math
import reprlib
from collections.abc import Callable, Mapping, Sequence
from typing import Any, SupportsFloat, TypeGuard, cast

from confguard.exceptions import LogprobFormatError
from confguard.observation import TokenLogprob, TopLogprob

__all__ = ["normalize"]

_Tokens = tuple[TokenLogprob, ...]

# A logprob above 0 this small is float noise (e.g. a float32 log-softmax of ~1).
_CLAMP_TOLERANCE = 1e-4
_MISSING: Any = object()


def normalize(raw: object) -> _Tokens:
    """Turn any supported provider logprob shape into a tuple of TokenLogprob.

    Example:
        >>> normalize({"content": [{"token": "Paris", "logprob": -0.01,
        ...                         "top_logprobs": []}]})
        (TokenLogprob(token='Paris', logprob=-0.01, top_logprobs=()),)
    """
    if raw is None:
        raise LogprobFormatError(
            "no logprobs given (None); build the Observation with logprobs=None "
            "instead, and token signals will report 'skipped'"
        )
    for _, matches, parse in _SHAPES:
        if matches(raw):
            return parse(raw)
    known = ", ".join(name for name, _, _ in _SHAPES)
    raise LogprobFormatError(
        f"unrecognised logprob shape {type(raw).__name__}: {_short(raw)} "
        f"(known shapes: {known})"
    )


# --- field access shared by dicts and objects -------------------------------


def _field(obj: object, name: str, default: Any = None) -> Any:
    if isinstance(obj, Mapping):
        return obj.get(name, default)
    return getattr(obj, name, default)


def _has(obj: object, name: str) -> bool:
    return _field(obj, name, _MISSING) is not _MISSING


def _is_list(value: object) -> TypeGuard[Sequence[Any]]:
    return isinstance(value, Sequence) and not isinstance(
        value, (str, bytes, bytearray)
    )


def _short(value: object) -> str:
    shortener = reprlib.Repr()
    shortener.maxstring = shortener.maxother = 60
    shortener.maxlist = shortener.maxtuple = shortener.maxdict = 3
    return shortener.repr(value)


# --- scalar conversion ------------------------------------------------------


def _token(value: object, position: int) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode("utf-8", errors="replace")
    raise LogprobFormatError(
        f"position {position}: token must be a string, got {_short(value)}"
    )


def _logprob(value: object, position: int) -> float:
    try:
        number = float(cast(SupportsFloat, value))
    except (TypeError, ValueError) as exc:
        raise LogprobFormatError(
            f"position {position}: logprob {_short(value)} is not a number"
        ) from exc
    if not math.isfinite(number):
        raise LogprobFormatError(f"position {position}: logprob {number} is not finite")
    if number > 0.0:
        if number <= _CLAMP_TOLERANCE:
            return 0.0
        raise LogprobFormatError(
            f"position {position}: logprob {number} > 0 is not a log-probability"
        )
    return number


# --- alternatives -----------------------------------------------------------


def _alternatives(value: object, position: int) -> tuple[TopLogprob, ...]:
    if value is None:
        return ()
    if isinstance(value, Mapping):  # llama.cpp: {token: logprob}
        return tuple(
            TopLogprob(token=_token(t, position), logprob=_logprob(lp, position))
            for t, lp in value.items()
        )
    if not _is_list(value):
        raise LogprobFormatError(
            f"position {position}: top_logprobs must be a list or a mapping, "
            f"got {type(value).__name__}"
        )
    return tuple(_alternative(item, position) for item in value)


def _alternative(item: object, position: int) -> TopLogprob:
    return TopLogprob(
        token=_token(_field(item, "token"), position),
        logprob=_logprob(_field(item, "logprob"), position),
    )


# --- one parser per shape ---------------------------------------------------


def _is_confguard(raw: object) -> bool:
    return _is_list(raw) and all(isinstance(t, TokenLogprob) for t in raw)


def _parse_confguard(raw: Any) -> _Tokens:
    return tuple(raw)


def _is_entries(raw: object) -> bool:
    if not _is_list(raw):
        return False
    return not raw or (_has(raw[0], "token") and _has(raw[0], "logprob"))


def _parse_entries(raw: Any) -> _Tokens:
    return tuple(_entry(item, i) for i, item in enumerate(raw))


def _entry(item: object, position: int) -> TokenLogprob:
    return TokenLogprob(
        token=_token(_field(item, "token"), position),
        logprob=_logprob(_field(item, "logprob"), position),
        top_logprobs=_alternatives(_field(item, "top_logprobs"), position),
    )


def _is_openai_chat(raw: object) -> bool:
    content = _field(raw, "content", _MISSING)
    # A refused answer comes as content=None beside a refusal field.
    return _is_list(content) or (content is None and _has(raw, "refusal"))


def _parse_openai_chat(raw: Any) -> _Tokens:
    content = _field(raw, "content")
    return () if content is None else _parse_entries(content)


def _is_completion(raw: object) -> bool:
    return _has(raw, "tokens") and _has(raw, "token_logprobs")


def _parse_completion(raw: Any) -> _Tokens:
    tokens = _field(raw, "tokens") or []
    logprobs = _field(raw, "token_logprobs") or []
    tops = _field(raw, "top_logprobs") or [None] * len(tokens)
    if not len(tokens) == len(logprobs) == len(tops):
        raise LogprobFormatError(
            f"completion logprobs disagree in length: {len(tokens)} tokens, "
            f"{len(logprobs)} token_logprobs, {len(tops)} top_logprobs"
        )
    return tuple(
        _completion_position(t, lp, top, i)
        for i, (t, lp, top) in enumerate(zip(tokens, logprobs, tops, strict=True))
    )


def _completion_position(
    token: object, logprob: object, top: object, position: int
) -> TokenLogprob:
    if logprob is None:
        raise LogprobFormatError(
            f"position {position}: token {_short(token)} has no logprob (None); "
            "llama.cpp gives None for the first prompt token under echo=True: "
            "pass only the generated tokens"
        )
    return TokenLogprob(
        token=_token(token, position),
        logprob=_logprob(logprob, position),
        top_logprobs=_alternatives(top, position),
    )


def _is_choices(raw: object) -> bool:
    return _is_list(_field(raw, "choices"))


def _parse_choices(raw: Any) -> _Tokens:
    choices = _field(raw, "choices")
    if len(choices) != 1:
        raise LogprobFormatError(
            f"a response with {len(choices)} choices is ambiguous: "
            "pass one choice's logprobs"
        )
    return _parse_response(choices[0])


def _is_response(raw: object) -> bool:
    return not isinstance(raw, (str, bytes)) and _has(raw, "logprobs")


def _parse_response(raw: Any) -> _Tokens:
    inner = _field(raw, "logprobs")
    if inner is None:
        raise LogprobFormatError(
            f"{type(raw).__name__} carries no logprobs (logprobs=None): "
            "ask the model for them (e.g. logprobs=True, top_logprobs>=1)"
        )
    return normalize(inner)


def _is_llamaindex(raw: object) -> bool:
    return _is_list(raw) and bool(raw) and _is_list(raw[0])


def _parse_llamaindex(raw: Any) -> _Tokens:
    return tuple(_llamaindex_position(alts, i) for i, alts in enumerate(raw))


def _llamaindex_position(alternatives: object, position: int) -> TokenLogprob:
    if not _is_list(alternatives) or not alternatives:
        raise LogprobFormatError(
            f"position {position}: no LogProb alternatives; LlamaIndex records the "
            "token only among its top_logprobs, so ask for top_logprobs>=1"
        )
    tops = _alternatives(alternatives, position)
    return TokenLogprob(token=tops[0].token, logprob=tops[0].logprob, top_logprobs=tops)


_Predicate = Callable[[object], bool]
_Parser = Callable[[Any], _Tokens]

# Order matters: containers (response, choices) before the lists they hold, and
# LlamaIndex's list of lists before the flat list of entries.
_SHAPES: tuple[tuple[str, _Predicate, _Parser], ...] = (
    ("confguard TokenLogprob list", _is_confguard, _parse_confguard),
    ("OpenAI chat logprobs", _is_openai_chat, _parse_openai_chat),
    ("llama.cpp / completions logprobs", _is_completion, _parse_completion),
    ("response with choices", _is_choices, _parse_choices),
    ("response or choice with .logprobs", _is_response, _parse_response),
    ("LlamaIndex List[List[LogProb]]", _is_llamaindex, _parse_llamaindex),
    ("list of token/logprob entries", _is_entries, _parse_entries),
)
