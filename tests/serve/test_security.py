"""No page or API without authentication; CSRF on every POST; CSP; escaped output."""

from __future__ import annotations

from fastapi.testclient import TestClient

from confguard.serve import Console
from confguard.serve.demo import DemoCase, seed_case
from confguard.serve.security import SESSION_COOKIE, password_matches
from tests.serve.conftest import PASSWORD, csrf_of, log_in

PAGES = ["/queue", "/dashboard", "/calibration", "/cases/anything"]
API = ["/api/reviews", "/api/stats", "/api/policy/versions", "/api/openapi.json"]


def test_pages_send_an_unauthenticated_client_to_the_login_form(
    client: TestClient,
) -> None:
    for path in PAGES:
        answer = client.get(path)
        assert answer.status_code == 303, path
        assert answer.headers["location"] == "/login"


def test_the_api_refuses_an_unauthenticated_client_with_401_json(
    client: TestClient,
) -> None:
    for path in API:
        answer = client.get(path)
        assert answer.status_code == 401, path
        assert answer.json()["status"] == 401
        assert answer.headers["www-authenticate"] == "Bearer"
    posted = client.post("/api/reviews/x/resolve", json={"verdict": "approved"})
    assert posted.status_code == 401


def test_an_unknown_token_is_refused(client: TestClient) -> None:
    answer = client.get("/api/reviews", headers={"Authorization": "Bearer nope"})
    assert answer.status_code == 401
    assert answer.json()["error"] == "unknown API token"


def test_passwords_are_kept_as_argon2_hashes(console: Console) -> None:
    account, stored = console.accounts.credentials("ada") or (None, "")
    assert account is not None and account.role == "admin"
    assert stored.startswith("$argon2id$")
    assert PASSWORD not in stored
    assert password_matches(stored, PASSWORD)
    assert not password_matches(stored, PASSWORD + "x")


def test_a_post_without_or_with_a_forged_csrf_token_is_refused(
    client: TestClient, console: Console
) -> None:
    log_in(client, "bo")
    review_id = console.store.pending_reviews()[0].id
    for token in (None, "forged"):
        data = {"verdict": "approved"} | ({"csrf_token": token} if token else {})
        answer = client.post(f"/cases/{review_id}/resolve", data=data)
        assert answer.status_code == 403
        assert "CSRF token" in answer.text
    assert console.store.pending_reviews()[0].status == "pending"  # nothing written


def test_a_login_without_the_forms_csrf_token_is_refused(client: TestClient) -> None:
    answer = client.post("/login", data={"username": "ada", "password": PASSWORD})
    assert answer.status_code == 403


def test_the_session_cookie_is_signed_httponly_and_samesite_lax(
    client: TestClient,
) -> None:
    token = csrf_of(client.get("/login").text)
    answer = client.post(
        "/login", data={"username": "ada", "password": PASSWORD, "csrf_token": token}
    )
    cookie = answer.headers["set-cookie"]
    assert cookie.startswith(f"{SESSION_COOKIE}=")
    assert "HttpOnly" in cookie
    assert "SameSite=lax" in cookie


def test_a_tampered_session_cookie_is_not_logged_in(client: TestClient) -> None:
    log_in(client, "bo")
    value = client.cookies[SESSION_COOKIE]
    client.cookies.clear()
    client.cookies.set(
        SESSION_COOKIE, value[:-4] + ("AAAA" if value[-4:] != "AAAA" else "BBBB")
    )
    assert client.get("/queue").status_code == 303


def test_an_expired_session_is_told_to_log_in_again(console: Console) -> None:
    from confguard.serve import create_app

    console.sessions.max_age = 1
    client = TestClient(create_app(console), follow_redirects=False)
    log_in(client, "bo")
    import time

    time.sleep(2.1)
    answer = client.get("/queue")
    assert answer.headers["location"] == "/login?expired=1"
    assert "session has expired" in client.get("/login?expired=1").text


def test_every_response_carries_the_content_security_policy(
    client: TestClient,
) -> None:
    log_in(client, "bo")
    for path in ("/login", "/queue", "/dashboard", "/api/reviews"):
        csp = client.get(path).headers["content-security-policy"]
        assert "default-src 'self'" in csp
        assert "script-src 'self'" in csp
        assert "unsafe-inline" not in csp


def test_pages_have_no_inline_script_or_style(
    client: TestClient, console: Console
) -> None:
    log_in(client, "ada")
    review_id = console.store.pending_reviews()[0].id
    for path in ("/queue", f"/cases/{review_id}", "/dashboard", "/calibration"):
        html = client.get(path).text
        assert "<script>" not in html and "<script " not in html.replace(
            '<script src="/static/console.js" defer>', ""
        )
        assert " style=" not in html
        assert " onload=" not in html and " onclick=" not in html


XSS_ANSWER = '<script>window.pwned = 1</script><img src=x onerror="window.pwned=2">'


def test_model_output_and_contexts_render_as_text(
    client: TestClient, console: Console
) -> None:
    review_id = seed_case(
        console.store,
        DemoCase(
            question="<b>bold?</b>",
            answer=XSS_ANSWER,
            contexts=("<img src=x onerror=alert(1)> and <script>alert(2)</script>",),
            signals={"answer_support": 0.1},
        ),
    )
    log_in(client, "bo")
    html = client.get(f"/cases/{review_id}").text
    assert "<script>window.pwned" not in html
    assert "&lt;script&gt;window.pwned = 1&lt;/script&gt;" in html
    assert "<img src=x" not in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    assert "&lt;b&gt;bold?&lt;/b&gt;" in html
    queue = client.get("/queue?per_page=50").text
    assert "<script>window" not in queue


def test_logins_are_rate_limited_per_name(client: TestClient) -> None:
    token = csrf_of(client.get("/login").text)
    codes = [
        client.post(
            "/login", data={"username": "bo", "password": "wrong!", "csrf_token": token}
        ).status_code
        for _ in range(6)
    ]
    assert codes == [401] * 5 + [429]
    # Even the right password waits now.
    right = client.post(
        "/login", data={"username": "bo", "password": PASSWORD, "csrf_token": token}
    )
    assert right.status_code == 429
    assert int(right.headers["retry-after"]) > 0


def test_a_reviewer_cannot_reach_admin_pages_or_api(
    client: TestClient, api_token: str
) -> None:
    log_in(client, "bo")
    assert client.get("/calibration").status_code == 403
    answer = client.post(
        "/api/policy/proposals",
        json={"target_risk": 0.1},
        headers={"Authorization": f"Bearer {api_token}"},
    )
    assert answer.status_code == 403
    assert "admins only" in answer.json()["error"]


def test_the_api_with_a_session_cookie_needs_the_csrf_header(
    client: TestClient, console: Console
) -> None:
    token = log_in(client, "bo")
    review_id = console.store.pending_reviews()[0].id
    assert client.get("/api/reviews").status_code == 200
    path = f"/api/reviews/{review_id}/claim"
    assert client.post(path).status_code == 403
    assert client.post(path, headers={"X-CSRF-Token": token}).status_code == 200


def test_a_changed_password_ends_the_sessions_made_before(
    client: TestClient, console: Console
) -> None:
    from confguard.serve.security import hash_password

    log_in(client, "bo")
    assert client.get("/queue").status_code == 200
    console.accounts.set_password("bo", hash_password("a new long password"))
    assert client.get("/queue").status_code == 303
    assert client.get("/api/reviews").status_code == 401


def test_logging_out_ends_the_session(client: TestClient) -> None:
    token = log_in(client, "bo")
    assert client.post("/logout", data={"csrf_token": token}).status_code == 303
    assert client.get("/queue").status_code == 303
