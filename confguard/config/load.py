"""Read a guard config file: strict YAML, environment secrets, located errors.

The YAML is read by the policy's strict loader (`confguard.policy._yaml`): a key
given twice is refused with its line, and ``1e9`` is a number. Every error is one
`ConfigurationError` naming the file, the line and the field, e.g.
``guard.yaml, line 7, signals[2].params.top_k: unknown parameter``.
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError
from pydantic_core import ErrorDetails

from confguard.config.model import FIELDS, GuardConfig
from confguard.config.presets import config_source
from confguard.exceptions import ConfigurationError, PolicyError
from confguard.paths import read_text
from confguard.policy import _yaml

FieldPath = tuple[str | int, ...]
"""Where a value sits in the file: ("signals", 2, "params", "top_k")."""

_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


class LoadedConfig(BaseModel):
    """A validated config, where it came from, and which values are secrets."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    config: GuardConfig
    source: str
    """The file, as errors name it."""
    secrets: frozenset[FieldPath] = frozenset()
    """The fields filled from environment variables (masked by `show`)."""
    document: _yaml.Document
    """The parsed text, to find the line of a field an error names."""

    def error(self, where: FieldPath, message: str) -> ConfigurationError:
        """A `ConfigurationError` naming this file, the line of `where` and `where`."""
        return located(self.source, self.document, where, message)


def field_name(where: FieldPath) -> str:
    """The field path as a reader writes it: ``signals[2].params.top_k``."""
    text = ""
    for part in where:
        text += f"[{part}]" if isinstance(part, int) else f".{part}"
    return text.lstrip(".") or "config"


def located(
    source: str, document: _yaml.Document | None, where: FieldPath, message: str
) -> ConfigurationError:
    """One error line: file, line (when the text holds the field), field, message."""
    line = document.line_of(".".join(map(str, where))) if document else None
    at = f", line {line}" if line is not None else ""
    return ConfigurationError(f"{source}{at}, {field_name(where)}: {message}")


def load(
    path: str | os.PathLike[str], env: Mapping[str, str] | None = None
) -> LoadedConfig:
    """Read and validate the config at `path`; secrets come from `env` (os.environ).

    Example:
        >>> load("examples/guard.yaml").config.signals[0].type
        'min_token_prob'
    """
    file = config_source(path)
    source = str(path) if file == Path(path) else f"preset {path} ({file.name})"
    document = _parsed(read_text(file, "config file", ConfigurationError), source)
    if not isinstance(document.data, dict):
        kind = "nothing" if document.data is None else type(document.data).__name__
        raise ConfigurationError(
            f"{source}: a guard config is a mapping with at least `signals:`, "
            f"got {kind}"
        )
    secrets: set[FieldPath] = set()
    data = _substituted(document.data, (), env or os.environ, secrets, source, document)
    try:
        config = GuardConfig.model_validate(data)
    except ValidationError as exc:
        raise _first(exc, source, document) from None
    return LoadedConfig(
        config=config, source=source, secrets=frozenset(secrets), document=document
    )


def _parsed(text: str, source: str) -> _yaml.Document:
    try:
        return _yaml.load(text, source)
    except PolicyError as exc:  # the policy's loader names the policy; this is a config
        raise ConfigurationError(str(exc)) from None


def _substituted(
    value: Any,
    where: FieldPath,
    env: Mapping[str, str],
    secrets: set[FieldPath],
    source: str,
    document: _yaml.Document,
) -> Any:
    """`value` with ``${NAME}`` and ``{env: NAME}`` read from `env`, recursively."""

    def walk(item: Any, at: FieldPath) -> Any:
        if _is_env_ref(item):
            return variable(item["env"], at)
        if isinstance(item, dict):
            return {k: walk(v, (*at, str(k))) for k, v in item.items()}
        if isinstance(item, list):
            return [walk(v, (*at, i)) for i, v in enumerate(item)]
        if isinstance(item, str) and _VARIABLE.search(item):
            return _VARIABLE.sub(lambda m: variable(m.group(1), at), item)
        return item

    def variable(name: str, at: FieldPath) -> str:
        if name not in env:
            message = f"the environment variable {name} is not set"
            raise located(source, document, at, message)
        secrets.add(at)
        return env[name]

    return walk(value, where)


def _is_env_ref(item: Any) -> bool:
    return (
        isinstance(item, dict)
        and list(item) == ["env"]
        and isinstance(item["env"], str)
    )


def _first(
    exc: ValidationError, source: str, document: _yaml.Document
) -> ConfigurationError:
    # One error line. A misspelt key is the likeliest cause of the rest (the key it
    # meant is then "missing"), so it is reported first.
    errors = exc.errors()
    error = next((e for e in errors if e["type"] == "extra_forbidden"), errors[0])
    where: FieldPath = tuple(error["loc"])
    return located(source, document, where, _what(error, where))


_EXPECTED = {
    "float_type": "a number",
    "int_type": "a whole number",
    "bool_type": "true or false",
    "string_type": "a string",
    "dict_type": "a mapping",
    "tuple_type": "a list",
    "list_type": "a list",
    "model_type": "a mapping",
}


def _what(error: ErrorDetails, where: FieldPath) -> str:
    kind = error["type"]
    if kind == "extra_forbidden":
        return _unknown_field(where)
    if kind in _EXPECTED:
        return f"expected {_EXPECTED[kind]}, got {error['input']!r}"
    if kind == "greater_than_equal":
        limit = (error.get("ctx") or {}).get("ge")
        return f"must be >= {limit}, got {error['input']!r}"
    if kind == "missing":
        return "required"
    if kind == "too_short":
        return "give at least one"
    if kind == "literal_error":
        expected = (error.get("ctx") or {}).get("expected", "")
        return f"unknown value {error['input']!r}; expected {expected}"
    return error["msg"].removeprefix("Value error, ")


def _unknown_field(where: FieldPath) -> str:
    if len(where) > 1 and where[-1] == "name":  # as a policy's strategies have it
        return (
            "unknown field; a component's registry name is `type:` "
            "(`params.name` renames a signal)"
        )
    if len(where) != 1:
        return "unknown field"
    near = difflib.get_close_matches(str(where[0]), FIELDS, n=1)
    hint = f" (did you mean {near[0]!r}?)" if near else ""
    return f"unknown field{hint}; the fields are: {', '.join(FIELDS)}"


__all__ = ["FieldPath", "LoadedConfig", "field_name", "load", "located"]
