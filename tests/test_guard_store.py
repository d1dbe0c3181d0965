"""The guard and the real SQL audit store together: nothing recorded is ever lost."""

from __future__ import annotations

import asyncio
from pathlib import Path

from confguard import AsyncGuard, Guard, Policy
from confguard.signals import AverageLogprob, HedgingSignal
from confguard.store import SQLStore, digest
from confguard.testing import make_observation

POLICY = Policy.from_yaml(
    """
    thresholds: {accept: 0.7, annotate: 0.5}
    abstain: {message: "I don't know."}
    """
)


async def test_1000_concurrent_achecks_on_one_sqlite_store_lose_no_row(
    sqlite_store: SQLStore,
) -> None:
    guard = AsyncGuard(
        signals=[AverageLogprob(), HedgingSignal()], policy=POLICY, store=sqlite_store
    )
    observations = [
        make_observation(f"answer {i}", f"question {i}", probs=[0.9, 0.3 + i % 7 / 10])
        for i in range(1000)
    ]
    results = await asyncio.gather(*(guard.acheck(obs) for obs in observations))
    rows = sqlite_store.decisions(limit=5000)
    assert len(rows) == 1000
    assert {r.request_id for r in rows} == {r.request_id for r in results}
    assert {r.question for r in rows} == {f"question {i}" for i in range(1000)}


def test_a_result_links_to_its_audit_rows(sqlite_store: SQLStore) -> None:
    guard = Guard(signals=[AverageLogprob()], policy=POLICY, store=sqlite_store)
    result = guard.check(make_observation(probs=[0.95, 0.9]))
    [row] = sqlite_store.decisions(request_id=result.request_id)
    assert row.action == result.decision.action == "accept"
    assert row.confidence == result.confidence
    assert [s.name for s in row.signals] == ["avg_logprob"]


def test_the_store_alone_decides_whether_answer_texts_are_kept(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/audit.sqlite"
    for keep in (False, True):
        with SQLStore(url, store_answers=keep) as store:
            guard = Guard(signals=[AverageLogprob()], policy=POLICY, store=store)
            result = guard.check(make_observation("Paris", probs=[0.95, 0.9]))
            [row] = store.decisions(request_id=result.request_id)
            assert row.answer == ("Paris" if keep else None)
            assert row.answer_digest == digest("Paris")


def test_a_store_that_keeps_answers_keeps_the_passages_for_reviewers() -> None:
    from confguard.observation import Context, Observation
    from confguard.signals.base import FunctionSignal
    from confguard.store import InMemoryStore

    passages = (Context(text="Denver won.", source="doc-1", score=0.9),)
    obs = Observation(question="Who won?", answer="Denver", contexts=passages)
    for keeps in (True, False):
        store = InMemoryStore(store_answers=keeps)
        Guard([FunctionSignal(lambda o: 0.9, name="s")], Policy(), store=store).check(
            obs
        )
        [row] = store.decisions()
        kept = row.metadata.get("contexts")
        assert kept == (
            [{"text": "Denver won.", "source": "doc-1", "score": 0.9}]
            if keeps
            else None
        )
