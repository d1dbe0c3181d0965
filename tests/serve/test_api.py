"""The JSON API: list, read, claim, resolve, stats, policy versions; its errors."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from fastapi.testclient import TestClient
from sqlalchemy import text

from confguard.serve import Console
from tests.serve.conftest import PASSWORD


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_list_filters_and_pages_like_the_queue(
    client: TestClient, api_token: str
) -> None:
    body = client.get("/api/reviews?per_page=2", headers=auth(api_token)).json()
    assert body["total"] == 4 and body["pages"] == 2 and len(body["items"]) == 2
    assert body["counts"]["pending"] == 4
    low = client.get("/api/reviews?max_confidence=0.3", headers=auth(api_token)).json()
    assert all(item["confidence"] <= 0.3 for item in low["items"]) and low["items"]


def test_read_a_case_with_its_evidence(
    client: TestClient, api_token: str, console: Console
) -> None:
    item = console.store.pending_reviews()[0]
    body = client.get(f"/api/reviews/{item.id}", headers=auth(api_token)).json()
    assert body["item"]["id"] == item.id
    assert [s["name"] for s in body["signals"]] == [
        "answer_support",
        "avg_logprob",
        "hedging",
    ]
    assert body["passages"][0]["stance"] == "supports"
    assert body["attempts"][0]["action"] == "escalate"


def test_unknown_case_is_404_and_bad_body_is_422(
    client: TestClient, api_token: str
) -> None:
    assert client.get("/api/reviews/nope", headers=auth(api_token)).status_code == 404
    answer = client.post(
        "/api/reviews/nope/resolve", json={"verdict": "maybe"}, headers=auth(api_token)
    )
    assert answer.status_code == 422
    assert "verdict must be one of" in answer.json()["error"]
    missing = client.post("/api/reviews/nope/resolve", json={}, headers=auth(api_token))
    assert missing.status_code == 422 and "verdict" in missing.json()["error"]


def test_claim_next_resolve_and_conflict(
    client: TestClient, api_token: str, admin_token: str, console: Console
) -> None:
    claimed = client.post("/api/reviews/next", headers=auth(api_token)).json()
    review_id = claimed["review"]["id"]
    assert claimed["lease"]["holder"] == "bo"
    # ada may not resolve what bo holds ...
    held = client.post(
        f"/api/reviews/{review_id}/resolve",
        json={"verdict": "approved"},
        headers=auth(admin_token),
    )
    assert held.status_code == 409 and "held by bo" in held.json()["error"]
    # ... bo may, once.
    done = client.post(
        f"/api/reviews/{review_id}/resolve",
        json={"verdict": "edited", "edited_answer": "Denver", "note": "shorter"},
        headers=auth(api_token),
    )
    assert done.status_code == 200 and done.json()["status"] == "edited"
    again = client.post(
        f"/api/reviews/{review_id}/resolve",
        json={"verdict": "rejected"},
        headers=auth(admin_token),
    )
    assert again.status_code == 409 and "already edited by bo" in again.json()["error"]


def test_concurrent_resolutions_of_one_case_record_one_verdict(
    client: TestClient, api_token: str, admin_token: str, console: Console
) -> None:
    review_id = console.store.pending_reviews()[0].id
    tokens = [api_token, admin_token] * 5

    def resolve(token: str) -> int:
        return client.post(
            f"/api/reviews/{review_id}/resolve",
            json={"verdict": "approved"},
            headers=auth(token),
        ).status_code

    with ThreadPoolExecutor(10) as pool:
        codes = list(pool.map(resolve, tokens))
    assert codes.count(200) == 1 and codes.count(409) == 9
    assert len(console.store.review_history(review_id)) == 1


def test_stats_and_openapi(client: TestClient, api_token: str) -> None:
    stats = client.get("/api/stats", headers=auth(api_token)).json()
    assert stats["by_action"]["escalate"] == 4 and stats["reviews"]["pending"] == 4
    schema = client.get("/api/openapi.json", headers=auth(api_token)).json()
    paths = set(schema["paths"])
    assert {
        "/api/reviews",
        "/api/reviews/{review_id}/resolve",
        "/api/reviews/next",
        "/api/stats",
        "/api/policy/versions",
        "/api/policy/proposals",
    } <= paths


def test_a_store_that_does_not_answer_gives_503_and_loses_nothing(
    client: TestClient, api_token: str, console: Console, store_url: str
) -> None:
    from sqlalchemy import create_engine

    review_id = console.store.pending_reviews()[0].id
    blocker = create_engine(store_url).connect()
    blocker.execute(text("BEGIN EXCLUSIVE"))  # another writer holds the database
    try:
        answer = client.post(f"/api/reviews/{review_id}/claim", headers=auth(api_token))
    finally:
        blocker.rollback()
        blocker.close()
    assert answer.status_code == 503
    assert "database is locked" in answer.json()["error"]
    assert console.queue.get(review_id).status == "pending"
    retried = client.post(f"/api/reviews/{review_id}/claim", headers=auth(api_token))
    assert retried.status_code == 200


def test_login_form_and_api_share_accounts(client: TestClient) -> None:
    from tests.serve.conftest import csrf_of

    token = csrf_of(client.get("/login").text)
    wrong = client.post(
        "/login",
        data={"username": "bo", "password": "x" + PASSWORD, "csrf_token": token},
    )
    assert wrong.status_code == 401 and "Wrong name or password" in wrong.text
