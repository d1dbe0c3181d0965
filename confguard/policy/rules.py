"""Policy rules: a condition on individual signals, and the action it leads to.

Rules are read strictly, from YAML or a dict, and every error is a `PolicyError`
naming the field path, e.g. ``rules[1].when.any[0].confidence.lt: must be a number in
[0, 1], got 1.5``. The YAML form of a condition (see `parse_condition`):

    {signal: judge, status: failed}              # or [skipped, failed]
    {signal: rpc, confidence: {lt: 0.3}}         # lt, le, gt, ge; several all hold
    {signal: situated, detail: {key: conflict, eq: true}}   # eq, ne, lt, le, gt, ge
    {any: [...]}, {all: [...]}, {not: {...}}
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from confguard.exceptions import PolicyError
from confguard.policy.builtin_strategies import checked_strategy
from confguard.policy.conditions import (
    EQUALITY,
    ORDERED,
    STATUSES,
    AllOf,
    AnyOf,
    Condition,
    Confidence,
    Detail,
    Not,
    Status,
    Test,
    confidence_test,
    detail_test,
)
from confguard.results import Action, RetryStrategy

ACTIONS: tuple[Action, ...] = ("accept", "annotate", "retry", "escalate", "abstain")
PERMISSIVE: tuple[Action, ...] = ("accept", "annotate")
"""Actions a rule may not take on missing evidence under fail_closed (see decide)."""
ONLY: dict[str, Action] = {
    "route": "escalate",
    "strategy": "retry",
    "caveat": "annotate",
    "message": "abstain",
}
"""Rule fields that only one action takes."""
RULE_FIELDS = ("name", "when", "then", "reason", *ONLY)
LEAF_TESTS = ("status", "confidence", "detail")
GROUPS = ("any", "all", "not")


@dataclass(frozen=True)
class Rule:
    """When `when` holds, `then` decides, before the confidence bands.

    Example:
        >>> Rule(when=signal("situated").detail("conflict").eq(True),
        ...      then="escalate", name="context_conflict")
    """

    when: Condition
    then: Action
    name: str | None = None
    """Named in the decision's reason (else the condition's rendering)."""
    reason: str | None = None
    """Words added to the decision's reason."""
    route: str | None = None
    """escalate only: the route; defaults to the policy's escalate.route."""
    strategy: RetryStrategy | None = None
    """retry only: the strategy; defaults to the policy's next retry strategy."""
    caveat: str | None = None
    """annotate only: the caveat; defaults to the policy's annotate.caveat."""
    message: str | None = None
    """abstain only: the message; defaults to the policy's abstain.message."""

    @property
    def label(self) -> str:
        """How a decision's reason names the rule."""
        return repr(self.name) if self.name else self.when.render()

    @property
    def permissive(self) -> bool:
        """True for accept and annotate: they let an answer through."""
        return self.then in PERMISSIVE

    def to_data(self) -> dict[str, Any]:
        """The plain-data (YAML) form; `parse_rule` reads it back."""
        data: dict[str, Any] = {"name": self.name, "when": self.when.to_data()}
        data |= {"then": self.then, "reason": self.reason, "route": self.route}
        data |= {"strategy": _strategy_data(self.strategy)}
        data |= {"caveat": self.caveat, "message": self.message}
        return {key: value for key, value in data.items() if value is not None}


def _strategy_data(strategy: RetryStrategy | None) -> Any:
    if strategy is None:
        return None
    if not strategy.params:
        return strategy.name
    return strategy.model_dump(mode="json")


def rules_data(rules: tuple[Rule, ...]) -> list[dict[str, Any]]:
    """Every rule's plain-data form."""
    return [rule.to_data() for rule in rules]


# --- parsing ------------------------------------------------------------------------


def parse_rules(value: object, path: str = "rules") -> tuple[Rule, ...]:
    """A list of rules (mappings or `Rule`s), each checked, names unique."""
    if not isinstance(value, list | tuple):
        raise _error(path, f"expected a list of rules, got {_kind(value)}")
    rules = tuple(parse_rule(item, f"{path}[{i}]") for i, item in enumerate(value))
    unique_names([rule.name for rule in rules], path)
    return rules


def unique_names(names: Sequence[str | None], path: str) -> None:
    """Refuse a name given twice in the list at `path` (None: unnamed)."""
    seen: dict[str, int] = {}
    for i, name in enumerate(names):
        if name is not None and name in seen:
            first = f"{path}[{seen[name]}]"
            raise _error(f"{path}[{i}].name", f"{name!r} is also {first}'s name")
        if name is not None:
            seen.setdefault(name, i)


def parse_rule(value: object, path: str) -> Rule:
    """One rule from its mapping (or a `Rule`, checked again the same way)."""
    data = _mapping(value.to_data() if isinstance(value, Rule) else value, path)
    _known(data, RULE_FIELDS, path)
    for key in ("when", "then"):
        if key not in data:
            raise _error(f"{path}.{key}", "required")
    then = _then(data["then"], f"{path}.then")
    for key, action in ONLY.items():
        if key in data and then != action:
            raise _error(
                f"{path}.{key}", f"only {action} rules take {key}; this one is {then}"
            )
    texts = {k: _text(data, k, path) for k in ("name", "reason", "route", "message")}
    return Rule(
        when=parse_condition(data["when"], f"{path}.when"),
        then=then,
        strategy=_rule_strategy(data, path),
        caveat=_caveat(data, path),
        **texts,
    )


def _then(value: object, path: str) -> Action:
    for action in ACTIONS:
        if value == action and isinstance(value, str):
            return action
    expected = ", ".join(repr(a) for a in ACTIONS)
    raise _error(path, f"unknown action {value!r}; expected one of {expected}")


def _text(data: Mapping[str, Any], key: str, path: str) -> Any:
    value = data.get(key)
    if value is not None and not (isinstance(value, str) and value.strip()):
        raise _error(f"{path}.{key}", f"expected a non-empty string, got {value!r}")
    return value


def _caveat(data: Mapping[str, Any], path: str) -> str | None:
    caveat = _text(data, "caveat", path)
    if caveat is None:
        return None
    try:
        caveat.format(confidence=0.5)
    except (KeyError, IndexError, ValueError) as exc:
        raise _error(
            f"{path}.caveat",
            f"invalid template ({exc!r}); only {{confidence}} is available",
        ) from None
    return str(caveat)


def _rule_strategy(data: Mapping[str, Any], path: str) -> RetryStrategy | None:
    value, where = data.get("strategy"), f"{path}.strategy"
    if value is None:
        return None
    if isinstance(value, str):
        value = {"name": value}
    if isinstance(value, RetryStrategy):
        value = value.model_dump()
    if not isinstance(value, Mapping):
        raise _error(where, f"expected a name or {{name, params}}, got {value!r}")
    try:
        strategy = RetryStrategy.model_validate(value)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join([where, *map(str, first["loc"])])
        raise _error(field, f"{first['msg']}, got {first['input']!r}") from None
    try:
        return checked_strategy(strategy)
    except ValueError as exc:
        raise _error(f"{where}.params", str(exc)) from None


def parse_condition(value: object, path: str) -> Condition:
    """A condition from its plain-data form (a `Condition` is taken as it is)."""
    if isinstance(value, Condition):
        return value
    data = _mapping(value, path)
    groups = [key for key in GROUPS if key in data]
    if groups:
        return _group(data, groups[0], path)
    _known(data, ("signal", *LEAF_TESTS), path)
    if "signal" not in data:
        raise _error(f"{path}.signal", "required (or one of any, all, not)")
    name = data["signal"]
    if not (isinstance(name, str) and name):
        raise _error(f"{path}.signal", f"expected a signal's name, got {name!r}")
    tests = [key for key in LEAF_TESTS if key in data]
    if len(tests) != 1:
        got = ", ".join(tests) if tests else "none"
        raise _error(path, f"give exactly one of status, confidence, detail; got {got}")
    return _leaf(name, tests[0], data[tests[0]], f"{path}.{tests[0]}")


def _group(data: Mapping[str, Any], key: str, path: str) -> Condition:
    others = [k for k in data if k != key]
    if others:
        raise _error(f"{path}.{others[0]}", f"{key}: stands alone in its mapping")
    if key == "not":
        return Not(parse_condition(data[key], f"{path}.not"))
    items = data[key]
    if not isinstance(items, list | tuple) or not items:
        raise _error(f"{path}.{key}", f"expected a non-empty list, got {items!r}")
    operands = tuple(
        parse_condition(item, f"{path}.{key}[{i}]") for i, item in enumerate(items)
    )
    return AnyOf(operands) if key == "any" else AllOf(operands)


def _leaf(name: str, test: str, value: object, path: str) -> Condition:
    if test == "status":
        return Status(name, _statuses(value, path))
    if test == "confidence":
        ops = _ops(value, path, {}, "{lt: 0.3}")
        return Confidence(name, _tests(ops, path, confidence_test))
    ops = _ops(value, path, {"key": None}, "{key: conflict, eq: true}")
    key = ops.pop("key", None)
    if not (isinstance(key, str) and key):
        raise _error(f"{path}.key", f"required: the detail's name, got {key!r}")
    return Detail(name, key, _tests(ops, path, detail_test))


def _statuses(value: object, path: str) -> tuple[str, ...]:
    items = list(value) if isinstance(value, list | tuple) and value else [value]
    for i, item in enumerate(items):
        if item not in STATUSES or not isinstance(item, str):
            where = path if len(items) == 1 else f"{path}[{i}]"
            raise _error(
                where, f"unknown status {item!r}; expected 'ok', 'skipped' or 'failed'"
            )
    return tuple(dict.fromkeys(str(item) for item in items))


def _ops(
    value: object, path: str, extra: dict[str, None], example: str
) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise _error(path, f"expected a mapping such as {example}, got {value!r}")
    allowed = (*extra, *ORDERED, *(EQUALITY if extra else ()))
    _known(value, allowed, path, what="comparison")
    ops = dict(value)
    if not set(ops) - set(extra):
        names = ", ".join(a for a in allowed if a not in extra)
        raise _error(path, f"give at least one comparison ({names})")
    return ops


def _tests(
    ops: Mapping[str, Any], path: str, check: Callable[[str, object], Test]
) -> Test:
    test: Test = ()
    for op, value in ops.items():
        try:
            test += check(op, value)
        except ValueError as exc:
            raise _error(f"{path}.{op}", str(exc)) from None
    return test


# --- helpers ------------------------------------------------------------------------


def _mapping(value: object, path: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise _error(path, f"expected a mapping, got {_kind(value)}")
    return value


def _known(
    data: Mapping[str, Any], allowed: tuple[str, ...], path: str, what: str = "field"
) -> None:
    for key in data:
        if key not in allowed:
            expected = ", ".join(allowed)
            raise _error(f"{path}.{key}", f"unknown {what}; expected {expected}")


def _kind(value: object) -> str:
    return f"{type(value).__name__} {value!r}"


def _error(field: str, message: str) -> PolicyError:
    return PolicyError(f"{field}: {message}", field=field)


__all__ = [
    "ACTIONS",
    "PERMISSIVE",
    "Rule",
    "parse_condition",
    "parse_rule",
    "parse_rules",
    "rules_data",
    "unique_names",
]
