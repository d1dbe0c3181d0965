"""The declarative policy: thresholds lead to actions; loads from YAML or a dict.

Every validation error is raised as `PolicyError` with a message naming the field,
e.g. ``thresholds.accept: must be in [0, 1], got 1.4``; from YAML it also names the
file (if any) and the line. Parsing is strict: an empty document, a key given twice,
``true`` where a number belongs and ``'yes'`` where a boolean belongs are refused,
never read as something else.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal, cast

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    PlainValidator,
    StrictBool,
    StrictFloat,
    StrictInt,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import ErrorDetails

from confguard.exceptions import PolicyError, UnknownComponentError
from confguard.paths import read_text
from confguard.policy import _yaml
from confguard.policy.builtin_strategies import checked_strategy
from confguard.policy.claims import ClaimPolicy
from confguard.policy.conditions import Results
from confguard.policy.rules import Rule, parse_rules, rules_data
from confguard.policy.strata import Stratum, parse_strata, strata_data, stratum_for
from confguard.policy.templates import checked_caveat
from confguard.results import Action, RetryStrategy
from confguard.scoring.aggregate import Combiner, combiner_from_name, combiner_names
from confguard.scoring.calibration import FittedCalibrator
from confguard.scoring.stratified import FITTED_KINDS, FittedCombiner
from confguard.scoring.thresholds import RiskControl

Band = Literal["accept", "annotate", "retry", "escalate"]
BANDS: tuple[Band, ...] = ("accept", "annotate", "retry", "escalate")
"""Threshold names, from the highest band to the lowest."""

MAX_ATTEMPTS = 10
"""The most attempts a policy may ask for (the first included)."""
MAX_BACKOFF_SECONDS = 300.0
"""The longest wait before any one retry (5 minutes)."""
MAX_BACKOFF_MULTIPLIER = 10.0
"""The largest growth of the wait from one retry to the next."""


class _Part(BaseModel):
    """A policy section: its validation errors become PolicyError naming the field."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    section: ClassVar[str] = ""

    @model_validator(mode="wrap")
    @classmethod
    def _as_policy_error(cls, data: Any, handler: Any, info: ValidationInfo) -> Any:
        # PolicyError is no ValueError, so pydantic lets it through unwrapped. A
        # section validated elsewhere (a stratum's thresholds) names its own path.
        try:
            return handler(data)
        except ValidationError as exc:
            raise _policy_error(exc, cls.section_of(info)) from None

    @classmethod
    def section_of(cls, info: ValidationInfo) -> str:
        """Where errors say the section is: its own name, or the path a caller
        validating it elsewhere passed as context (a stratum's thresholds)."""
        return str((info.context or {}).get("section", cls.section))


class Thresholds(_Part):
    """Lower bounds of each band; None omits the band. Order: accept ≥ … ≥ escalate."""

    section: ClassVar[str] = "thresholds"

    accept: StrictFloat | None = 0.8
    annotate: StrictFloat | None = None
    retry: StrictFloat | None = None
    escalate: StrictFloat | None = None

    @field_validator(*BANDS)
    @classmethod
    def _in_order(cls, value: float | None, info: ValidationInfo) -> float | None:
        if value is None:
            return None
        if not (math.isfinite(value) and 0.0 <= value <= 1.0):
            raise ValueError(f"must be in [0, 1], got {value}")
        above = [
            (n, info.data.get(n)) for n in BANDS[: BANDS.index(str(info.field_name))]
        ]
        section = cls.section_of(info)
        for name, bound in reversed(above):
            if bound is not None and value > bound:
                raise ValueError(
                    f"must be <= {section}.{name} ({bound}), got {value} "
                    "(bands run accept >= annotate >= retry >= escalate)"
                )
        return value

    def set_bands(self) -> tuple[tuple[Band, float], ...]:
        """The (name, threshold) pairs that are set, highest first."""
        pairs = ((name, cast(float | None, getattr(self, name))) for name in BANDS)
        return tuple((name, value) for name, value in pairs if value is not None)

    def band(self, confidence: float) -> Action:
        """The band `confidence` falls in: the highest threshold it reaches, or abstain.

        Example:
            >>> Thresholds(accept=0.8, retry=0.4).band(0.5)
            'retry'
        """
        for name, threshold in self.set_bands():
            if confidence >= threshold:
                return name
        return "abstain"


class AnnotatePolicy(_Part):
    """How an annotated answer is marked; `{confidence}` is filled in."""

    section: ClassVar[str] = "annotate"

    caveat: str = "This answer may be inaccurate (confidence {confidence:.0%})."

    @field_validator("caveat")
    @classmethod
    def _template(cls, value: str) -> str:
        return checked_caveat(value)


def _strategy(value: object) -> object:
    return {"name": value} if isinstance(value, str) else value


class RetryPolicy(_Part):
    """How many attempts in all, which strategies in order, and the backoff."""

    section: ClassVar[str] = "retry"

    max_attempts: StrictInt = Field(default=3, ge=1, le=MAX_ATTEMPTS)
    """Attempts in all, the first included (1 = never retry)."""
    strategies: tuple[RetryStrategy, ...] = ()
    """Used in order, one per retry; the last repeats when retries outnumber them.

    The built-in names (`more_context`, `other_embedder`, `temperature`, `repeat`)
    are rebuilt with their `confguard.strategies` constructors, so wrong params fail
    here; other names are the pipeline's own (the guard must be told of them).
    """
    backoff_seconds: StrictFloat = Field(default=0.0, ge=0.0, le=MAX_BACKOFF_SECONDS)
    """The wait before the first retry."""
    backoff_multiplier: StrictFloat = Field(
        default=1.0, ge=1.0, le=MAX_BACKOFF_MULTIPLIER
    )
    """How much longer each later wait is; the longest must stay within 300 s."""

    @field_validator("strategies", mode="before")
    @classmethod
    def _names_allowed(cls, value: object) -> object:
        if isinstance(value, list | tuple):
            return tuple(_strategy(item) for item in value)
        return value

    @field_validator("strategies")
    @classmethod
    def _builtins_checked(
        cls, value: tuple[RetryStrategy, ...]
    ) -> tuple[RetryStrategy, ...]:
        return tuple(_rebuilt(i, s) for i, s in enumerate(value))

    @model_validator(mode="after")
    def _bounded_wait(self) -> RetryPolicy:
        retries = self.max_attempts - 1
        longest = self.wait_before(retries) if retries else 0.0
        if longest > MAX_BACKOFF_SECONDS:
            field = f"{self.section}.backoff_multiplier"
            raise PolicyError(
                f"{field}: the wait before retry {retries} would be "
                f"{longest:g} s, over the {MAX_BACKOFF_SECONDS:g} s allowed; lower "
                "backoff_seconds, backoff_multiplier or max_attempts",
                field=field,
            )
        return self

    def strategy_for(self, retry: int) -> RetryStrategy:
        """The strategy of the `retry`-th retry (1-based)."""
        if not self.strategies:
            return RetryStrategy(name="repeat")
        return self.strategies[min(retry, len(self.strategies)) - 1]

    def wait_before(self, retry: int) -> float:
        """Seconds to wait before the `retry`-th retry (1-based)."""
        return float(self.backoff_seconds * self.backoff_multiplier ** (retry - 1))


def _rebuilt(index: int, strategy: RetryStrategy) -> RetryStrategy:
    try:
        return checked_strategy(strategy)
    except ValueError as exc:
        field = f"{RetryPolicy.section}.strategies.{index}.params"
        raise PolicyError(f"{field}: {exc}", field=field) from None


class EscalatePolicy(_Part):
    """Where escalated cases go, and what the user is told meanwhile."""

    section: ClassVar[str] = "escalate"

    route: str | None = None
    """The name of a route given to the Guard (`routes={"name": route}`)."""
    pending_message: str = "Your question was passed on for review; we will follow up."
    """What the user is told while the case waits: a route gave no answer, or its
    delivery failed and is retried from the outbox."""
    raise_error: StrictBool = False
    """Raise `EscalationError` instead when a delivery fails (it stays queued)."""


class AbstainPolicy(_Part):
    """What an abstention says, or whether it raises `LowConfidenceError`."""

    section: ClassVar[str] = "abstain"

    message: str = "I'm not confident enough to answer that."
    raise_error: StrictBool = False


Rules = Annotated[
    tuple[Rule, ...],
    PlainValidator(parse_rules),
    PlainSerializer(rules_data),
]
"""Rules parse by hand (`confguard.policy.rules`), so errors name rules[i].when…"""

Strata = Annotated[
    tuple[Stratum, ...],
    PlainValidator(parse_strata),
    PlainSerializer(strata_data),
]
"""Strata parse by hand too (`confguard.policy.strata`): errors name strata[i]…"""

ExhaustedAction = Literal["escalate", "abstain", "annotate"]
MissingEvidence = Literal["fail_closed", "ignore"]


class Policy(_Part):
    """Thresholds, what each band does, and how evidence is combined.

    Example:
        >>> policy = Policy.from_yaml('''
        ... thresholds: {accept: 0.8, annotate: 0.6, retry: 0.4}
        ... retry: {max_attempts: 3, strategies: [repeat]}
        ... ''')
        >>> policy.thresholds.retry
        0.4
    """

    thresholds: Thresholds = Thresholds()
    annotate: AnnotatePolicy = AnnotatePolicy()
    retry: RetryPolicy = RetryPolicy()
    escalate: EscalatePolicy = EscalatePolicy()
    abstain: AbstainPolicy = AbstainPolicy()
    on_retries_exhausted: ExhaustedAction = "abstain"
    on_missing_evidence: MissingEvidence = "fail_closed"
    fail_closed_action: Literal["abstain", "escalate"] = "abstain"
    """What fail_closed does when a signal is not ok."""
    combiner: str | FittedCombiner = "mean"
    """A registered combiner name (`combiner_names()`), or a fitted one (logistic,
    or stratified: one logistic fit per kind of request)."""
    weights: dict[str, StrictFloat] = Field(default_factory=dict)
    """Per-signal weights, for the `weighted` combiner."""
    calibrator: FittedCalibrator | None = None
    """A fitted Platt or isotonic map applied to the combined confidence."""
    risk_control: RiskControl | None = None
    """The guarantee behind thresholds.accept, as `confguard calibrate` certified it."""
    cascade: StrictBool = False
    """Run signals cheapest first and skip those that can no longer change the band."""
    rules: Rules = ()
    """Conditions on single signals, tried in order before the bands (`Rule`)."""
    strata: Strata = ()
    """Thresholds (and their certificate) for the requests a condition picks out,
    in place of `thresholds` (`Stratum`); the first that holds applies."""
    claims: ClaimPolicy | None = None
    """Claim-level actions (keep, flag, redact, gate) for guards given claim
    signals (`Guard(..., claims=ClaimScorer(...))`); None: answers are one unit."""

    @field_validator("combiner", mode="before")
    @classmethod
    def _fitted_combiner(cls, value: Any) -> Any:
        # Validated here so an error names the fitted combiner's own fields, not
        # each member of the str-or-fitted union.
        if not isinstance(value, dict):
            return value
        kind = value.get("kind", "logistic")  # the first fitted kind, kept implicit
        if kind not in FITTED_KINDS:
            known = " or ".join(repr(k) for k in FITTED_KINDS)
            raise ValueError(f"unknown fitted combiner kind {kind!r}; expected {known}")
        try:
            return _FITTED_COMBINER.validate_python({"kind": kind, **value})
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc'][1:]) or 'kind'}: {_what(e)}"
                for e in exc.errors()
            )
            raise ValueError(f"fitted {kind} combiner: {problems}") from None

    @field_validator("combiner")
    @classmethod
    def _known_combiner(cls, value: str | FittedCombiner) -> str | FittedCombiner:
        known = combiner_names()
        if isinstance(value, str) and value not in known:
            raise ValueError(str(UnknownComponentError("combiner", value, known)))
        return value

    @field_validator("weights")
    @classmethod
    def _weights(cls, value: dict[str, float]) -> dict[str, float]:
        for name, weight in value.items():
            if not (math.isfinite(weight) and weight >= 0):
                raise ValueError(f"weight of {name!r} must be >= 0, got {weight}")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Policy:
        _check_route(self)
        if self.weights and self.combiner != "weighted":
            raise PolicyError(
                f"weights: only the 'weighted' combiner uses weights, "
                f"but combiner is {self.combiner!r}",
                field="weights",
            )
        if not self.thresholds.set_bands():
            raise PolicyError(
                "thresholds: set at least one threshold", field="thresholds"
            )
        _check_certified(self)
        return self

    def uses_escalation(self) -> bool:
        """True when some outcome of this policy escalates."""
        return _bands_escalate(self) or any(r.then == "escalate" for r in self.rules)

    def rule_signals(self) -> tuple[str, ...]:
        """The signals the rules read, in order of first mention (the guard checks
        each is one of its signals)."""
        names = (name for rule in self.rules for name in rule.when.signals())
        return tuple(dict.fromkeys(names))

    def stratum_signals(self) -> tuple[str, ...]:
        """The signals the strata's conditions read (checked like `rule_signals`)."""
        names = (name for s in self.strata for name in s.when.signals())
        return tuple(dict.fromkeys(names))

    def build_combiner(self) -> Combiner:
        """The combiner a guard builds from this policy: the fitted one it carries,
        or the named one with its weights (unchecked against any signals)."""
        if isinstance(self.combiner, str):
            return combiner_from_name(self.combiner, self.weights)
        return self.combiner

    def thresholds_for(self, results: Results) -> tuple[Thresholds, Stratum | None]:
        """The thresholds that band a request with these (final) signal results,
        and the stratum they come from (None: the policy's own).

        Example:
            >>> policy.thresholds_for({"retrieval": retrieval_ok})[1].name
            'retrieved'
        """
        stratum = stratum_for(self.strata, results)
        return (self.thresholds if stratum is None else stratum.thresholds), stratum

    def rule_routes(self) -> tuple[str, ...]:
        """The routes escalate rules send to (their own or escalate.route)."""
        routes = (
            r.route or self.escalate.route for r in self.rules if r.then == "escalate"
        )
        return tuple(dict.fromkeys(route for route in routes if route))

    def rule_strategies(self) -> tuple[RetryStrategy, ...]:
        """The retry strategies retry rules name (the guard checks they are known)."""
        return tuple(r.strategy for r in self.rules if r.strategy is not None)

    def to_dict(self) -> dict[str, Any]:
        """The policy as plain data that `from_dict` reads back: the fields that
        differ from the defaults, fitted sections whole, rules in their YAML form."""
        data = self.model_dump(mode="json", exclude_defaults=True)
        for name in ("combiner", "calibrator", "risk_control"):
            value = getattr(self, name)
            if isinstance(value, BaseModel):
                data[name] = value.model_dump(mode="json")
        return data

    def to_yaml(self) -> str:
        """The policy as YAML that `from_yaml` reads back."""
        return _yaml.dump(self.to_dict())

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Policy:
        """Build a policy from a plain dict (raises `PolicyError`)."""
        if not isinstance(data, dict):
            raise PolicyError(
                f"a policy must be a mapping, got {type(data).__name__}", field=None
            )
        return cls.model_validate(data)

    @classmethod
    def from_yaml(cls, source: str | Path) -> Policy:
        """Load a policy from a YAML file path or a YAML string.

        Example:
            >>> Policy.from_yaml("examples/policy.yaml").thresholds.accept
            0.8
        """
        text, label = _read(source)
        document = _yaml.load(text, label)
        if document.data is None:
            raise PolicyError(
                f"{label} is empty (or holds only comments); a policy sets at least "
                "one field, e.g. thresholds: {accept: 0.8}"
            )
        try:
            return cls.from_dict(document.data)
        except PolicyError as exc:
            raise _located(exc, label, document.line_of(exc.field)) from None


def _bands_escalate(policy: Policy) -> bool:
    return (
        policy.thresholds.escalate is not None
        or any(s.thresholds.escalate is not None for s in policy.strata)
        or policy.on_retries_exhausted == "escalate"
        or policy.fail_closed_action == "escalate"
        or (policy.claims is not None and policy.claims.on_gate == "escalate")
    )


def _check_route(policy: Policy) -> None:
    if policy.escalate.route:
        return
    if _bands_escalate(policy):
        raise PolicyError(
            "escalate.route: required, since the policy can escalate "
            "(thresholds.escalate, a stratum's, on_retries_exhausted or "
            "fail_closed_action)",
            field="escalate.route",
        )
    for i, rule in enumerate(policy.rules):
        if rule.then == "escalate" and not rule.route:
            field = f"rules[{i}].route"
            raise PolicyError(
                f"{field}: required, since escalate.route is not set", field=field
            )


def _check_certified(policy: Policy) -> None:
    check_certified(policy.risk_control, policy.thresholds.accept, "thresholds.accept")


def check_certified(
    control: RiskControl | None, accept: float | None, field: str
) -> None:
    """Refuse an accept threshold outside the range `control` certified (the
    policy's own, or a stratum's)."""
    if control is None:
        return
    # Fixed-sequence testing certified every candidate from its start down to the
    # threshold it returned: an accept threshold in that range keeps the guarantee.
    if accept is None:
        raise PolicyError(
            f"{field}: required, since risk_control certifies an accept threshold "
            f"in [{control.threshold}, {control.start}]",
            field=field,
        )
    if not control.threshold <= accept <= control.start:
        raise PolicyError(
            f"{field}: {accept} is outside the certified range "
            f"[{control.threshold}, {control.start}] of its risk_control; the "
            "guarantee would not hold",
            field=field,
        )


_FITTED_COMBINER: TypeAdapter[FittedCombiner] = TypeAdapter(FittedCombiner)


def _read(source: str | Path) -> tuple[str, str]:
    """The policy text, and how errors name where it came from."""
    if not isinstance(source, Path) and not _looks_like_path(source):
        return source, "policy YAML"
    path = source if isinstance(source, Path) else Path(source.strip())
    return read_text(path, "policy file", PolicyError), f"policy file {path}"


def _looks_like_path(source: str) -> bool:
    one_line = "\n" not in source.strip() and ": " not in source
    return one_line and source.strip().endswith((".yaml", ".yml"))


def _located(exc: PolicyError, label: str, line: int | None) -> PolicyError:
    where = label if line is None else f"{label}, line {line}"
    return PolicyError(f"{where}: {exc}", field=exc.field)


def _policy_error(exc: ValidationError, section: str) -> PolicyError:
    errors = exc.errors()
    messages = [f"{_where(e, section)}: {_what(e)}" for e in errors]
    first = _where(errors[0], section) if errors else None
    return PolicyError("; ".join(messages), field=first)


def _where(error: ErrorDetails, section: str) -> str:
    parts = [section] if section else []
    return ".".join([*parts, *(str(part) for part in error["loc"])]) or "policy"


_EXPECTED = {
    "float_type": "a number",
    "int_type": "a whole number",
    "bool_type": "true or false",
}
_BOUNDS = {
    "greater_than_equal": (">=", "ge"),
    "less_than_equal": ("<=", "le"),
}


def error_text(error: ErrorDetails) -> str:
    """What one pydantic error says, in the policy's words (no field path)."""
    return _what(error)


def _what(error: ErrorDetails) -> str:
    kind, message = error["type"], error["msg"]
    if kind == "extra_forbidden":
        return "unknown field"
    if kind == "missing":
        return "required"
    if kind in _EXPECTED:
        return f"expected {_EXPECTED[kind]}, got {error['input']!r}"
    bound = _BOUNDS.get(kind)
    if bound is not None:
        limit = (error.get("ctx") or {}).get(bound[1])
        return f"must be {bound[0]} {limit}, got {error['input']!r}"
    if kind == "value_error":
        return message.removeprefix("Value error, ")
    if kind == "literal_error":
        expected = (error.get("ctx") or {}).get("expected", "")
        return f"unknown value {error['input']!r}; expected {expected}"
    return f"{message}, got {error['input']!r}"


__all__ = [
    "BANDS",
    "MAX_ATTEMPTS",
    "MAX_BACKOFF_MULTIPLIER",
    "MAX_BACKOFF_SECONDS",
    "AbstainPolicy",
    "AnnotatePolicy",
    "Band",
    "EscalatePolicy",
    "Policy",
    "RetryPolicy",
    "Stratum",
    "Thresholds",
    "check_certified",
    "error_text",
]
