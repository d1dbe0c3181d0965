"""Boolean conditions on individual signals, for policy rules.

A condition tests one signal's status, its confidence against a number, or one of its
`details`; conditions compose with ``|``, ``&`` and ``~`` (like tenacity's
``stop_*``), and each has one plain-data form (its YAML) and one Python rendering.

`holds` is three-valued: a signal absent from the results is *unknown*, and ``|``,
``&`` and ``~`` follow Kleene's logic, so the cascade can tell whether a condition is
already settled whatever the signals still to run report (a condition that is True
or False with unknowns stays so for every value they could take).

Example:
    >>> cond = signal("situated").detail("conflict").eq(True) | (
    ...     signal("judge").confidence < 0.3
    ... )
    >>> cond.to_data()
    {'any': [{'signal': 'situated', 'detail': {'key': 'conflict', 'eq': True}},
             {'signal': 'judge', 'confidence': {'lt': 0.3}}]}
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, TypeGuard

from confguard.exceptions import PolicyError
from confguard.results import SignalResult

Results = Mapping[str, SignalResult]
"""The results known so far, by signal name; a name absent is unknown."""
Scalar = bool | int | float | str

STATUSES = ("ok", "skipped", "failed")
ORDERED = {"lt": operator.lt, "le": operator.le, "gt": operator.gt, "ge": operator.ge}
"""Comparison operators on numbers, by their YAML name."""
EQUALITY = {"eq": operator.eq, "ne": operator.ne}
SYMBOLS = {"lt": "<", "le": "<=", "gt": ">", "ge": ">=", "eq": "==", "ne": "!="}

Test = tuple[tuple[str, Scalar], ...]
"""(operator name, value) pairs, all of which must hold."""


class Condition:
    """A test over signal results; compose with ``|``, ``&`` and ``~``."""

    def holds(self, results: Results) -> bool | None:
        """True, False, or None when it depends on a signal not in `results`."""
        raise NotImplementedError

    def signals(self) -> Iterator[str]:
        """The names of the signals it reads, in order of mention."""
        raise NotImplementedError

    def needs_record(self) -> bool:
        """Whether it reads more than each signal's confidence tells (a detail, or
        skipped apart from failed): labelled samples that kept only confidences
        cannot say whether it held."""
        raise NotImplementedError

    def to_data(self) -> dict[str, Any]:
        """The plain-data (YAML) form; `parse_condition` reads it back."""
        raise NotImplementedError

    def render(self) -> str:
        """The Python expression that builds it (what a decision's reason shows)."""
        raise NotImplementedError

    def __or__(self, other: Condition) -> Condition:
        return AnyOf(_flat(AnyOf, self) + _flat(AnyOf, _checked(other, "|")))

    def __and__(self, other: Condition) -> Condition:
        return AllOf(_flat(AllOf, self) + _flat(AllOf, _checked(other, "&")))

    def __invert__(self) -> Condition:
        return self.operand if isinstance(self, Not) else Not(self)

    def __str__(self) -> str:
        return self.render()


def _checked(other: object, symbol: str) -> Condition:
    if not isinstance(other, Condition):
        raise TypeError(f"{symbol} composes conditions, got {type(other).__name__}")
    return other


def _flat(kind: type[AnyOf | AllOf], cond: Condition) -> tuple[Condition, ...]:
    return cond.operands if isinstance(cond, kind) else (cond,)


@dataclass(frozen=True)
class Status(Condition):
    """The signal's status is one of `statuses` (ok, skipped, failed)."""

    signal: str
    statuses: tuple[str, ...]

    def holds(self, results: Results) -> bool | None:
        result = results.get(self.signal)
        return None if result is None else result.status.value in self.statuses

    def signals(self) -> Iterator[str]:
        yield self.signal

    def needs_record(self) -> bool:
        # A confidence says ok or not; not which of skipped and failed.
        return len({"skipped", "failed"} & set(self.statuses)) == 1

    def to_data(self) -> dict[str, Any]:
        one = len(self.statuses) == 1
        status: Any = self.statuses[0] if one else list(self.statuses)
        return {"signal": self.signal, "status": status}

    def render(self) -> str:
        ref = f"signal({self.signal!r})"
        return " | ".join(f"{ref}.{s}" for s in self.statuses)


@dataclass(frozen=True)
class Confidence(Condition):
    """The signal reported a confidence, and it passes every comparison in `test`."""

    signal: str
    test: Test

    def holds(self, results: Results) -> bool | None:
        result = results.get(self.signal)
        if result is None:
            return None
        return result.confidence is not None and _passes(self.test, result.confidence)

    def signals(self) -> Iterator[str]:
        yield self.signal

    def needs_record(self) -> bool:
        return False

    def to_data(self) -> dict[str, Any]:
        return {"signal": self.signal, "confidence": dict(self.test)}

    def render(self) -> str:
        ref = f"signal({self.signal!r}).confidence"
        return " & ".join(f"({ref} {SYMBOLS[op]} {v!r})" for op, v in self.test)


@dataclass(frozen=True)
class Detail(Condition):
    """The signal's `details[key]` exists and passes every comparison in `test`."""

    signal: str
    key: str
    test: Test

    def holds(self, results: Results) -> bool | None:
        result = results.get(self.signal)
        if result is None:
            return None
        if self.key not in result.details:
            return False
        return _passes(self.test, result.details[self.key])

    def signals(self) -> Iterator[str]:
        yield self.signal

    def needs_record(self) -> bool:
        return True

    def to_data(self) -> dict[str, Any]:
        return {"signal": self.signal, "detail": {"key": self.key, **dict(self.test)}}

    def render(self) -> str:
        ref = f"signal({self.signal!r}).detail({self.key!r})"
        return " & ".join(_render_detail(ref, op, v) for op, v in self.test)


def _render_detail(ref: str, op: str, value: Scalar) -> str:
    if op in EQUALITY:
        return f"{ref}.{op}({value!r})"
    return f"({ref} {SYMBOLS[op]} {value!r})"


def _passes(test: Test, value: object) -> bool:
    return all(_compare(op, value, expected) for op, expected in test)


def _compare(op: str, value: object, expected: Scalar) -> bool:
    if op in EQUALITY:
        # True == 1 in Python; a detail that is a flag should not equal a count.
        same = type(value) is type(expected) or (_number(value) and _number(expected))
        equal = same and value == expected
        return equal if op == "eq" else not equal
    return _number(value) and bool(ORDERED[op](value, expected))


def _number(value: object) -> TypeGuard[int | float]:
    return isinstance(value, int | float) and not isinstance(value, bool)


@dataclass(frozen=True)
class AnyOf(Condition):
    """At least one operand holds."""

    operands: tuple[Condition, ...]

    def holds(self, results: Results) -> bool | None:
        values = [c.holds(results) for c in self.operands]
        return True if True in values else (None if None in values else False)

    def signals(self) -> Iterator[str]:
        for operand in self.operands:
            yield from operand.signals()

    def needs_record(self) -> bool:
        # `signal(x).skipped | signal(x).failed` is "not ok", which a kept None
        # confidence tells: judge each signal's statuses together.
        statuses: dict[str, tuple[str, ...]] = {}
        for c in self.operands:
            if isinstance(c, Status):
                statuses[c.signal] = statuses.get(c.signal, ()) + c.statuses
            elif c.needs_record():
                return True
        return any(Status(n, s).needs_record() for n, s in statuses.items())

    def to_data(self) -> dict[str, Any]:
        return {"any": [c.to_data() for c in self.operands]}

    def render(self) -> str:
        return " | ".join(_grouped(c, AnyOf) for c in self.operands)


@dataclass(frozen=True)
class AllOf(Condition):
    """Every operand holds."""

    operands: tuple[Condition, ...]

    def holds(self, results: Results) -> bool | None:
        values = [c.holds(results) for c in self.operands]
        return False if False in values else (None if None in values else True)

    def signals(self) -> Iterator[str]:
        for operand in self.operands:
            yield from operand.signals()

    def needs_record(self) -> bool:
        return any(c.needs_record() for c in self.operands)

    def to_data(self) -> dict[str, Any]:
        return {"all": [c.to_data() for c in self.operands]}

    def render(self) -> str:
        return " & ".join(_grouped(c, AllOf) for c in self.operands)


@dataclass(frozen=True)
class Not(Condition):
    """The operand does not hold."""

    operand: Condition

    def holds(self, results: Results) -> bool | None:
        value = self.operand.holds(results)
        return None if value is None else not value

    def signals(self) -> Iterator[str]:
        yield from self.operand.signals()

    def needs_record(self) -> bool:
        return self.operand.needs_record()

    def to_data(self) -> dict[str, Any]:
        return {"not": self.operand.to_data()}

    def render(self) -> str:
        return f"~({self.operand.render()})"


def _grouped(cond: Condition, within: type[Condition]) -> str:
    """Parenthesised unless it binds as tightly as its container."""
    simple = isinstance(cond, within | Not) or (
        isinstance(cond, Status | Confidence | Detail) and _one_term(cond)
    )
    return cond.render() if simple else f"({cond.render()})"


def _one_term(cond: Status | Confidence | Detail) -> bool:
    return len(cond.statuses if isinstance(cond, Status) else cond.test) == 1


# --- the Python builder: signal("judge").confidence < 0.3 ---------------------------


@dataclass(frozen=True)
class SignalRef:
    """One signal, to build conditions on: ``signal("judge").failed``."""

    name: str

    @property
    def ok(self) -> Condition:
        """The signal produced a confidence."""
        return Status(self.name, ("ok",))

    @property
    def skipped(self) -> Condition:
        """The signal was skipped (not applicable, or by the cascade)."""
        return Status(self.name, ("skipped",))

    @property
    def failed(self) -> Condition:
        """The signal raised or timed out."""
        return Status(self.name, ("failed",))

    @property
    def confidence(self) -> Comparable:
        """Its confidence, to compare with ``<``, ``<=``, ``>``, ``>=``."""
        return Comparable(lambda op, v: Confidence(self.name, confidence_test(op, v)))

    def detail(self, key: str) -> DetailRef:
        """Its ``details[key]``: compare with ``<`` … or ``.eq(v)``, ``.ne(v)``."""
        return DetailRef(
            lambda op, v: Detail(self.name, _key(key, "detail"), detail_test(op, v))
        )


@dataclass(frozen=True)
class Comparable:
    """Something compared with a number; each comparison is a condition."""

    build: Callable[[str, Any], Condition]

    def _made(self, op: str, value: Any) -> Condition:
        try:
            return self.build(op, value)
        except ValueError as exc:  # the same words the YAML parser uses
            raise PolicyError(f"{SYMBOLS[op]} {value!r}: {exc}", field=op) from None

    def __lt__(self, value: Any) -> Condition:
        return self._made("lt", value)

    def __le__(self, value: Any) -> Condition:
        return self._made("le", value)

    def __gt__(self, value: Any) -> Condition:
        return self._made("gt", value)

    def __ge__(self, value: Any) -> Condition:
        return self._made("ge", value)


@dataclass(frozen=True)
class DetailRef(Comparable):
    """A detail of a signal's result; ``==`` is spelt `eq` (``is True`` can't be)."""

    def eq(self, value: Scalar) -> Condition:
        """The detail equals `value` (a flag never equals a number)."""
        return self._made("eq", value)

    def ne(self, value: Scalar) -> Condition:
        """The detail is present and differs from `value`."""
        return self._made("ne", value)


def signal(name: str) -> SignalRef:
    """The signal called `name`, to write a rule's condition on.

    Example:
        >>> (signal("judge").failed | (signal("rpc").confidence < 0.3)).render()
        "signal('judge').failed | (signal('rpc').confidence < 0.3)"
    """
    return SignalRef(_key(name, "signal"))


# --- validation shared by the builder and the YAML parser ---------------------------


def _key(value: object, field: str) -> str:
    if not isinstance(value, str) or not value:
        raise PolicyError(f"{field}: expected a non-empty string, got {value!r}")
    return value


def confidence_test(op: str, value: object) -> Test:
    """One confidence comparison, checked: a number in [0, 1] (ValueError if not)."""
    if not (_number(value) and 0.0 <= value <= 1.0):
        raise ValueError(f"must be a number in [0, 1], got {value!r}")
    return ((op, float(value)),)


def detail_test(op: str, value: object) -> Test:
    """One detail comparison, checked: ordering needs a number; eq/ne a scalar."""
    if op in ORDERED:
        if not (_number(value) and math.isfinite(value)):
            raise ValueError(f"must be a finite number, got {value!r}")
        return ((op, value),)
    if not isinstance(value, bool | int | float | str):
        raise ValueError(f"must be true, false, a number or a string, got {value!r}")
    return ((op, value),)


__all__ = [
    "STATUSES",
    "AllOf",
    "AnyOf",
    "Comparable",
    "Condition",
    "Confidence",
    "Detail",
    "DetailRef",
    "Not",
    "Results",
    "SignalRef",
    "Status",
    "confidence_test",
    "detail_test",
    "signal",
]
