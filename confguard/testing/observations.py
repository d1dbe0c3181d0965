"""Builders of observations for tests and examples."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from confguard.observation import Context, Observation, TokenLogprob, TopLogprob


def token(
    text: str, prob: float, alternatives: dict[str, float] | None = None
) -> TokenLogprob:
    """A chosen token with probability `prob` and optional {token: prob} alternatives.

    The chosen token is listed first among the top alternatives, as providers do.
    """
    alts = {text: prob, **(alternatives or {})}
    ranked = sorted(alts.items(), key=lambda kv: kv[1], reverse=True)
    return TokenLogprob(
        token=text,
        logprob=math.log(prob),
        top_logprobs=tuple(TopLogprob(token=t, logprob=math.log(p)) for t, p in ranked),
    )


def make_observation(
    answer: str = "Paris",
    question: str = "What is the capital of France?",
    *,
    probs: Sequence[float] | None = None,
    logprobs: Sequence[TokenLogprob] | None = None,
    contexts: Sequence[str | Context] = (),
    samples: Sequence[str] = (),
    **metadata: Any,
) -> Observation:
    """An Observation with defaults; `probs` gives one token per probability."""
    from confguard.observation import Sample

    if probs is not None and logprobs is None:
        logprobs = [token(f"t{i}", p) for i, p in enumerate(probs)]
    return Observation(
        question=question,
        answer=answer,
        contexts=tuple(
            c if isinstance(c, Context) else Context(text=c) for c in contexts
        ),
        logprobs=None if logprobs is None else tuple(logprobs),
        samples=tuple(Sample(text=s) for s in samples),
        metadata=metadata,
    )
