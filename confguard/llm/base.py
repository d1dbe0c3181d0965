"""What confguard asks a model for, and what it gets back.

One `GenerationRequest` carries every setting of a call; `Generator.generate(request)`
answers it. A retry strategy or a signal changes a request with `request.with_(...)`,
in one place, and every generator (local, fakes, framework adapters) reads it the same.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

from confguard.llm.workers import run_blocking
from confguard.observation import TokenLogprob
from confguard.results import Attempt


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class GenerationRequest(_Frozen):
    """One generation call: the prompt and every setting that shapes the completions.

    Example:
        >>> request = GenerationRequest(prompt="Q: 2+2?\\nA:", stop=("\\n",))
        >>> request.with_(temperature=0.7, n=5).n
        5
    """

    prompt: str
    max_tokens: int = Field(default=64, ge=1)
    temperature: float = Field(default=0.0, ge=0.0)
    top_p: float = Field(default=1.0, gt=0.0, le=1.0)
    stop: tuple[str, ...] = ()
    n: int = Field(default=1, ge=1)
    seed: int | None = None
    logprobs: bool = True
    """Ask for per-token logprobs (a model without them returns None regardless)."""
    top_k: int = Field(default=5, ge=0)
    """How many alternatives to report per position with the logprobs."""

    def with_(self, **changes: Any) -> GenerationRequest:
        """A validated copy with some settings changed."""
        return GenerationRequest.model_validate({**self.model_dump(), **changes})

    def for_attempt(self, attempt: Attempt | None) -> GenerationRequest:
        """This request as the attempt's retry strategy changes it (the one place).

        Example:
            >>> retry = Attempt(number=2, strategy=temperature(0.7))
            >>> GenerationRequest(prompt="Q").for_attempt(retry).temperature
            0.7
        """
        if attempt is None or attempt.strategy is None:
            return self
        changes = attempt.strategy.generation
        return self.with_(**changes) if changes else self


class ScoringRequest(_Frozen):
    """Teacher-forced scoring: the logprobs of a given continuation after a prompt.

    Example:
        >>> ScoringRequest(prompt="Capital of France:", continuation=" Paris")
    """

    prompt: str
    continuation: str
    top_k: int = Field(default=5, ge=0)


ModelRequest = GenerationRequest | ScoringRequest
"""Anything a plan can ask of a model."""


class Completion(_Frozen):
    """One generated text with its per-token logprobs (None if the model has none)."""

    text: str
    logprobs: tuple[TokenLogprob, ...] | None = None
    finish_reason: Literal["stop", "length"] = "stop"
    prompt_tokens: int = Field(default=0, ge=0)
    completion_tokens: int = Field(default=0, ge=0)

    def cut_at(self, stop: Sequence[str]) -> Completion:
        """This completion cut before the first stop string, logprobs trimmed to match.

        For models that do not apply stop strings themselves; tokens are kept while
        their joined text fits within the kept text.

        Example:
            >>> Completion(text="Paris\\nQuestion: ...").cut_at(["\\n"]).text
            'Paris'
        """
        found = [self.text.find(s) for s in stop if s and s in self.text]
        if not found:
            return self
        cut = min(found)
        logprobs = None if self.logprobs is None else _tokens_within(self.logprobs, cut)
        tokens = self.completion_tokens if logprobs is None else len(logprobs)
        return self.model_copy(
            update={
                "text": self.text[:cut],
                "logprobs": logprobs,
                "finish_reason": "stop",
                "completion_tokens": tokens,
            }
        )


def _tokens_within(
    tokens: tuple[TokenLogprob, ...], length: int
) -> tuple[TokenLogprob, ...]:
    kept, used = [], 0
    for token in tokens:
        used += len(token.token)
        if used > length:
            break
        kept.append(token)
    return tuple(kept)


@runtime_checkable
class Generator(Protocol):
    """A request in, `request.n` completions out, each with top-k token logprobs.

    Example:
        >>> request = GenerationRequest(prompt="Q: 2+2?\\nA:", stop=("\\n",))
        >>> [c] = generator.generate(request)
        >>> c.text, c.logprobs[0].top_logprobs[:2]
    """

    name: str

    def generate(self, request: GenerationRequest) -> tuple[Completion, ...]: ...

    async def agenerate(self, request: GenerationRequest) -> tuple[Completion, ...]: ...


@runtime_checkable
class ContinuationScorer(Protocol):
    """Teacher-forced log-probabilities of a given continuation after a prompt."""

    def score_continuation(
        self, request: ScoringRequest
    ) -> tuple[TokenLogprob, ...]: ...

    async def ascore_continuation(
        self, request: ScoringRequest
    ) -> tuple[TokenLogprob, ...]: ...


class BaseGenerator:
    """Base for generators: implement `generate`; `agenerate` runs it in a thread.

    Example:
        >>> class Echo(BaseGenerator):
        ...     name = "echo"
        ...     def generate(self, request):
        ...         return (Completion(text=request.prompt),) * request.n
    """

    name: str = "generator"

    def generate(self, request: GenerationRequest) -> tuple[Completion, ...]:
        """Complete `request.prompt` `request.n` times."""
        raise NotImplementedError

    async def agenerate(self, request: GenerationRequest) -> tuple[Completion, ...]:
        """`generate` in a worker thread, off the event loop (a guard's own, in one)."""
        return await run_blocking(self.generate, request)


class BaseContinuationScorer:
    """Mixin for scorers: implement `score_continuation`; the async twin is given."""

    def score_continuation(self, request: ScoringRequest) -> tuple[TokenLogprob, ...]:
        """Teacher-forced logprobs of `request.continuation`'s tokens."""
        raise NotImplementedError

    async def ascore_continuation(
        self, request: ScoringRequest
    ) -> tuple[TokenLogprob, ...]:
        """`score_continuation` in a worker thread (a guard's own, in one)."""
        return await run_blocking(self.score_continuation, request)


def openai_kwargs(request: GenerationRequest) -> dict[str, Any]:
    """The request as OpenAI-style call keywords, for framework adapters.

    OpenAI-compatible clients in LangChain and LlamaIndex take these names; a
    setting left at its neutral value (top_p 1, no stop, no seed) is left out.

    Example:
        >>> openai_kwargs(GenerationRequest(prompt="Q", seed=7, logprobs=False))
        {'temperature': 0.0, 'max_tokens': 64, 'seed': 7}
    """
    kwargs: dict[str, Any] = {
        "temperature": request.temperature,
        "max_tokens": request.max_tokens,
    }
    if request.top_p != 1.0:
        kwargs["top_p"] = request.top_p
    if request.stop:
        kwargs["stop"] = list(request.stop)
    if request.seed is not None:
        kwargs["seed"] = request.seed
    if request.logprobs:
        kwargs["logprobs"] = True
        if request.top_k > 0:
            kwargs["top_logprobs"] = request.top_k
    return kwargs


__all__ = [
    "BaseContinuationScorer",
    "BaseGenerator",
    "Completion",
    "ContinuationScorer",
    "GenerationRequest",
    "Generator",
    "ModelRequest",
    "ScoringRequest",
    "openai_kwargs",
]
