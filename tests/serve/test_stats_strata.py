"""The dashboard's error among accepted answers judges each label at the accept
threshold that banded its request: its stratum's, when the policy has strata."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from confguard import Policy
from confguard.config.presets import preset_path
from confguard.results import SignalResult
from confguard.serve import Console, ConsoleSettings, create_app
from confguard.serve.demo import DemoCase, seed_case
from confguard.serve.stats import StratumFigures, stats
from confguard.store import SQLStore
from confguard.store.base import AuditRecord
from tests.serve.conftest import log_in, password_hash

STRATIFIED = {
    "thresholds": {"accept": 0.2, "escalate": 0.0},
    "escalate": {"route": "review"},
    "strata": [
        {
            "name": "retrieved",
            "when": {"signal": "retrieval", "status": "ok"},
            "thresholds": {"accept": 0.5, "escalate": 0.0},
        }
    ],
}

# (retrieval, support, verdict): seed_case's confidence is the mean of the signals
# given, so a case without retrieval scores (None: the signal failed) has `support`'s.
CASES = [
    (0.6, 0.6, "approved"),  # retrieved, 0.6 >= 0.5: accepted, right
    (0.4, 0.4, "rejected"),  # retrieved, 0.4 <  0.5: not accepted (0.4 >= 0.2 would be)
    (None, 0.3, "rejected"),  # the rest, 0.3 >= 0.2: accepted, wrong
    (None, 0.1, "approved"),  # the rest, 0.1 <  0.2: not accepted
]


def label(
    store: SQLStore, retrieval: float | None, support: float, verdict: str
) -> str:
    case = DemoCase(
        question=f"q {support}",
        answer="a",
        signals={"retrieval": retrieval, "support": support},
    )
    review_id = seed_case(store, case)
    store.resolve_review(review_id, verdict)  # type: ignore[arg-type]
    return review_id


@pytest.fixture
def store(tmp_path: Path) -> SQLStore:
    store = SQLStore(f"sqlite:///{tmp_path}/audit.sqlite", store_answers=True)
    for case in CASES:
        label(store, *case)
    return store


def test_each_label_is_judged_at_its_own_strata_threshold(store: SQLStore) -> None:
    figures = stats(store, Policy.from_dict(STRATIFIED))
    assert (figures.labels, figures.threshold) == (4, 0.2)
    assert (figures.accepted_labels, figures.accepted_error) == (2, 0.5)
    assert figures.strata == (
        StratumFigures(
            stratum="retrieved",
            threshold=0.5,
            labels=2,
            accepted_labels=1,
            accepted_error=0.0,
        ),
        StratumFigures(
            stratum=None, threshold=0.2, labels=2, accepted_labels=1, accepted_error=1.0
        ),
    )


def test_without_strata_one_threshold_judges_every_label(store: SQLStore) -> None:
    figures = stats(store, Policy.from_dict({"thresholds": {"accept": 0.2}}))
    assert (figures.accepted_labels, figures.accepted_error) == (
        3,
        pytest.approx(2 / 3),
    )
    assert figures.strata == ()


def test_a_policy_without_an_accept_band_accepts_no_label(store: SQLStore) -> None:
    policy = Policy.from_dict(
        {
            "thresholds": {"accept": None, "escalate": 0.0},
            "escalate": {"route": "review"},
        }
    )
    figures = stats(store, policy)
    assert (figures.accepted_labels, figures.accepted_error) == (0, None)


def test_the_last_attempts_signals_pick_the_stratum(tmp_path: Path) -> None:
    store = SQLStore(f"sqlite:///{tmp_path}/audit.sqlite", store_answers=True)
    label(store, None, 0.3, "rejected")  # attempt 1: no retrieval scores
    (first,) = store.decisions()
    store.record(  # a retry that retrieved: the attempt the review came from
        first.model_copy(update={"attempt": 2, "signals": retrieved(first)})
    )
    figures = stats(store, Policy.from_dict(STRATIFIED))
    assert [(f.labels, f.accepted_labels) for f in figures.strata] == [(1, 0), (0, 0)]


def retrieved(record: AuditRecord) -> tuple[SignalResult, ...]:
    return (
        SignalResult(name="retrieval", confidence=0.3),
        *(s for s in record.signals if s.name != "retrieval"),
    )


def test_the_dashboard_shows_each_stratum_of_a_shipped_preset(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/audit.sqlite"
    console = Console(
        SQLStore(url, store_answers=True),
        ConsoleSettings(store_url=url, config=preset_path("balanced")),
    )
    console.accounts.add("ada", password_hash(), "admin")
    for case in CASES:
        label(console.store, *case)
    client = TestClient(create_app(console), follow_redirects=False)
    log_in(client, "ada")
    page = client.get("/dashboard").text
    assert 'id="strata"' in page and '<td class="text">retrieved</td>' in page
    assert "the rest (the policy&#39;s own thresholds)" in page
    # balanced accepts at 0.53 with retrieval scores and at 0.03 without: 0.6 and
    # 0.3 and 0.1 are accepted, one of them wrong (all four, two wrong, at 0.03 alone)
    assert 'id="accepted-error">33.3% <small>(3 labels' in page
    console.store.close()


def test_an_unnamed_stratum_is_shown_by_its_condition(store: SQLStore) -> None:
    unnamed = {
        "when": {"signal": "retrieval", "status": "ok"},
        "thresholds": {"accept": 0.5, "escalate": 0.0},
    }
    figures = stats(store, Policy.from_dict({**STRATIFIED, "strata": [unnamed]}))
    assert (figures.strata[0].stratum, figures.strata[0].labels) == (
        "signal('retrieval').ok",
        2,
    )
