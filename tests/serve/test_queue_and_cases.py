"""The queue page's filters, sort and pages; the case page; verdicts through forms."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from confguard.serve import Console
from confguard.serve.demo import seed_random
from confguard.store.review_query import ReviewQuery
from tests.serve.conftest import log_in


def rows(html: str) -> list[str]:
    """The review ids the queue page lists, in order."""
    return re.findall(r'class="case-row" data-id="([0-9a-f]+)"', html)


def test_the_queue_lists_pending_cases_with_counts(
    client: TestClient, console: Console
) -> None:
    log_in(client, "bo")
    html = client.get("/queue").text
    assert len(rows(html)) == 4
    assert "4 pending" in html and "4 matching" in html


def test_filters_by_confidence_route_and_failed_signal(
    client: TestClient, console: Console
) -> None:
    log_in(client, "bo")
    low = rows(client.get("/queue?max_confidence=0.3").text)
    expected = {
        i.id for i in console.store.pending_reviews() if (i.confidence or 0) <= 0.3
    }
    assert set(low) == expected and low
    oncall = rows(client.get("/queue?route=oncall").text)
    assert [console.queue.get(i).question for i in oncall] == ["Who wrote Dune?"]
    failed = rows(client.get("/queue?failed_signal=hedging").text)
    assert [console.queue.get(i).question for i in failed] == ["Who wrote Dune?"]
    assert rows(client.get("/queue?min_age_hours=1").text) == []
    assert len(rows(client.get("/queue?max_age_hours=1").text)) == 4


def test_sorting_and_pagination(client: TestClient, console: Console) -> None:
    seed_random(console.store, 30)
    log_in(client, "bo")
    first = rows(client.get("/queue?sort=confidence&per_page=10").text)
    second = rows(client.get("/queue?sort=confidence&per_page=10&page=2").text)
    assert len(first) == len(second) == 10 and not set(first) & set(second)
    confidences = [console.queue.get(i).confidence or 0 for i in first + second]
    assert confidences == sorted(confidences)
    html = client.get("/queue?sort=confidence&per_page=10").text
    assert "Page 1 of 4" in html and 'id="next-page"' in html


def test_a_bad_filter_is_a_clear_422(client: TestClient) -> None:
    log_in(client, "bo")
    answer = client.get("/queue?min_confidence=2")
    assert answer.status_code == 422
    assert "min_confidence" in answer.text


def test_the_case_page_shows_evidence_and_marks_passages(
    client: TestClient, console: Console
) -> None:
    log_in(client, "bo")
    item = next(
        i for i in console.store.pending_reviews() if i.question.startswith("Which NFL")
    )
    html = client.get(f"/cases/{item.id}").text
    assert "The Denver Broncos" in html
    assert 'data-stance="supports"' in html  # the AFC passage holds the answer
    assert "<mark>Denver</mark>" in html and "<mark>Broncos</mark>" in html
    assert 'data-stance="neutral"' in html  # the stadium passage does not
    for signal in ("answer_support", "avg_logprob", "hedging"):
        assert signal in html
    assert "You hold this case" in html
    assert "No outbox entry" in html  # seeded directly, not through the outbox


def test_approve_edit_reject_through_the_forms(
    client: TestClient, console: Console
) -> None:
    token = log_in(client, "bo")
    pending = console.store.pending_reviews()
    verdicts = [
        ("approved", {}),
        ("edited", {"edited_answer": "Frank Herbert"}),
        ("rejected", {"note": "the passage says Santa Clara"}),
    ]
    for item, (verdict, extra) in zip(pending, verdicts, strict=False):
        client.get(f"/cases/{item.id}")
        data = {"csrf_token": token, "verdict": verdict, **extra}
        answer = client.post(f"/cases/{item.id}/resolve", data=data)
        assert answer.status_code == 303
        assert f"done={verdict}" in answer.headers["location"]
        resolved = console.queue.get(item.id)
        assert resolved.status == verdict and resolved.reviewer == "bo"
    assert console.queue.get(pending[1].id).edited_answer == "Frank Herbert"
    notes = [e.note for e in console.store.review_history(pending[2].id)]
    assert notes == ["the passage says Santa Clara"]


def test_an_empty_edit_is_refused_and_nothing_is_written(
    client: TestClient, console: Console
) -> None:
    token = log_in(client, "bo")
    item = console.store.pending_reviews()[0]
    data = {"csrf_token": token, "verdict": "edited", "edited_answer": "   "}
    answer = client.post(f"/cases/{item.id}/resolve", data=data)
    assert answer.status_code == 422
    assert "an edit needs the corrected answer" in answer.text
    assert console.queue.get(item.id).status == "pending"


def test_a_case_resolved_by_someone_else_is_a_clear_409(
    client: TestClient, console: Console
) -> None:
    token = log_in(client, "bo")
    item = console.store.pending_reviews()[0]
    console.store.resolve_review(item.id, "rejected", reviewer="cy")
    data = {"csrf_token": token, "verdict": "approved"}
    answer = client.post(f"/cases/{item.id}/resolve", data=data)
    assert answer.status_code == 409
    assert "already rejected by cy" in answer.text
    assert [e.reviewer for e in console.store.review_history(item.id)] == ["cy"]


def test_two_reviewers_are_given_different_cases(console: Console) -> None:
    from confguard.serve import create_app

    app = create_app(console)
    given = []
    for name in ("bo", "cy", "ada"):
        client = TestClient(app, follow_redirects=False)
        token = log_in(client, name)
        answer = client.post("/queue/next", data={"csrf_token": token})
        given.append(answer.headers["location"])
    assert len(set(given)) == 3


def test_a_case_held_by_another_reviewer_cannot_be_resolved(console: Console) -> None:
    from confguard.serve import create_app

    app = create_app(console)
    bo = TestClient(app, follow_redirects=False)
    cy = TestClient(app, follow_redirects=False)
    log_in(bo, "bo")
    cy_token = log_in(cy, "cy")
    item = console.store.pending_reviews()[0]
    bo.get(f"/cases/{item.id}")
    assert "Held by bo" in cy.get(f"/cases/{item.id}").text
    answer = cy.post(
        f"/cases/{item.id}/resolve",
        data={"csrf_token": cy_token, "verdict": "approved"},
    )
    assert answer.status_code == 409 and "held by bo" in answer.text
    assert console.queue.get(item.id).status == "pending"


def test_the_queue_query_counts_match_the_store(console: Console) -> None:
    page = console.queue.page(ReviewQuery(status="all"))
    assert page.total == len(console.store.reviews())
    assert page.counts["pending"] == 4


def test_a_case_escalated_by_a_guard_shows_its_delivery_state(
    client: TestClient, console: Console
) -> None:
    from confguard import Guard, Observation, Policy
    from confguard.routes import ReviewQueueRoute

    def answer_support(obs: Observation) -> float:
        return 0.2

    policy = Policy.from_yaml(
        "thresholds: {accept: 0.7, escalate: 0.0}\nescalate: {route: review}\n"
    )
    guard = Guard(
        [answer_support],
        policy,
        store=console.store,
        routes={"review": ReviewQueueRoute(console.store)},
    )
    result = guard.check(Observation(question="Guarded?", answer="through the outbox"))
    assert result.decision.action == "escalate"
    (item,) = [i for i in console.store.pending_reviews() if i.question == "Guarded?"]
    log_in(client, "bo")
    html = client.get(f"/cases/{item.id}").text
    assert '<td class="delivery-delivered">delivered</td>' in html
    assert "through the outbox" in html


def test_a_verdict_while_the_store_is_down_is_a_clear_503_and_nothing_is_lost(
    client: TestClient, console: Console, store_url: str
) -> None:
    from sqlalchemy import create_engine, text

    token = log_in(client, "bo")
    item = console.store.pending_reviews()[0]
    client.get(f"/cases/{item.id}")
    blocker = create_engine(store_url).connect()
    blocker.execute(text("BEGIN EXCLUSIVE"))  # another writer holds the database
    try:
        answer = client.post(
            f"/cases/{item.id}/resolve",
            data={"csrf_token": token, "verdict": "approved"},
        )
    finally:
        blocker.rollback()
        blocker.close()
    assert answer.status_code == 503
    assert "The audit store is not answering; nothing was changed" in answer.text
    assert console.queue.get(item.id).status == "pending"
    again = client.post(
        f"/cases/{item.id}/resolve", data={"csrf_token": token, "verdict": "approved"}
    )
    assert again.status_code == 303
    assert len(console.store.review_history(item.id)) == 1
