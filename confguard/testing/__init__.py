"""Helpers for testing code that uses confguard: observation builders and fakes."""

from confguard.testing.observations import make_observation, token

__all__ = ["make_observation", "token"]
