"""The keyword options of the guards, and the checks each is given on the way in."""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, TypedDict

from confguard.exceptions import ConfigurationError, UnknownComponentError
from confguard.policy.model import MAX_ATTEMPTS
from confguard.routes.base import Route
from confguard.routes.retrying import Retries
from confguard.scoring.aggregate import Calibrator, Combiner
from confguard.signals.base import Signal, timeout_of
from confguard.store.base import AuditStore
from confguard.store.spooling import OnStoreError


class GuardOptions(TypedDict, total=False):
    """The keyword options of `Guard` and `AsyncGuard`; every one may be left out."""

    store: AuditStore | None
    """Where every decision is recorded (and the review queue lives)."""
    routes: Mapping[str, Route] | None
    """Escalation routes by name; the policy's `escalate.route` must be one."""
    combiner: Combiner | None
    """Overrides the policy's combiner."""
    calibrator: Calibrator | None
    """Overrides the policy's calibrator."""
    signal_timeout: float | Mapping[str, float | None] | None
    """Seconds a signal may take (None: no limit; a mapping: by signal name).

    Left out, each signal gets its own `timeout`, else `default_timeout(cost)`; a
    slower signal is reported as failed, "timed out"."""
    max_workers: int
    """Threads the guard runs its blocking signals on (its own pool, not asyncio's)."""
    retries: Retries | None
    """Attempts in all (overrides the policy's max_attempts), or a tenacity Retrying."""
    strategies: Iterable[str]
    """Retry strategy names the pipeline understands beyond the built-in ones."""
    on_store_error: OnStoreError
    """"spool" (default): a record the store cannot take now is spooled and
    replayed later (`confguard.store.spooling`); "raise": StoreError is raised."""
    spool: str | os.PathLike[str] | None
    """The spool folder (default: the store's `spool_directory`)."""


OPTIONS = frozenset(GuardOptions.__annotations__)


def known_options(options: Mapping[str, object]) -> None:
    if "store_answers" in options:
        raise TypeError(
            "store_answers is an option of the store now, not of the guard: "
            "SQLStore(url, store_answers=True) or InMemoryStore(store_answers=True)"
        )
    unknown = sorted(set(options) - OPTIONS)
    if unknown:
        raise TypeError(
            f"unexpected keyword argument {unknown[0]!r}; "
            f"the options are: {', '.join(sorted(OPTIONS))}"
        )


def bounded(retries: Retries) -> Retries:
    # An int is the policy's max_attempts, so it keeps the policy's bound.
    if isinstance(retries, int) and retries > MAX_ATTEMPTS:
        raise ConfigurationError(
            f"retries must be from 1 to {MAX_ATTEMPTS} attempts, got {retries}"
        )
    return retries


def on_store_error(value: object) -> OnStoreError:
    if value not in ("spool", "raise"):
        raise ConfigurationError(
            f'on_store_error must be "spool" or "raise", got {value!r}'
        )
    return value


def checked_calibrator(calibrator: Any) -> Calibrator | None:
    if calibrator is not None and not callable(getattr(calibrator, "calibrate", None)):
        raise ConfigurationError(
            f"calibrator {type(calibrator).__name__} has no calibrate(p) method"
        )
    return calibrator  # type: ignore[no-any-return]


def checked_store(store: Any) -> AuditStore | None:
    if store is None:
        return None
    if not all(callable(getattr(store, m, None)) for m in ("record", "arecord")):
        raise ConfigurationError(
            f"store {type(store).__name__} is not an AuditStore (needs record/arecord)"
        )
    return store  # type: ignore[no-any-return]


def timeouts(
    signals: Sequence[Signal], options: GuardOptions
) -> dict[str, float | None]:
    """Each signal's limit: the guard's setting, else the signal's own or default."""
    given = options.get("signal_timeout")
    if "signal_timeout" not in options:
        given = {}
    elif not isinstance(given, Mapping):
        return {s.name: _seconds(given) for s in signals}
    known = [s.name for s in signals]
    for name in given:
        if name not in known:
            raise UnknownComponentError("signal (in signal_timeout)", name, known)
    return {
        s.name: _seconds(given[s.name]) if s.name in given else timeout_of(s)
        for s in signals
    }


def _seconds(seconds: Any) -> float | None:
    bad = isinstance(seconds, bool) or not isinstance(seconds, int | float | None)
    if bad or (seconds is not None and not (math.isfinite(seconds) and seconds > 0)):
        raise ConfigurationError(f"signal_timeout must be > 0 seconds, got {seconds!r}")
    return None if seconds is None else float(seconds)


def max_workers(count: Any) -> int:
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise ConfigurationError(f"max_workers must be an int >= 1, got {count!r}")
    return count


__all__ = [
    "OPTIONS",
    "GuardOptions",
    "bounded",
    "checked_calibrator",
    "checked_store",
    "known_options",
    "max_workers",
    "on_store_error",
    "timeouts",
]
