"""The small Generator protocol confguard itself calls (judges, SCR, sampling, RAG)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

from confguard.observation import TokenLogprob


class Completion(BaseModel):
    """One generated text with its per-token logprobs (None if the model has none)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    text: str
    logprobs: tuple[TokenLogprob, ...] | None = None
    finish_reason: Literal["stop", "length"] = "stop"
    prompt_tokens: int = Field(default=0, ge=0)
    completion_tokens: int = Field(default=0, ge=0)


@runtime_checkable
class Generator(Protocol):
    """Prompt in, `n` completions out, each with top-k token logprobs.

    Example:
        >>> [c] = generator.generate("Question: 2+2?\\nAnswer:", stop=["\\n"])
        >>> c.text, c.logprobs[0].top_logprobs[:2]
    """

    name: str

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
    ) -> tuple[Completion, ...]: ...

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
    ) -> tuple[Completion, ...]: ...


@runtime_checkable
class ContinuationScorer(Protocol):
    """Teacher-forced log-probabilities of a given continuation after a prompt."""

    def score_continuation(
        self, prompt: str, continuation: str, *, top_logprobs: int = 5
    ) -> tuple[TokenLogprob, ...]: ...
