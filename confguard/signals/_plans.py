"""The sub-plans model-calling signals compose with `yield from`.

Each yields one request and returns the driver's reply with its precise type, so a
signal's plan reads like straight-line code: ``reply = yield from complete(request)``.
"""

from __future__ import annotations

from confguard.llm.base import Completion, GenerationRequest, ScoringRequest
from confguard.observation import TokenLogprob
from confguard.signals.base import Plan


def generate(request: GenerationRequest) -> Plan[tuple[Completion, ...]]:
    """Ask for `request.n` completions; return them (the driver checks there is one)."""
    completions: tuple[Completion, ...] = yield request
    return completions


def complete(request: GenerationRequest) -> Plan[Completion]:
    """Ask for one completion; return it."""
    completions = yield from generate(request)
    return completions[0]


def score(request: ScoringRequest) -> Plan[tuple[TokenLogprob, ...]]:
    """Ask for the teacher-forced logprobs of a continuation; return them."""
    tokens: tuple[TokenLogprob, ...] = yield request
    return tokens
