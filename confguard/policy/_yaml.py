"""Strict YAML for policy files: duplicate keys refused, every key's line known.

PyYAML's `safe_load` keeps the last of two equal keys and reads ``1e9`` as a string;
a policy must do neither, so this loader refuses the first and reads the second as a
number (as YAML 1.2 does). The composed node tree is kept so that a validation error
can say on which line the field it names was written.
"""

from __future__ import annotations

import re
from collections.abc import Hashable
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from confguard.exceptions import PolicyError

# YAML 1.2 floats without a dot (``1e9``, ``5E-3``), which YAML 1.1 leaves strings.
_EXPONENT_FLOAT = re.compile(r"^[-+]?[0-9][0-9_]*[eE][-+]?[0-9]+$")
_INDEX = re.compile(r"\[(\d+)\]")


class DuplicateKeyError(yaml.YAMLError):
    """A mapping gives one key twice; `load` turns it into a PolicyError."""

    def __init__(self, key: Hashable, line: int, first: int) -> None:
        super().__init__(f"the key {key!r} is given twice (first at line {first})")
        self.key, self.line = key, line


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses a key given twice in one mapping, naming its line."""

    def construct_mapping(self, node: MappingNode, deep: bool = False) -> Any:
        seen: dict[Hashable, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue  # keys brought in by `<<:` are meant to be overridden
            key = self.construct_object(key_node, deep=True)
            if not isinstance(key, Hashable):
                continue  # SafeLoader itself refuses it, with its own message
            line = key_node.start_mark.line + 1
            if key in seen:
                raise DuplicateKeyError(key, line, seen[key])
            seen[key] = line
        return super().construct_mapping(node, deep=deep)


_StrictLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float", _EXPONENT_FLOAT, list("-+0123456789")
)


class Document:
    """A parsed YAML document: its data, and where each of its keys was written."""

    def __init__(self, data: Any, root: Node | None) -> None:
        self.data, self._root = data, root

    def line_of(self, field: str | None) -> int | None:
        """The line of the deepest key of `field` that the text holds.

        The field is dotted (``retry.strategies.0.name``) or bracketed
        (``rules[1].when.any[0]``).
        """
        node, line = self._root, None
        for part in _INDEX.sub(r".\1", field or "").split("."):
            found = _child(node, part)
            if found is None:
                break
            line, node = found[0].start_mark.line + 1, found[1]
        return line


def _child(node: Node | None, part: str) -> tuple[Node, Node] | None:
    if isinstance(node, MappingNode):
        for key, value in node.value:
            if isinstance(key, ScalarNode) and key.value == part:
                return key, value
    items = node.value if isinstance(node, SequenceNode) else []
    if part.isdigit() and int(part) < len(items):
        return items[int(part)], items[int(part)]
    return None


def load(text: str, source: str = "policy YAML") -> Document:
    """Parse one YAML document strictly; `PolicyError` names `source` and the line.

    Example:
        >>> load("thresholds: {accept: 0.8}").line_of("thresholds.accept")
        1
    """
    loader = _StrictLoader(text)
    try:
        root = loader.get_single_node()
        data = None if root is None else loader.construct_document(root)
    except yaml.YAMLError as exc:
        raise _refused(exc, source) from exc
    finally:
        loader.dispose()
    return Document(data, root)


def dump(data: Any) -> str:
    """Plain data as YAML that `load` reads back (keys in their given order)."""
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)


def _refused(exc: yaml.YAMLError, source: str) -> PolicyError:
    if isinstance(exc, DuplicateKeyError):
        return PolicyError(f"{source}, line {exc.line}: {exc}", field=str(exc.key))
    mark = getattr(exc, "problem_mark", None)
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
    problem = getattr(exc, "problem", None) or str(exc)
    return PolicyError(f"{source} is malformed{where}: {problem}")


__all__ = ["Document", "DuplicateKeyError", "dump", "load"]
