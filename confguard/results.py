"""Frozen result types: what signals, the policy and the guard return."""

from __future__ import annotations

import math
from collections.abc import Mapping
from enum import Enum
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from confguard.exceptions import InputError
from confguard.observation import Issue, Observation


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class SignalStatus(str, Enum):
    """Whether a signal produced evidence."""

    OK = "ok"
    SKIPPED = "skipped"
    FAILED = "failed"


class Cost(_Frozen):
    """What producing a result cost: LLM calls, tokens and wall time."""

    llm_calls: int = Field(default=0, ge=0)
    tokens: int = Field(default=0, ge=0)
    seconds: float = Field(default=0.0, ge=0.0)

    def __add__(self, other: Cost) -> Cost:
        return Cost(
            llm_calls=self.llm_calls + other.llm_calls,
            tokens=self.tokens + other.tokens,
            seconds=self.seconds + other.seconds,
        )


class SignalResult(_Frozen):
    """One signal's evidence: a confidence in [0, 1] or an explicit reason why not."""

    name: str
    status: SignalStatus = SignalStatus.OK
    confidence: float | None = Field(default=None, ge=0.0, le=1.0)
    raw: float | None = None
    """The metric before it was mapped to a confidence (e.g. mean log-probability)."""
    reason: str | None = None
    details: dict[str, Any] = Field(default_factory=dict)
    cost: Cost = Cost()
    cascade_skipped: bool = False
    """Skipped by the cascade: it could no longer change the decision."""

    @field_validator("confidence", "raw")
    @classmethod
    def _finite(cls, value: float | None) -> float | None:
        if value is not None and not math.isfinite(value):
            raise ValueError(f"signal values must be finite, got {value!r}")
        return value

    @model_validator(mode="after")
    def _status_consistent(self) -> SignalResult:
        if self.status is SignalStatus.OK and self.confidence is None:
            raise ValueError(f"signal {self.name!r}: status ok needs a confidence")
        if self.status is not SignalStatus.OK:
            if self.confidence is not None:
                raise ValueError(
                    f"signal {self.name!r}: status {self.status.value} "
                    "must not carry a confidence"
                )
            if not self.reason:
                raise ValueError(
                    f"signal {self.name!r}: status {self.status.value} needs a reason"
                )
        return self

    @property
    def ok(self) -> bool:
        return self.status is SignalStatus.OK

    @classmethod
    def skipped(cls, name: str, reason: str, **details: Any) -> SignalResult:
        """A signal that could not run on this observation (e.g. no logprobs)."""
        return cls(
            name=name, status=SignalStatus.SKIPPED, reason=reason, details=details
        )

    @classmethod
    def failed(cls, name: str, error: BaseException | str) -> SignalResult:
        """A signal that raised or timed out."""
        reason = error if isinstance(error, str) else f"{type(error).__name__}: {error}"
        return cls(name=name, status=SignalStatus.FAILED, reason=reason or "failed")


class SignalSummary(_Frozen):
    """A signal's outcome in JSON-safe form, for verdicts shown to callers."""

    name: str
    status: str
    confidence: float | None = None
    reason: str | None = None

    @classmethod
    def of(cls, result: SignalResult) -> SignalSummary:
        """The summary of a signal result."""
        return cls(
            name=result.name,
            status=result.status.value,
            confidence=result.confidence,
            reason=result.reason,
        )


class Assessment(_Frozen):
    """The combined, calibrated confidence with its per-signal breakdown."""

    confidence: float | None = Field(ge=0.0, le=1.0)
    """None when no signal produced evidence."""
    signals: tuple[SignalResult, ...] = ()
    reasons: tuple[str, ...] = ()
    combiner: str = "mean"
    calibrated: bool = False

    @property
    def missing(self) -> tuple[SignalResult, ...]:
        # A signal the cascade skipped could not change the decision: not missing.
        return tuple(s for s in self.signals if not s.ok and not s.cascade_skipped)

    def signal(self, name: str) -> SignalResult:
        """The result of the signal called `name`."""
        for result in self.signals:
            if result.name == name:
                return result
        raise KeyError(name)

    @property
    def cost(self) -> Cost:
        total = Cost()
        for result in self.signals:
            total = total + result.cost
        return total


ClaimAction = Literal["keep", "flag", "redact", "gate"]
"""What the policy does with one claim of a long answer (see `confguard.claims`)."""


class Claim(_Frozen):
    """One checkable statement of an answer: its text, characters and tokens.

    `start`/`end` index the answer's characters (`answer[start:end] == text`);
    `token_start`/`token_end` index the answer's logprobs (end exclusive), None
    when the answer carried none.

    Example:
        >>> Claim(index=0, text="Paris is in France.", start=0, end=19)
    """

    index: int = Field(ge=0)
    text: str
    start: int = Field(ge=0)
    end: int = Field(ge=0)
    token_start: int | None = Field(default=None, ge=0)
    token_end: int | None = Field(default=None, ge=0)
    essential: bool = False
    """A claim the answer cannot stand without: its failure gates the answer."""

    @model_validator(mode="after")
    def _spans_ordered(self) -> Claim:
        if self.end < self.start:
            raise ValueError(f"claim {self.index}: end {self.end} < start {self.start}")
        tokens = (self.token_start, self.token_end)
        if (tokens[0] is None) != (tokens[1] is None):
            raise ValueError(f"claim {self.index}: a token span needs both ends")
        if tokens[0] is not None and tokens[1] is not None and tokens[1] < tokens[0]:
            raise ValueError(f"claim {self.index}: token_end < token_start")
        return self


class ClaimAssessment(_Frozen):
    """One claim's combined confidence with its per-signal breakdown."""

    claim: Claim
    confidence: float | None = Field(ge=0.0, le=1.0)
    """None when no claim signal produced evidence."""
    signals: tuple[SignalResult, ...] = ()
    reasons: tuple[str, ...] = ()
    combiner: str = "mean"

    @property
    def missing(self) -> tuple[SignalResult, ...]:
        return tuple(s for s in self.signals if not s.ok)

    def signal(self, name: str) -> SignalResult:
        """The result of the claim signal called `name`."""
        for result in self.signals:
            if result.name == name:
                return result
        raise KeyError(name)


class ClaimDecision(_Frozen):
    """What the policy did with one claim, and why."""

    index: int = Field(ge=0)
    action: ClaimAction
    reason: str
    caveat: str | None = None
    """Set when the claim was flagged."""


class ClaimReport(_Frozen):
    """An answer's claims, assessed and decided, and the answer after redaction.

    Example:
        >>> report.answer          # the claims kept, each removal said in place
        'Paris is the capital. [removed: a claim that was not supported]'
        >>> [d.reason for d in report.removed]
    """

    claims: tuple[ClaimAssessment, ...]
    decisions: tuple[ClaimDecision, ...]
    answer: str
    """The answer as the user may see it: redacted claims replaced by the note."""
    gated: bool = False
    """True when a claim's failure (or too few claims left) gates the whole answer."""
    reason: str = ""

    @property
    def removed(self) -> tuple[ClaimDecision, ...]:
        """The decisions that redacted a claim."""
        return tuple(d for d in self.decisions if d.action == "redact")

    @property
    def flagged(self) -> tuple[ClaimDecision, ...]:
        """The decisions that kept a claim with a caveat."""
        return tuple(d for d in self.decisions if d.action == "flag")

    def audit(self, *, with_text: bool) -> dict[str, Any]:
        """The report as JSON-safe audit metadata: each claim's span, confidence,
        action and why; the texts (claims, redacted answer) only `with_text`, as a
        store keeps answers only when told to."""
        claims = []
        for a, d in zip(self.claims, self.decisions, strict=True):
            entry: dict[str, Any] = {
                "index": a.claim.index,
                "span": [a.claim.start, a.claim.end],
                "essential": a.claim.essential,
                "confidence": a.confidence,
                "action": d.action,
                "why": d.reason,
            }
            if with_text:
                entry["text"] = a.claim.text
            claims.append(entry)
        found: dict[str, Any] = {"gated": self.gated, "reason": self.reason}
        if with_text:
            found["redacted_answer"] = self.answer
        return {**found, "claims": claims}


GENERATION_PARAMS = ("temperature", "top_p", "max_tokens", "seed")
"""Strategy parameters that change the model request (`GenerationRequest` fields)."""


class RetryStrategy(_Frozen):
    """A named way to try again; it reaches the pipeline as data.

    The built-in pipelines and integrations read three kinds of parameter, the
    same way everywhere: `top_k` (how many passages to retrieve), `embedder`
    (which retriever to use) and the generation settings in `GENERATION_PARAMS`.
    Build them with `confguard.strategies` (`more_context(8)`, `temperature(0.0)`,
    `other_embedder("e5")`); a pipeline of your own reads `name` and `params`.

    Example:
        >>> RetryStrategy(name="more_context", params={"top_k": 8}).top_k
        8
    """

    name: str
    params: dict[str, Any] = Field(default_factory=dict)

    @property
    def generation(self) -> dict[str, Any]:
        """The request settings this strategy changes (e.g. {"temperature": 0.0})."""
        return {k: v for k, v in self.params.items() if k in GENERATION_PARAMS}

    @property
    def top_k(self) -> int | None:
        """How many passages to retrieve, if the strategy says."""
        value = self.params.get("top_k")
        return None if value is None else int(value)

    @property
    def embedder(self) -> str | None:
        """Which embedder to retrieve with, if the strategy says."""
        value = self.params.get("embedder")
        return None if value is None else str(value)


class Attempt(_Frozen):
    """What the pipeline is told about the attempt it is running."""

    number: int = Field(ge=1)
    strategy: RetryStrategy | None = None
    """None on the first attempt; the retry strategy chosen by the policy after."""
    route: str | None = None
    """Set when this attempt runs an escalation route's pipeline."""


class Accept(_Frozen):
    """Return the answer as it is."""

    action: Literal["accept"] = "accept"
    reason: str


class Annotate(_Frozen):
    """Return the answer with a caveat attached."""

    action: Literal["annotate"] = "annotate"
    reason: str
    caveat: str


class Retry(_Frozen):
    """Run the pipeline again with a strategy."""

    action: Literal["retry"] = "retry"
    reason: str
    strategy: RetryStrategy
    wait_seconds: float = Field(default=0.0, ge=0.0)


class Escalate(_Frozen):
    """Hand the case to a named route (stronger model, human review, webhook, …)."""

    action: Literal["escalate"] = "escalate"
    reason: str
    route: str


class Abstain(_Frozen):
    """Do not answer; return the fallback message."""

    action: Literal["abstain"] = "abstain"
    reason: str
    message: str


Decision = Annotated[
    Accept | Annotate | Retry | Escalate | Abstain, Field(discriminator="action")
]
Action = Literal["accept", "annotate", "retry", "escalate", "abstain"]


class AttemptRecord(_Frozen):
    """One attempt of a guarded run: what was observed, assessed and decided."""

    attempt: Attempt
    observation: Observation
    assessment: Assessment
    decision: Decision
    latency_seconds: float = Field(ge=0.0)
    claims: ClaimReport | None = None
    """The answer's claims and what the policy did with each (claim-level guards)."""


class GuardResult(_Frozen):
    """What a guarded call returns: the final answer and the whole decision trail."""

    request_id: str
    """Links the result to its rows in the audit store."""
    question: str
    answer: str | None
    """The answer to give the user (None when the guard abstained with no message)."""
    decision: Decision
    assessment: Assessment
    attempts: tuple[AttemptRecord, ...]
    latency_seconds: float = Field(ge=0.0)
    review_id: str | None = None
    """Set when the case went to the human review queue."""
    route_response: dict[str, Any] | None = None
    """What an escalation route returned (e.g. a webhook's JSON), if anything."""
    claims: ClaimReport | None = None
    """The final attempt's claims and their actions (claim-level guards only);
    `answer` is then the redacted answer, `claims.removed` what was taken out."""

    @property
    def accepted(self) -> bool:
        """True when the answer was accepted or annotated."""
        return self.decision.action in ("accept", "annotate")

    @property
    def confidence(self) -> float | None:
        return self.assessment.confidence

    @property
    def cost(self) -> Cost:
        total = Cost()
        for record in self.attempts:
            total = total + record.assessment.cost
        return total


VERDICT_KEY = "confguard"
"""The metadata key under which the integrations attach a `Verdict` to an output."""
Review = Literal["approve", "edit", "reject"]


class AttemptSummary(_Frozen):
    """What one attempt was, and what the policy decided about it."""

    number: int
    strategy: str | None = None
    route: str | None = None
    action: Action
    reason: str
    confidence: float | None = None

    @classmethod
    def of(cls, record: AttemptRecord) -> AttemptSummary:
        """The summary of an AttemptRecord."""
        strategy = record.attempt.strategy
        return cls(
            number=record.attempt.number,
            strategy=strategy.name if strategy else None,
            route=record.attempt.route,
            action=record.decision.action,
            reason=record.decision.reason,
            confidence=record.assessment.confidence,
        )


class Verdict(_Frozen):
    """The guard's decision on an answer in JSON-safe form, as integrations attach it.

    Example:
        >>> verdict = Verdict.from_result(guard.run(pipeline, "Who won?"))
        >>> verdict.action, verdict.confidence, len(verdict.attempts)
        ('accept', 0.91, 1)
    """

    action: Action
    reason: str
    confidence: float | None = None
    guard_action: Action
    """The guard's own decision; differs from `action` only when the integration
    refused an answer the guard let through (e.g. an empty response)."""
    answer: str | None = None
    """The text the caller was given (caveat included, or the refusal message)."""
    judged_answer: str | None = None
    """The final attempt's answer as the guard judged it, also when refused (keep
    it for audit and evaluation; do not show a refused answer to users)."""
    caveat: str | None = None
    route: str | None = None
    review_id: str | None = None
    review: Review | None = None
    """Set once a person approved, edited or rejected an escalated answer."""
    issues: tuple[Issue, ...] = ()
    signals: tuple[SignalSummary, ...] = ()
    attempts: tuple[AttemptSummary, ...] = ()
    latency_seconds: float = Field(default=0.0, ge=0.0)
    request_id: str | None = None
    """The guard's request id: the key of the decision's rows in the audit store and
    of its trace (`confguard.request_id`)."""
    claims: tuple[ClaimDecision, ...] = ()
    """What a claim-level guard did with each claim of the final answer (kept,
    flagged with its caveat, redacted or gating, and why)."""

    @property
    def accepted(self) -> bool:
        """True when the answer was accepted or annotated."""
        return self.action in ("accept", "annotate")

    @classmethod
    def from_result(
        cls,
        result: GuardResult,
        *,
        append_caveat: bool = True,
        answer: str | None = None,
        refusal: Abstain | None = None,
    ) -> Verdict:
        """The verdict of a guard result.

        `append_caveat` appends an annotated answer's caveat to the text given;
        `answer` replaces that text; `refusal` refuses although the guard did not.
        """
        decision = refusal or result.decision
        given = _given_text(result, refusal, append_caveat)
        return cls(
            action=decision.action,
            reason=decision.reason,
            confidence=result.confidence,
            guard_action=result.decision.action,
            answer=given if answer is None else answer,
            judged_answer=next(
                (r.observation.answer for r in reversed(result.attempts)), None
            ),
            caveat=decision.caveat if isinstance(decision, Annotate) else None,
            route=decision.route if isinstance(decision, Escalate) else None,
            review_id=result.review_id,
            issues=tuple(i for r in result.attempts for i in r.observation.issues),
            signals=tuple(SignalSummary.of(s) for s in result.assessment.signals),
            attempts=tuple(AttemptSummary.of(r) for r in result.attempts),
            latency_seconds=result.latency_seconds,
            request_id=result.request_id,
            claims=result.claims.decisions if result.claims else (),
        )

    def to_metadata(self) -> dict[str, Any]:
        """The verdict as the JSON-safe dict stored under `VERDICT_KEY`."""
        return self.model_dump(mode="json")

    @classmethod
    def find(cls, metadata: Mapping[str, Any] | None) -> Verdict | None:
        """The verdict under `VERDICT_KEY` of a metadata mapping, None if absent.

        Raises `InputError` when the stored verdict is malformed.
        """
        raw = None if metadata is None else metadata.get(VERDICT_KEY)
        if raw is None:
            return None
        try:
            return cls.model_validate(raw)
        except ValidationError as exc:
            raise InputError(f"the confguard verdict is malformed: {exc}") from exc

    @classmethod
    def read(cls, metadata: Mapping[str, Any] | None, *, where: str) -> Verdict:
        """The verdict under `VERDICT_KEY`; `InputError` naming `where` if absent."""
        found = cls.find(metadata)
        if found is None:
            raise InputError(
                f"the {where} carries no confguard verdict (no {VERDICT_KEY!r} key); "
                "was it returned by a confguard integration?"
            )
        return found


def _given_text(
    result: GuardResult, refusal: Abstain | None, append_caveat: bool
) -> str | None:
    if refusal is not None:
        return refusal.message or None
    text, decision = result.answer, result.decision
    if append_caveat and isinstance(decision, Annotate) and text:
        return f"{text}\n\n{decision.caveat}"
    return text


__all__ = [
    "GENERATION_PARAMS",
    "VERDICT_KEY",
    "Abstain",
    "Accept",
    "Action",
    "Annotate",
    "Assessment",
    "Attempt",
    "AttemptRecord",
    "AttemptSummary",
    "Claim",
    "ClaimAction",
    "ClaimAssessment",
    "ClaimDecision",
    "ClaimReport",
    "Cost",
    "Decision",
    "Escalate",
    "GuardResult",
    "Issue",
    "Retry",
    "RetryStrategy",
    "Review",
    "SignalResult",
    "SignalStatus",
    "SignalSummary",
    "Verdict",
]
