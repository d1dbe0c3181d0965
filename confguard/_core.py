"""The guard's pure core: every step that decides, shared by the sync and async shells.

Like httpx's BaseClient, `GuardCore` holds configuration and pure steps only; like
tenacity's ``iter()``, `next_step` returns what to do next (escalate, check an
escalated answer, or finish) and the shells in `confguard.guard` do it. Nothing
per-call is stored here: per-call state lives in the shells' local variables.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from tenacity import BaseRetrying, RetryCallState, retry_if_result
from typing_extensions import Unpack

from confguard._options import (
    OPTIONS,
    GuardOptions,
    bounded,
    checked_calibrator,
    checked_store,
    known_options,
    max_workers,
    on_store_error,
    timeouts,
)
from confguard.claims.scorer import ClaimScorer, ScoredClaim
from confguard.exceptions import (
    ConfigurationError,
    EscalationError,
    LowConfidenceError,
    UnknownComponentError,
)
from confguard.llm.workers import DEFAULT_MAX_WORKERS
from confguard.observation import Observation
from confguard.policy.builtin_strategies import check_known
from confguard.policy.cascade import Cascade
from confguard.policy.claims import ClaimPolicy, claim_report, with_claims
from confguard.policy.decide import claims_gate, decide
from confguard.policy.model import Policy
from confguard.results import (
    Abstain,
    Accept,
    Annotate,
    Attempt,
    AttemptRecord,
    ClaimReport,
    Escalate,
    GuardResult,
    Retry,
    SignalResult,
)
from confguard.routes.base import EscalationRequest, Route, RouteOutcome
from confguard.routes.retrying import Retries, RetryRule, checked
from confguard.scoring.aggregate import (
    Combiner,
    assess,
)
from confguard.signals.base import Signal, as_signal
from confguard.store.base import AuditRecord, digest, utcnow
from confguard.store.outbox import (
    IN_PROCESS_LEASE,
    Escalation,
    Outbox,
    escalation_id,
    lease_for,
    lease_owner,
)
from confguard.store.spool import Record

R = TypeVar("R", bound=BaseRetrying)
SignalLike = Signal | Callable[[Observation], float | SignalResult]
_OWNER = lease_owner("guard")
"""Who holds a new outbox entry while this process delivers it."""


@dataclass(frozen=True)
class Call:
    """One guarded request: its id, question and start time."""

    request_id: str
    question: str
    started: float

    @classmethod
    def new(cls, question: str) -> Call:
        """A fresh request id, started now."""
        return cls(uuid.uuid4().hex, question, time.perf_counter())


@dataclass(frozen=True)
class DoEscalate:
    """Hand the case to `route` (the escalate decision is already recorded)."""

    route: Route
    request: EscalationRequest


@dataclass(frozen=True)
class DoCheck:
    """Score and decide an escalated route's own answer."""

    attempt: Attempt
    observation: Observation


@dataclass(frozen=True)
class Done:
    """The request is over: return `result`, or raise `error` if set."""

    result: GuardResult
    error: LowConfidenceError | None = None

    def unwrap(self) -> GuardResult:
        """The result, or the LowConfidenceError the policy asked for."""
        if self.error is not None:
            raise self.error
        return self.result


Step = DoEscalate | DoCheck | Done


def _wants_retry(record: AttemptRecord) -> bool:
    return isinstance(record.decision, Retry)


def _decision_wait(state: RetryCallState) -> float:
    outcome = state.outcome
    record = outcome.result() if outcome is not None and not outcome.failed else None
    decision = getattr(record, "decision", None)
    return decision.wait_seconds if isinstance(decision, Retry) else 0.0


def _stopped(state: RetryCallState) -> None:
    # tenacity's stop fired on a retry decision: the shell settles it (see `settle`).
    return None


_ATTEMPTS = RetryRule(
    retry_if_result(_wants_retry), _decision_wait, {"retry_error_callback": _stopped}
)
"""Retry an attempt while the decision is Retry, waiting what the decision says."""


class GuardCore:
    """The configuration of a guard, validated once, and its pure steps."""

    def __init__(
        self,
        signals: Sequence[SignalLike],
        policy: Policy | None = None,
        *,
        claims: ClaimScorer | None = None,
        **options: Unpack[GuardOptions],
    ) -> None:
        known_options(options)
        retries = options.get("retries")
        self.signals = _signals(signals)
        self.retries = bounded(
            checked(policy_attempts(policy) if retries is None else retries)
        )
        self.policy = _with_claims(
            _with_attempts(policy or Policy(), self.retries), claims
        )
        self.claims = _claim_scorer(self.policy, claims)
        """Splits and scores each answer's claims (None: answers are one unit)."""
        self.claim_policy = self.policy.claims or ClaimPolicy()
        """The claim policy a stream is gated by (the defaults without claims:)."""
        check_known(
            (*self.policy.retry.strategies, *self.policy.rule_strategies()),
            options.get("strategies", ()),
        )
        _check_conditions(self.policy, self.signals)  # whatever the combiner
        self.combiner = options.get("combiner") or _combiner(self.policy, self.signals)
        calibrator = options.get("calibrator")
        self.calibrator = checked_calibrator(
            self.policy.calibrator if calibrator is None else calibrator
        )
        self.store = checked_store(options.get("store"))
        self.outbox = self.store if isinstance(self.store, Outbox) else None
        """The store's escalation outbox (None: a failed delivery cannot wait)."""
        self.on_store_error = on_store_error(options.get("on_store_error", "spool"))
        self.spool = options.get("spool")
        self.routes = _routes(self.policy, options.get("routes") or {})
        self.timeouts = timeouts(self.signals, options)
        self.max_workers = max_workers(options.get("max_workers", DEFAULT_MAX_WORKERS))
        self.cascade = _cascade(self)
        self.inline = frozenset(s.name for s in self.signals if s.cost.inline)
        """The signals that run inline (see `DeclaredCost.inline`)."""

    def retrying(self, cls: type[R]) -> R:
        """A fresh retry controller per request (tenacity keeps statistics on it)."""
        return _ATTEMPTS.build(self.retries, cls)

    def next_attempt(self, records: Sequence[AttemptRecord]) -> Attempt:
        """The attempt after `records`, carrying the retry strategy as data."""
        last = records[-1].decision if records else None
        strategy = last.strategy if isinstance(last, Retry) else None
        return Attempt(number=len(records) + 1, strategy=strategy)

    def judge(
        self,
        attempt: Attempt,
        observation: Observation,
        results: Sequence[SignalResult],
        history: Sequence[AttemptRecord],
        latency: float,
        scored: Sequence[ScoredClaim] | None = None,
        *,
        can_retry: bool = True,
    ) -> AttemptRecord:
        """Assess the signal results and decide, as one AttemptRecord.

        With `scored` claims, the claim policy decides each claim; claims that
        gate turn an accept or annotate into its abstention or escalation.
        `can_retry=False` settles a retry as exhausted (a stream cannot retry).
        """
        assessment = assess(results, self.combiner, self.calibrator)
        decision = decide(self.policy, assessment, history, can_retry=can_retry)
        report = self.claim_report(observation.answer, scored)
        gate = claims_gate(self.policy, report, history, self.claim_policy)
        return AttemptRecord(
            attempt=attempt,
            observation=observation,
            assessment=assessment,
            decision=with_claims(decision, report, gate),
            latency_seconds=latency,
            claims=report,
        )

    def wants_claims(self, record: AttemptRecord) -> bool:
        """Whether the attempt's claims are worth scoring: only an answer about to
        be given (accept, annotate) can be redacted or gated by them."""
        return self.claims is not None and isinstance(
            record.decision, Accept | Annotate
        )

    def claim_report(
        self, answer: str, scored: Sequence[ScoredClaim] | None
    ) -> ClaimReport | None:
        """The claims assessed and decided (None when no claims were scored)."""
        if scored is None:
            return None
        return claim_report(self.claim_policy, answer, scored)

    def streamed(self, record: AttemptRecord, stopped: bool) -> AttemptRecord:
        """A streamed attempt's record: once every sentence is out (not `stopped`),
        an answer-level retry, escalation or abstention can no longer hold the
        text back, so it is recorded as an annotation carrying its reason."""
        decision = record.decision
        gated = record.claims is not None and record.claims.gated
        if stopped or gated or isinstance(decision, Accept | Annotate):
            return record
        confidence = record.assessment.confidence or 0.0
        annotated = Annotate(
            reason=f"{decision.reason}; streamed sentence by sentence, so annotate",
            caveat=self.policy.annotate.caveat.format(confidence=confidence),
        )
        return record.model_copy(update={"decision": annotated})

    def settle(self, records: Sequence[AttemptRecord]) -> AttemptRecord:
        """The last record, re-decided as exhausted if tenacity stopped on a retry."""
        last = records[-1]
        if not isinstance(last.decision, Retry):
            return last
        decision = decide(self.policy, last.assessment, records[:-1], can_retry=False)
        return last.model_copy(update={"decision": decision})

    def audit(self, call: Call, record: AttemptRecord) -> AuditRecord:
        """The audit row of one attempt."""
        answer, decision = record.observation.answer, record.decision
        strategy = record.attempt.strategy
        route = (
            decision.route if isinstance(decision, Escalate) else record.attempt.route
        )
        return AuditRecord(
            request_id=call.request_id,
            attempt=record.attempt.number,
            question=call.question,
            answer_digest=digest(answer),
            answer=answer,  # the store decides whether to keep it
            confidence=record.assessment.confidence,
            action=decision.action,
            reason=decision.reason,
            strategy=strategy.name if strategy else None,
            route=route,
            signals=record.assessment.signals,
            latency_seconds=record.latency_seconds,
            cost=record.assessment.cost,
            metadata=self._metadata(record),
        )

    def _metadata(self, record: AttemptRecord) -> dict[str, Any]:
        # Texts (claims, passages) only where the store keeps answers: a reviewer
        # needs the passages beside the answer, a store that hashes answers does not.
        with_text = bool(getattr(self.store, "store_answers", False))
        out: dict[str, Any] = {}
        if record.claims is not None:
            out["claims"] = record.claims.audit(with_text=with_text)
        contexts = record.observation.contexts
        if with_text and contexts:
            out["contexts"] = [
                {"text": c.text, "source": c.source, "score": c.score} for c in contexts
            ]
        return out

    def write_of(self, call: Call, record: AttemptRecord) -> Record | None:
        """The store write that records one attempt (None: no store)."""
        if self.store is None:
            return None
        return Record(
            record=self.audit(call, record), escalation=self.escalation(call, record)
        )

    def escalation(self, call: Call, record: AttemptRecord) -> Escalation | None:
        """The outbox entry to write with `record`, if it escalates to an outbox."""
        decision = record.decision
        if self.outbox is None or not isinstance(decision, Escalate):
            return None
        attempt = Attempt(number=record.attempt.number + 1, route=decision.route)
        request = _request(call, record, decision, attempt)
        entry = Escalation(
            id=request.escalation_id or "",
            request_id=call.request_id,
            route=decision.route,
            payload=request.payload(),
        )
        return lease_for(entry, _OWNER, IN_PROCESS_LEASE, utcnow())

    def deferral(
        self, request: EscalationRequest, error: Exception
    ) -> EscalationError | None:
        """The error to raise for a failed delivery; None: the case waits, pending.

        Without an outbox nothing keeps the case, so the error is always raised.
        """
        if self.outbox is not None and not self.policy.escalate.raise_error:
            return None
        message = getattr(error, "message", None) or f"{type(error).__name__}: {error}"
        return EscalationError(
            request.route,
            message,
            request_id=request.request_id,
            escalation_id=request.escalation_id if self.outbox is not None else None,
        )

    def next_step(
        self,
        call: Call,
        records: Sequence[AttemptRecord],
        outcome: RouteOutcome | None,
        now: float,
    ) -> Step:
        """What to do after the last record: escalate, check a route's answer, end."""
        last = records[-1]
        decision = last.decision
        if not isinstance(decision, Escalate):
            return self._done(call, records, outcome, now)
        attempt = Attempt(number=len(records) + 1, route=decision.route)
        if outcome is None:
            request = _request(call, last, decision, attempt)
            return DoEscalate(self.routes[decision.route], request)
        if outcome.observation is not None:
            return DoCheck(attempt, outcome.observation)
        return self._done(call, records, outcome, now)

    def _done(
        self,
        call: Call,
        records: Sequence[AttemptRecord],
        outcome: RouteOutcome | None,
        now: float,
    ) -> Done:
        last = records[-1]
        result = GuardResult(
            request_id=call.request_id,
            question=call.question,
            answer=self._answer(last, outcome),
            decision=last.decision,
            assessment=last.assessment,
            attempts=tuple(records),
            latency_seconds=max(0.0, now - call.started),
            review_id=outcome.review_id if outcome else None,
            route_response=outcome.response if outcome else None,
            claims=last.claims,
        )
        return Done(result, self._refusal(result))

    def _answer(self, last: AttemptRecord, outcome: RouteOutcome | None) -> str | None:
        decision = last.decision
        if isinstance(decision, Accept | Annotate):
            if last.claims is not None:  # the redacted answer
                return last.claims.answer
            return last.observation.answer
        if isinstance(decision, Abstain):
            return decision.message or None
        if isinstance(decision, Escalate):
            replied = outcome.answer if outcome else None
            return (
                replied if replied is not None else self.policy.escalate.pending_message
            )
        return None  # a retry that check() cannot run: the caller decides

    def _refusal(self, result: GuardResult) -> LowConfidenceError | None:
        if isinstance(result.decision, Abstain) and self.policy.abstain.raise_error:
            return LowConfidenceError(
                result.decision,
                result.assessment,
                result.attempts,
                request_id=result.request_id,
            )
        return None


def _request(
    call: Call, last: AttemptRecord, decision: Escalate, attempt: Attempt
) -> EscalationRequest:
    return EscalationRequest(
        request_id=call.request_id,
        route=decision.route,
        question=call.question,
        answer=last.observation.answer,
        confidence=last.assessment.confidence,
        reason=decision.reason,
        signals=last.assessment.signals,
        attempt=attempt,
        observation=last.observation,
        escalation_id=escalation_id(call.request_id, attempt.number),
    )


def policy_attempts(policy: Policy | None) -> int:
    """The number of attempts the policy allows (the default `retries`)."""
    return (policy or Policy()).retry.max_attempts


def _cascade(core: GuardCore) -> Cascade | None:
    if not core.policy.cascade:
        return None
    return Cascade(core.combiner, core.calibrator, core.policy)


def _with_attempts(policy: Policy, retries: Retries) -> Policy:
    # An int `retries` is the policy's max_attempts; decide() counts with it.
    if not isinstance(retries, int) or retries == policy.retry.max_attempts:
        return policy
    retry = policy.retry.model_copy(update={"max_attempts": retries})
    return policy.model_copy(update={"retry": retry})


def _with_claims(policy: Policy, claims: ClaimScorer | None) -> Policy:
    # Claim signals given without a claims: section get the default claim policy.
    if claims is None or policy.claims is not None:
        return policy
    return policy.model_copy(update={"claims": ClaimPolicy()})


def _claim_scorer(policy: Policy, claims: ClaimScorer | None) -> ClaimScorer | None:
    # A claims: section without claim signals gets the cheap default ones.
    if claims is not None or policy.claims is None:
        return claims
    return ClaimScorer()


def _signals(signals: Sequence[SignalLike]) -> tuple[Signal, ...]:
    converted = tuple(as_signal(s) for s in signals)
    if not converted:
        raise ConfigurationError("a guard needs at least one signal")
    names = [s.name for s in converted]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ConfigurationError(f"signal names must be unique; repeated: {repeated}")
    return converted


def _check_conditions(policy: Policy, signals: Sequence[Signal]) -> None:
    """Refuse a rule or stratum on a signal the guard does not run: its condition
    would never hold, silently."""
    known = [s.name for s in signals]
    for where, names in (
        ("rules", policy.rule_signals()),
        ("strata", policy.stratum_signals()),
    ):
        for name in names:
            if name not in known:
                raise UnknownComponentError(f"signal (in policy {where})", name, known)


def _combiner(policy: Policy, signals: Sequence[Signal]) -> Combiner:
    known = [s.name for s in signals]
    for name in policy.weights:
        if name not in known:
            raise UnknownComponentError("signal (in policy weights)", name, known)
    if not isinstance(policy.combiner, str):  # fitted, carried by the policy
        for name in policy.combiner.signal_names():
            if name not in known:
                raise UnknownComponentError("signal (in policy combiner)", name, known)
    return policy.build_combiner()


def _routes(policy: Policy, routes: Mapping[str, Route]) -> dict[str, Route]:
    for name, route in routes.items():
        if not isinstance(route, Route):
            raise ConfigurationError(
                f"route {name!r} is a {type(route).__name__}, not a Route "
                "(it needs escalate() and aescalate())"
            )
    wanted = policy.escalate.route
    if wanted is not None and wanted not in routes:
        raise UnknownComponentError("route", wanted, list(routes))
    for rule_route in policy.rule_routes():
        if rule_route not in routes:
            raise UnknownComponentError(
                "route (in policy rules)", rule_route, list(routes)
            )
    return dict(routes)


__all__ = [
    "OPTIONS",
    "Call",
    "DoCheck",
    "DoEscalate",
    "Done",
    "GuardCore",
    "GuardOptions",
    "Step",
]
