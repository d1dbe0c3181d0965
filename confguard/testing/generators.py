"""Fakes for unit tests: a scripted Generator and a hashing bag-of-words Embedder."""

from __future__ import annotations

import asyncio
import functools
import hashlib
import math
import re
import threading
from collections.abc import Callable, Sequence

import numpy as np

from confguard.embeddings.base import BaseEmbedder, Vectors
from confguard.exceptions import GenerationError
from confguard.llm.base import (
    BaseGenerator,
    Completion,
    GenerationRequest,
    ScoringRequest,
)
from confguard.observation import TokenLogprob, TopLogprob

Responses = Sequence[str] | Callable[[str], str]
LogprobSpec = float | Sequence[float] | Callable[[str], float | Sequence[float]] | None

_TOKEN = re.compile(r"\s*\S+|\s+")
_WORD = re.compile(r"\w+")


def fake_tokens(text: str) -> list[str]:
    """Split text the way the fakes tokenise it: each word with its leading spaces.

    Example:
        >>> fake_tokens("The Eiffel Tower")
        ['The', ' Eiffel', ' Tower']
    """
    return _TOKEN.findall(text)


class FakeGenerator(BaseGenerator):
    """A scripted `Generator` and `ContinuationScorer` that records every call.

    `responses` is a list (used in order, the last one repeating) or a function of
    the prompt. `logprobs` is one value for every token, a per-position list (the
    last repeating), a function of the text, or None for a model without logprobs.
    Each token's top list holds the token itself plus `"<alt1>"`, `"<alt2>"`, ...
    sharing the remaining probability mass equally.

    Example:
        >>> gen = FakeGenerator(["Paris"], logprobs=-0.1)
        >>> [c] = gen.generate(GenerationRequest(prompt="Capital of France?"))
        >>> c.text, c.logprobs[0].logprob, gen.call_count
        ('Paris', -0.1, 1)
    """

    def __init__(
        self,
        responses: Responses = ("",),
        *,
        logprobs: LogprobSpec = -0.1,
        name: str = "fake",
    ) -> None:
        if not callable(responses) and not list(responses):
            raise ValueError("FakeGenerator needs at least one response")
        self.name = name
        self.responses = responses
        self.logprobs = logprobs
        self.calls: list[GenerationRequest] = []
        self.scored: list[ScoringRequest] = []
        self._served = 0  # completions drawn from the response list so far
        self._lock = threading.Lock()

    @property
    def call_count(self) -> int:
        """How many times `generate`/`agenerate` was called."""
        return len(self.calls)

    def generate(self, request: GenerationRequest) -> tuple[Completion, ...]:
        """Return `request.n` scripted completions, honouring stop and max tokens."""
        with self._lock:
            self.calls.append(request)
            texts = [self._next_text(request.prompt) for _ in range(request.n)]
        return tuple(self._completion(request, text) for text in texts)

    async def agenerate(self, request: GenerationRequest) -> tuple[Completion, ...]:
        """`generate`, awaited (yields to the event loop once)."""
        await asyncio.sleep(0)
        return self.generate(request)

    def score_continuation(self, request: ScoringRequest) -> tuple[TokenLogprob, ...]:
        """The configured logprobs of the continuation's fake tokens."""
        with self._lock:
            self.scored.append(request)
        tokens = fake_tokens(request.continuation)
        scored = self._token_logprobs(tokens, request.top_k)
        if scored is None:
            raise GenerationError(f"FakeGenerator {self.name!r} has no logprobs")
        return scored

    async def ascore_continuation(
        self, request: ScoringRequest
    ) -> tuple[TokenLogprob, ...]:
        """`score_continuation`, awaited."""
        await asyncio.sleep(0)
        return self.score_continuation(request)

    def _next_text(self, prompt: str) -> str:
        if callable(self.responses):
            return self.responses(prompt)
        text = self.responses[min(self._served, len(self.responses) - 1)]
        self._served += 1
        return text

    def _completion(self, request: GenerationRequest, text: str) -> Completion:
        tokens = fake_tokens(Completion(text=text).cut_at(request.stop).text)
        kept = tokens[: request.max_tokens]
        logprobs = self._token_logprobs(kept, request.top_k)
        return Completion(
            text="".join(kept),
            logprobs=logprobs if request.logprobs else None,
            finish_reason="length" if len(tokens) > request.max_tokens else "stop",
            prompt_tokens=len(fake_tokens(request.prompt)),
            completion_tokens=len(kept),
        )

    def _token_logprobs(
        self, tokens: list[str], k: int
    ) -> tuple[TokenLogprob, ...] | None:
        values = _per_token(self.logprobs, "".join(tokens), len(tokens))
        if values is None:
            return None
        return tuple(
            TokenLogprob(token=t, logprob=lp, top_logprobs=_top(t, lp, k))
            for t, lp in zip(tokens, values, strict=True)
        )


def _per_token(spec: LogprobSpec, text: str, count: int) -> list[float] | None:
    """Expand a logprob spec into one value per token (the last value repeats)."""
    value = spec(text) if callable(spec) else spec
    if value is None:
        return None
    values = [float(value)] if isinstance(value, int | float) else list(value)
    if count and not values:
        raise ValueError("a logprob list for FakeGenerator must not be empty")
    return [values[min(i, len(values) - 1)] for i in range(count)]


def _top(token: str, logprob: float, k: int) -> tuple[TopLogprob, ...]:
    """The chosen token plus k-1 alternatives sharing the rest of the mass."""
    rest = 1.0 - math.exp(logprob)
    alts = [] if k <= 1 or rest <= 0 else [math.log(rest / (k - 1))] * (k - 1)
    entries = [(token, logprob)] + [(f"<alt{i}>", v) for i, v in enumerate(alts, 1)]
    ranked = sorted(entries, key=lambda e: e[1], reverse=True)[: max(k, 0)]
    return tuple(TopLogprob(token=t, logprob=v) for t, v in ranked)


class FakeEmbedder(BaseEmbedder):
    """Deterministic hashing bag-of-words vectors: shared words mean similar texts.

    Each lower-cased word adds +1 or -1 at a hashed position; rows are normalised
    (a text without words embeds to the zero vector).

    Example:
        >>> e = FakeEmbedder(dim=64)
        >>> float(e.embed_query("red apple") @ e.embed_query("apple red"))
        1.0
    """

    def __init__(
        self, dim: int = 64, *, name: str = "fake", batch_size: int = 32
    ) -> None:
        super().__init__(batch_size=batch_size)
        if dim < 1:
            raise ValueError(f"dim must be >= 1, got {dim}")
        self.dim = dim
        self.name = name

    def _encode_documents(self, texts: list[str]) -> Vectors:
        return np.stack([_hashed_bag(t, self.dim) for t in texts])

    def _encode_queries(self, texts: list[str]) -> Vectors:
        return self._encode_documents(texts)


@functools.lru_cache(maxsize=65536)
def _bucket(word: str, dim: int) -> tuple[int, float]:
    digest = int.from_bytes(hashlib.blake2b(word.encode(), digest_size=8).digest())
    return digest % dim, (1.0 if digest >> 63 else -1.0)


def _hashed_bag(text: str, dim: int) -> Vectors:
    vector = np.zeros(dim, dtype=np.float32)
    for word in _WORD.findall(text.lower()):
        index, sign = _bucket(word, dim)
        vector[index] += sign
    return vector
