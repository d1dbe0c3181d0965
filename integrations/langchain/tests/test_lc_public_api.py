"""The package declares exactly its public names in `__all__`."""

from __future__ import annotations

import pytest

from confguard.testing.api import check_all

PUBLIC_MODULES = [
    "langchain_confguard",
    "langchain_confguard.observability",
]


@pytest.mark.parametrize("name", PUBLIC_MODULES)
def test_all_lists_exactly_the_public_names(name: str) -> None:
    check_all(name)
