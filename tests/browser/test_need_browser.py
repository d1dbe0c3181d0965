"""Without Debian's chromium the browser tests skip locally, saying why, and fail
under CI (CI=true), so CI can never pass by skipping them."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.browser import conftest


def test_a_missing_browser_skips_locally_and_fails_under_ci(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(conftest, "CHROMIUM", tmp_path / "no-chromium")
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="install Debian's chromium"):
        conftest.need_browser()
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="under CI the browser tests"):
        conftest.need_browser()


def test_the_system_browser_is_what_the_tests_drive() -> None:
    assert Path("/usr/bin/chromium") == conftest.CHROMIUM
    assert Path("/usr/bin/chromedriver") == conftest.CHROMEDRIVER
