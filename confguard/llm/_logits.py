"""The model-free parts of decoding: numpy maths over one step's logits, and text.

Only what a decode step needs is computed: one log-normaliser for the whole
vocabulary, then log-probabilities of the few ids asked for (no full sort).
Token bytes become text incrementally, watching for stop strings.
"""

from __future__ import annotations

import codecs
import math
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.floating]
IntArray = npt.NDArray[np.intp]
_SAMPLE_BLOCK = 1024


class TopK(NamedTuple):
    """The k most likely token ids and their log-probabilities, most likely first."""

    ids: IntArray
    logprobs: npt.NDArray[np.float64]


def log_normaliser(logits: FloatArray) -> float:
    """log(sum(exp(logits))), stable: exp in float32 in place, summed in float64.

    Example:
        >>> round(log_normaliser(np.array([0.0, 0.0])), 6)
        0.693147
    """
    # In-place float32 work: fresh float64 temporaries of a 262k vocabulary cost
    # ~2 ms a step in page faults, ten times the arithmetic.
    peak = float(np.max(logits))
    weights = np.subtract(logits, np.float32(peak), dtype=np.float32)
    np.exp(weights, out=weights)
    # The peak contributes exactly 1, so the log is >= 0 and no logprob is > 0.
    return peak + math.log(float(weights.sum(dtype=np.float64)))


def logprobs_of(
    logits: FloatArray, ids: IntArray, normaliser: float | None = None
) -> npt.NDArray[np.float64]:
    """Log-softmax of `logits` read at `ids` only (pass `normaliser` to reuse one)."""
    lse = log_normaliser(logits) if normaliser is None else normaliser
    picked = np.asarray(logits)[np.asarray(ids, dtype=np.intp)].astype(np.float64)
    return picked - lse


def top_k(logits: FloatArray, k: int, normaliser: float | None = None) -> TopK:
    """The `k` most likely ids, sorted by log-probability descending, then by id."""
    if k <= 0:
        return TopK(np.empty(0, dtype=np.intp), np.empty(0, dtype=np.float64))
    values = np.asarray(logits)
    k = min(k, len(values))
    kth = np.partition(values, len(values) - k)[len(values) - k]
    # Partitioning splits ties at the boundary arbitrarily; take the lowest ids.
    above = np.flatnonzero(values > kth)
    tied = np.flatnonzero(values == kth)[: k - len(above)]
    ids = np.concatenate([above, tied])
    # lexsort's last key is primary: by logit descending, then by id.
    ids = ids[np.lexsort((ids, -values[ids]))].astype(np.intp)
    return TopK(ids, logprobs_of(logits, ids, normaliser))


def greedy(logits: FloatArray) -> int:
    """The most likely token id (the lowest id on ties)."""
    return int(np.argmax(logits))


def sample(
    logits: FloatArray,
    temperature: float,
    rng: np.random.Generator,
    top_p: float = 1.0,
) -> int:
    """Draw one id from softmax(logits / temperature) by inverse CDF.

    With `top_p` < 1 the draw is from the smallest set of most likely ids whose
    mass reaches `top_p` (nucleus sampling).

    Example:
        >>> sample(np.array([0.0, 9.0]), 1.0, np.random.default_rng(0))
        1
    """
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0 to sample, got {temperature}")
    weights = np.divide(logits, np.float32(temperature), dtype=np.float32)
    weights -= weights.max()
    np.exp(weights, out=weights)
    if top_p < 1.0:
        return _sample_nucleus(weights, top_p, rng)
    # Two-level inverse CDF: block sums first, then one block (a float64 cumsum of
    # the whole vocabulary would cost more than the rest of the step).
    starts = np.arange(0, len(weights), _SAMPLE_BLOCK)
    cumulative = np.cumsum(np.add.reduceat(weights, starts, dtype=np.float64))
    target = rng.random() * cumulative[-1]
    block = min(int(np.searchsorted(cumulative, target, "right")), len(starts) - 1)
    target -= cumulative[block - 1] if block else 0.0
    inside = np.cumsum(
        weights[starts[block] : starts[block] + _SAMPLE_BLOCK], dtype=np.float64
    )
    return int(starts[block]) + min(
        int(np.searchsorted(inside, target, "right")), len(inside) - 1
    )


def _sample_nucleus(weights: FloatArray, top_p: float, rng: np.random.Generator) -> int:
    """Sample among the most likely ids holding `top_p` of the mass."""
    total = float(weights.sum(dtype=np.float64))
    order = np.argsort(weights)[::-1]  # only on this path: a full sort costs ~10 ms
    mass = np.cumsum(weights[order], dtype=np.float64) / total
    keep = int(np.searchsorted(mass, top_p, "left")) + 1
    kept = order[:keep]
    probs = weights[kept].astype(np.float64)
    return int(kept[rng.choice(len(kept), p=probs / probs.sum())])


@dataclass(frozen=True)
class Step:
    """What the model chose at one position, with the top-k it considered."""

    token: int
    logprob: float
    top: TopK


def score_step(logits: FloatArray, token: int, k: int) -> Step:
    """Log-probability of `token` and the top-k, sharing one log-normaliser."""
    lse = log_normaliser(logits)
    [chosen] = logprobs_of(logits, np.array([token]), lse)
    return Step(token, float(chosen), top_k(logits, k, lse))


@dataclass
class TextBuffer:
    """Token bytes decoded into text pieces as they come, watching for stop strings.

    A character split across tokens lands on the token that completes it (the
    earlier ones show as ""), so the pieces always join to the text.
    """

    stops: tuple[str, ...]
    pieces: list[str] = field(default_factory=list)
    text: str = ""
    _decoder: codecs.IncrementalDecoder = field(
        default_factory=lambda: codecs.getincrementaldecoder("utf-8")("replace")
    )

    def add(self, piece: bytes) -> int | None:
        """Append one token's bytes; return where a stop string starts, if one did."""
        before = len(self.text)
        self.pieces.append(self._decoder.decode(piece))
        self.text += self.pieces[-1]
        return self._find_stop(before)

    def finish(self) -> None:
        """Flush bytes left incomplete at the end onto the last piece (idempotent)."""
        tail = self._decoder.decode(b"", final=True)
        if tail and self.pieces:
            self.pieces[-1] += tail
            self.text += tail

    def cut(self, at: int) -> int:
        """Truncate the text at `at`; return how many tokens still show in it."""
        self.finish()
        self.text, kept, start = self.text[:at], [], 0
        for piece in self.pieces:
            if start >= at:
                break
            kept.append(piece[: at - start])
            start += len(piece)
        self.pieces = kept
        return len(kept)

    def _find_stop(self, before: int) -> int | None:
        hits = []
        for stop in self.stops:
            found = self.text.find(stop, max(before - len(stop) + 1, 0))
            if found >= 0:
                hits.append(found)
        return min(hits) if hits else None
