"""Helpers for testing code that uses confguard: observation builders and fakes."""

from confguard.testing.generators import (
    FakeEmbedder,
    FakeGenerator,
    fake_tokens,
)
from confguard.testing.observations import make_observation, token

__all__ = [
    "FakeEmbedder",
    "FakeGenerator",
    "fake_tokens",
    "make_observation",
    "token",
]
