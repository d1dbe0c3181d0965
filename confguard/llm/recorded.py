"""A generator that records every model call on disk and replays it on a repeat.

Fitting presets, benchmarking them and re-running an evaluation ask the same model
the same questions many times. `recorded(generator, path)` answers a request it has
seen from the file, byte for byte, and sends any other to the model, appending the
answer — with the seconds the model took, so a replayed run can still report what
the calls cost. A request is its full JSON (prompt, sampling settings, seed), so a
changed setting is a new call, never a stale answer.

Example:
    >>> gen = recorded(default_generator(), Path(".confguard/calls.jsonl"))
    >>> gen.generate(request)            # the model answers; the file records it
    >>> gen.generate(request)            # replayed from the file
    >>> gen.stats.replayed, gen.stats.model_seconds
    (1, 0.41)
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from confguard.llm.base import (
    BaseContinuationScorer,
    BaseGenerator,
    Completion,
    ContinuationScorer,
    GenerationRequest,
    Generator,
    ScoringRequest,
)
from confguard.observation import TokenLogprob


class CallStats(BaseModel):
    """What a recorded generator has done since it was made (or last reset)."""

    model_config = ConfigDict(frozen=True)

    calls: int = 0
    """Requests answered, replayed or not."""
    replayed: int = 0
    model_seconds: float = 0.0
    """Seconds the model took for these calls, when they were first made."""
    replayed_seconds: float = 0.0
    """The part of `model_seconds` spent on calls replayed from the record."""


class _Entry(BaseModel):
    model_config = ConfigDict(frozen=True)

    key: str
    kind: str
    seconds: float
    completions: tuple[Completion, ...] = ()
    logprobs: tuple[TokenLogprob, ...] = ()


def request_key(request: GenerationRequest | ScoringRequest) -> str:
    """A digest of everything in the request: equal keys, equal requests."""
    body = f"{type(request).__name__}:{request.model_dump_json()}"
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


class RecordedGenerator(BaseGenerator):
    """Replays calls recorded in `path` and records the rest (see the module doc)."""

    def __init__(
        self,
        generator: Generator,
        path: str | Path,
        *,
        replay_from: Sequence[str | Path] = (),
    ) -> None:
        self.generator = generator
        self.name = generator.name
        self.path = Path(path)
        self._lock = threading.Lock()
        # Other records (e.g. a parallel run's) are replayed but never written.
        self._entries = {k: v for p in replay_from for k, v in _load(Path(p)).items()}
        self._entries.update(_load(self.path))
        self._stats = CallStats()

    @property
    def stats(self) -> CallStats:
        """Calls, replays and model seconds since creation or `reset_stats`."""
        return self._stats

    def reset_stats(self) -> CallStats:
        """The stats so far; counting starts again from zero."""
        with self._lock:
            stats, self._stats = self._stats, CallStats()
        return stats

    def generate(self, request: GenerationRequest) -> tuple[Completion, ...]:
        """The recorded completions of `request`, or the model's (then recorded)."""
        entry = self._through(
            request,
            lambda: _Entry(
                key="",
                kind="generate",
                seconds=0.0,
                completions=self.generator.generate(request),
            ),
        )
        return entry.completions

    def _through(
        self,
        request: GenerationRequest | ScoringRequest,
        call: Callable[[], _Entry],
    ) -> _Entry:
        key = request_key(request)
        with self._lock:
            found = self._entries.get(key)
        replayed = found is not None
        if found is None:
            start = time.perf_counter()
            made = call()
            found = made.model_copy(
                update={"key": key, "seconds": time.perf_counter() - start}
            )
            self._save(found)
        self._count(found, replayed=replayed)
        return found

    def _save(self, entry: _Entry) -> None:
        with self._lock:
            self._entries[entry.key] = entry
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as out:
                out.write(entry.model_dump_json() + "\n")

    def _count(self, entry: _Entry, *, replayed: bool) -> None:
        with self._lock:
            s = self._stats
            self._stats = CallStats(
                calls=s.calls + 1,
                replayed=s.replayed + int(replayed),
                model_seconds=s.model_seconds + entry.seconds,
                replayed_seconds=s.replayed_seconds + entry.seconds * replayed,
            )


class RecordedScorer(RecordedGenerator, BaseContinuationScorer):
    """A recorded generator whose model also scores continuations (teacher forcing)."""

    def score_continuation(self, request: ScoringRequest) -> tuple[TokenLogprob, ...]:
        """The recorded logprobs of the continuation, or the model's."""
        scorer: Any = self.generator
        entry = self._through(
            request,
            lambda: _Entry(
                key="",
                kind="score",
                seconds=0.0,
                logprobs=scorer.score_continuation(request),
            ),
        )
        return entry.logprobs


def recorded(
    generator: Generator, path: str | Path, *, replay_from: Sequence[str | Path] = ()
) -> RecordedGenerator:
    """`generator` behind a call record in `path` (a scorer stays a scorer).

    Calls found in the `replay_from` records are replayed too.
    """
    if isinstance(generator, ContinuationScorer):
        return RecordedScorer(generator, path, replay_from=replay_from)
    return RecordedGenerator(generator, path, replay_from=replay_from)


def _load(path: Path) -> dict[str, _Entry]:
    if not path.exists():
        return {}
    entries: dict[str, _Entry] = {}
    for line in path.read_text("utf-8").splitlines():
        if not line.strip():
            continue
        try:
            entry = _Entry.model_validate(json.loads(line))
        except ValueError:
            continue  # a line cut short by a killed run: that call is made again
        entries[entry.key] = entry
    return entries


__all__ = [
    "CallStats",
    "RecordedGenerator",
    "RecordedScorer",
    "recorded",
    "request_key",
]
