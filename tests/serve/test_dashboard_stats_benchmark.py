"""benchmarks/dashboard_stats.py times the dashboard's figures under the shipped
`balanced` policy and without its strata, and splits its labels by stratum."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from tests.scripts import load_script

ROOT = Path(__file__).resolve().parents[2]


def test_its_last_line_splits_every_label_between_the_strata(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    bench = load_script(ROOT / "benchmarks" / "dashboard_stats.py", "bench_dashboard")
    monkeypatch.setattr(
        sys, "argv", ["dashboard_stats.py", "--cases", "40", "--repeats", "1"]
    )
    bench.main()
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert (result["cases"], result["labels"]) == (40, 40)
    assert result["labelled_ms_p50"] > 0
    assert result["strata_ms_p50"] > 0 and result["no_strata_ms_p50"] > 0
    rows = {row["stratum"]: row for row in result["by_stratum"]}
    assert set(rows) == {"retrieved", None}
    assert rows["retrieved"]["labels"] == rows[None]["labels"] == 20  # every other
    assert rows["retrieved"]["threshold"] > rows[None]["threshold"]
