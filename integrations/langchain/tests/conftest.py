"""Fixtures of the langchain-confguard tests: fake models and guards."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from langchain_confguard.testing import FakeLogprobChatModel, FakeResponse
from lc_helpers import make_policy

from confguard import CallableRoute, Guard
from confguard.signals import AverageLogprob


@pytest.fixture
def human_route() -> Callable[[Any], str]:
    """An escalation function answering for the human."""
    return lambda request: f"A person answers: {request.question}"


@pytest.fixture
def make_guard(human_route: Callable[[Any], str]) -> Callable[..., Guard]:
    """A Guard on AverageLogprob with the test bands (policy overridable).

    `strategies` names the custom retry strategies a test's pipeline understands.
    """

    def build(
        signals: list[Any] | None = None,
        store: Any = None,
        routes: dict[str, Any] | None = None,
        strategies: tuple[str, ...] = (),
        **policy: Any,
    ) -> Guard:
        return Guard(
            signals or [AverageLogprob()],
            make_policy(**policy),
            store=store,
            routes=routes or {"human": CallableRoute(human_route)},
            strategies=strategies,
        )

    return build


@pytest.fixture
def model_factory() -> Callable[..., FakeLogprobChatModel]:
    """A scripted fake chat model: make(answer("Paris", 0.9), ...)."""

    def make(*replies: FakeResponse | str) -> FakeLogprobChatModel:
        return FakeLogprobChatModel(responses=list(replies))

    return make
