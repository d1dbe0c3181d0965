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
from pydantic import BaseModel, ConfigDict

from confguard.embeddings.base import BaseEmbedder, Vectors
from confguard.exceptions import GenerationError
from confguard.llm.base import Completion
from confguard.observation import TokenLogprob, TopLogprob

Responses = Sequence[str] | Callable[[str], str]
LogprobSpec = float | Sequence[float] | Callable[[str], float | Sequence[float]] | None

_TOKEN = re.compile(r"\s*\S+|\s+")
_WORD = re.compile(r"\w+")


class FakeCall(BaseModel):
    """One recorded `generate` call, with the arguments it was given."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    prompt: str
    n: int
    temperature: float
    max_tokens: int
    stop: tuple[str, ...]
    seed: int | None
    top_logprobs: int


def fake_tokens(text: str) -> list[str]:
    """Split text the way the fakes tokenise it: each word with its leading spaces.

    Example:
        >>> fake_tokens("The Eiffel Tower")
        ['The', ' Eiffel', ' Tower']
    """
    return _TOKEN.findall(text)


class FakeGenerator:
    """A scripted `Generator` and `ContinuationScorer` that records every call.

    `responses` is a list (used in order, the last one repeating) or a function of
    the prompt. `logprobs` is one value for every token, a per-position list (the
    last repeating), a function of the text, or None for a model without logprobs.
    Each token's top list holds the token itself plus `"<alt1>"`, `"<alt2>"`, ...
    sharing the remaining probability mass equally.

    Example:
        >>> gen = FakeGenerator(["Paris"], logprobs=-0.1)
        >>> [c] = gen.generate("Capital of France?")
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
        self.calls: list[FakeCall] = []
        self.scored: list[tuple[str, str]] = []
        self._served = 0  # completions drawn from the response list so far
        self._lock = threading.Lock()

    @property
    def call_count(self) -> int:
        """How many times `generate`/`agenerate` was called."""
        return len(self.calls)

    def generate(
        self,
        prompt: str,
        *,
        n: int = 1,
        temperature: float = 0.0,
        max_tokens: int = 64,
        stop: Sequence[str] = (),
        seed: int | None = None,
        top_logprobs: int = 5,
    ) -> tuple[Completion, ...]:
        """Return `n` scripted completions, honouring `stop` and `max_tokens`."""
        call = FakeCall(
            prompt=prompt,
            n=n,
            temperature=temperature,
            max_tokens=max_tokens,
            stop=tuple(stop),
            seed=seed,
            top_logprobs=top_logprobs,
        )
        with self._lock:
            self.calls.append(call)
            texts = [self._next_text(prompt) for _ in range(n)]
        return tuple(self._completion(call, text) for text in texts)

    async def agenerate(
        self,
        prompt: str,
        *,
        n: int = 1,
        temperature: float = 0.0,
        max_tokens: int = 64,
        stop: Sequence[str] = (),
        seed: int | None = None,
        top_logprobs: int = 5,
    ) -> tuple[Completion, ...]:
        """`generate`, awaited (yields to the event loop once)."""
        await asyncio.sleep(0)
        return self.generate(
            prompt,
            n=n,
            temperature=temperature,
            max_tokens=max_tokens,
            stop=stop,
            seed=seed,
            top_logprobs=top_logprobs,
        )

    def score_continuation(
        self, prompt: str, continuation: str, *, top_logprobs: int = 5
    ) -> tuple[TokenLogprob, ...]:
        """The configured logprobs of `continuation`'s fake tokens."""
        with self._lock:
            self.scored.append((prompt, continuation))
        scored = self._token_logprobs(fake_tokens(continuation), top_logprobs)
        if scored is None:
            raise GenerationError(f"FakeGenerator {self.name!r} has no logprobs")
        return scored

    async def ascore_continuation(
        self, prompt: str, continuation: str, *, top_logprobs: int = 5
    ) -> tuple[TokenLogprob, ...]:
        """`score_continuation`, awaited."""
        await asyncio.sleep(0)
        return self.score_continuation(prompt, continuation, top_logprobs=top_logprobs)

    def _next_text(self, prompt: str) -> str:
        if callable(self.responses):
            return self.responses(prompt)
        text = self.responses[min(self._served, len(self.responses) - 1)]
        self._served += 1
        return text

    def _completion(self, call: FakeCall, text: str) -> Completion:
        text = _cut_at_stop(text, call.stop)
        tokens = fake_tokens(text)
        finish = "length" if len(tokens) > call.max_tokens else "stop"
        tokens = tokens[: call.max_tokens]
        return Completion(
            text="".join(tokens),
            logprobs=self._token_logprobs(tokens, call.top_logprobs),
            finish_reason=finish,
            prompt_tokens=len(fake_tokens(call.prompt)),
            completion_tokens=len(tokens),
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


def _cut_at_stop(text: str, stops: Sequence[str]) -> str:
    hits = [text.find(s) for s in stops if s and s in text]
    return text[: min(hits)] if hits else text


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
