"""The loop: verdicts -> refit and certified proposal -> policy version -> a guard
that follows it; refusals say how many more labels they need; roll back."""

from __future__ import annotations

import random

import pytest
from fastapi.testclient import TestClient

from confguard import Guard, Observation, Policy
from confguard.routes import ReviewQueueRoute
from confguard.scoring.calibration import labelled_from_store
from confguard.serve import Console
from confguard.serve.calibration import Proposal, propose
from confguard.serve.demo import DemoCase, seed_case, seed_verdicts
from confguard.store.policy_versions import PolicyFollower, StorePolicySource
from tests.serve.conftest import log_in


def answer_support(obs: Observation) -> float:
    return float(obs.metadata["answer_support"])


def avg_logprob(obs: Observation) -> float:
    return float(obs.metadata["avg_logprob"])


SIGNALS = [answer_support, avg_logprob]


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def label_cases(client: TestClient, console: Console, token: str, n: int) -> None:
    """Seed `n` cases whose support decides correctness, and resolve them by the API."""
    rng = random.Random(7)
    for i in range(n):
        support = rng.random()
        case = DemoCase(
            question=f"q{i}",
            answer=f"a{i}",
            signals={"answer_support": support, "avg_logprob": rng.random()},
        )
        review_id = seed_case(console.store, case)
        right = support > 0.3
        answer = client.post(
            f"/api/reviews/{review_id}/resolve",
            json={"verdict": "approved" if right else "rejected"},
            headers=auth(token),
        )
        assert answer.status_code == 200


def test_too_few_labels_are_refused_saying_how_many_more(
    client: TestClient, admin_token: str
) -> None:
    answer = client.post(
        "/api/policy/proposals",
        json={"target_risk": 0.1, "delta": 0.05},
        headers=auth(admin_token),
    )
    assert answer.status_code == 422
    refusal = answer.json()["refusal"]
    assert refusal["have"] == 0 and refusal["more"] == refusal["needed"] > 0
    assert "needs at least" in answer.json()["error"]


def test_the_calibration_page_refuses_with_the_count_it_needs(
    client: TestClient,
) -> None:
    token = log_in(client, "ada")
    answer = client.post(
        "/calibration/propose",
        data={"csrf_token": token, "target_risk": "0.1", "delta": "0.05"},
    )
    assert answer.status_code == 422
    assert "more labels" in answer.text


def test_verdicts_refit_apply_follow_and_roll_back(
    client: TestClient, console: Console, api_token: str, admin_token: str
) -> None:
    label_cases(client, console, api_token, 300)
    before = client.get("/api/policy/current", headers=auth(api_token)).json()
    assert before["version"] == 0
    proposed = client.post(
        "/api/policy/proposals",
        json={"target_risk": 0.1, "delta": 0.05},
        headers=auth(admin_token),
    ).json()
    proposal = proposed["proposal"]
    assert proposal["labels"] == 300
    assert proposal["figures"]["upper_bound"] <= 0.1
    assert 0 < proposal["figures"]["coverage"] <= 1

    source = StorePolicySource(console.store.engine, every=0.0)
    routes = {"review": ReviewQueueRoute(console.store)}
    follower = PolicyFollower(
        source,
        lambda policy: Guard(SIGNALS, policy, store=console.store, routes=routes),
        console.base,
    )
    assert follower.get().policy.thresholds.accept == console.base.thresholds.accept

    applied = client.post(
        "/api/policy/versions",
        json={"token": proposed["token"], "note": "first refit"},
        headers=auth(admin_token),
    ).json()
    assert applied["version"] == 1 and applied["applied_by"] == "ada"
    threshold = proposal["figures"]["threshold"]
    assert Policy.from_yaml(applied["policy_yaml"]).thresholds.accept == threshold
    # The running guard picks the new version up without a restart.
    guard = follower.get()
    assert guard.policy.thresholds.accept == threshold
    assert follower.version == 1
    sure = Observation(
        question="q", answer="a", metadata={"answer_support": 1.0, "avg_logprob": 1.0}
    )
    assert guard.check(sure).decision.action == "accept"

    rolled = client.post(
        "/api/policy/versions/1/rollback", headers=auth(admin_token)
    ).json()
    assert rolled["version"] == 2 and rolled["note"] == "rollback to version 1"
    versions = client.get("/api/policy/versions", headers=auth(api_token)).json()
    assert [v["version"] for v in versions] == [2, 1]
    assert follower.get() is not None and follower.version == 2


def test_a_forged_proposal_token_is_refused(
    client: TestClient, admin_token: str
) -> None:
    answer = client.post(
        "/api/policy/versions", json={"token": "forged"}, headers=auth(admin_token)
    )
    assert answer.status_code == 409
    assert "propose again" in answer.json()["error"]


def test_the_calibration_page_shows_proposal_beside_current_and_applies_it(
    client: TestClient, console: Console, api_token: str
) -> None:
    label_cases(client, console, api_token, 300)
    token = log_in(client, "ada")
    page = client.post(
        "/calibration/propose",
        data={"csrf_token": token, "target_risk": "0.1", "delta": "0.05"},
    ).text
    assert 'id="current"' in page and 'id="proposal"' in page
    import re

    signed = re.search(r'name="proposal" value="([^"]+)"', page)
    assert signed
    applied = client.post(
        "/calibration/apply", data={"csrf_token": token, "proposal": signed.group(1)}
    )
    assert applied.status_code == 303
    assert console.versions.current() is not None
    assert "version 1" in client.get("/calibration").text


def test_the_dashboard_draws_svg_from_decisions_and_verdicts(
    client: TestClient, console: Console, api_token: str
) -> None:
    label_cases(client, console, api_token, 40)
    log_in(client, "bo")
    html = client.get("/dashboard").text
    assert html.count("<svg") == 7  # by day, five histograms, reliability
    assert 'id="labels">40<' in html
    stats = client.get("/api/stats", headers=auth(api_token)).json()
    assert stats["labels"] == 40 and stats["auroc"] is not None
    assert sum(b["count"] for b in stats["reliability"]) == 40


def test_rolling_back_to_an_unknown_version_is_404(
    client: TestClient, admin_token: str
) -> None:
    answer = client.post("/api/policy/versions/7/rollback", headers=auth(admin_token))
    assert answer.status_code == 404
    assert answer.json()["error"] == "no policy version 7"


def supported_stratum() -> Policy:
    """Requests with answer_support >= 0.5 (all right in `label_cases`) apart."""
    return Policy.from_dict(
        {
            "thresholds": {"accept": 0.8, "annotate": 0.2},
            "strata": [
                {
                    "name": "supported",
                    "when": {"signal": "answer_support", "confidence": {"ge": 0.5}},
                    "thresholds": {"accept": 0.5, "annotate": 0.3},
                }
            ],
        }
    )


def test_a_refit_of_a_stratified_policy_certifies_its_stratum_on_its_own_labels(
    client: TestClient, console: Console, api_token: str
) -> None:
    label_cases(client, console, api_token, 300)
    found = propose(console.store, supported_stratum(), target_risk=0.1, delta=0.05)
    assert isinstance(found, Proposal)
    stratum_line, own_line = found.strata
    assert stratum_line.startswith("stratum 'supported': accept >= ")
    assert own_line.startswith("the policy's own thresholds: ")
    written = Policy.from_yaml(found.policy_yaml).strata[0]
    assert written.risk_control is not None
    assert written.thresholds.accept == written.risk_control.threshold
    assert written.risk_control.delta == 0.05 / 4  # 2 candidates x 2 groups


def test_the_calibration_page_lists_what_each_stratum_got(
    client: TestClient, console: Console, api_token: str
) -> None:
    label_cases(client, console, api_token, 300)
    console.base = supported_stratum()  # as if configured with it
    token = log_in(client, "ada")
    page = client.post(
        "/calibration/propose",
        data={"csrf_token": token, "target_risk": "0.1", "delta": "0.05"},
    ).text
    listed = page.split('id="proposal-strata"')[1].split("</ul>")[0]
    assert listed.count("<li>") == 2
    assert "stratum &#39;supported&#39;: accept &gt;= " in listed


def test_a_proposal_can_give_a_named_stratum_its_own_target(
    client: TestClient, console: Console, api_token: str, admin_token: str
) -> None:
    label_cases(client, console, api_token, 300)
    console.base = supported_stratum()
    answer = client.post(
        "/api/policy/proposals",
        json={"target_risk": 0.1, "delta": 0.05, "stratum_risk": {"supported": 0.09}},
        headers=auth(admin_token),
    )
    assert answer.status_code == 200
    proposal = answer.json()["proposal"]
    assert "certified for risk <= 0.09 on " in proposal["strata"][0]
    written = Policy.from_yaml(proposal["policy_yaml"])
    assert written.strata[0].risk_control is not None
    assert written.strata[0].risk_control.target_risk == 0.09
    assert proposal["strata"][1].startswith("the policy's own thresholds: ")


def test_a_target_for_a_stratum_the_policy_lacks_is_422(
    client: TestClient, console: Console, admin_token: str
) -> None:
    console.base = supported_stratum()
    answer = client.post(
        "/api/policy/proposals",
        json={"target_risk": 0.1, "stratum_risk": {"nosuch": 0.2}},
        headers=auth(admin_token),
    )
    assert answer.status_code == 422
    assert "no stratum named 'nosuch'" in answer.json()["error"]
    out_of_range = client.post(
        "/api/policy/proposals",
        json={"target_risk": 0.1, "stratum_risk": {"supported": 1.5}},
        headers=auth(admin_token),
    )
    assert out_of_range.status_code == 422


def test_the_calibration_page_takes_the_strata_targets_and_says_what_is_wrong(
    client: TestClient, console: Console, api_token: str
) -> None:
    token = log_in(client, "ada")
    assert 'id="stratum-risk"' not in client.get("/calibration").text  # none named
    label_cases(client, console, api_token, 300)
    console.base = supported_stratum()
    assert 'placeholder="supported=0.5"' in client.get("/calibration").text
    form = {"csrf_token": token, "target_risk": "0.1", "delta": "0.05"}
    page = client.post(
        "/calibration/propose", data={**form, "stratum_risk": "supported=0.09"}
    ).text
    listed = page.split('id="proposal-strata"')[1].split("</ul>")[0]
    assert "certified for risk &lt;= 0.09 on " in listed
    assert 'value="supported=0.09"' in page  # kept in the form
    for wrong, said in [
        ("nosuch=0.1", "no stratum named &#39;nosuch&#39;"),
        ("supported", "expected a stratum&#39;s target as name=risk"),
    ]:
        refused = client.post(
            "/calibration/propose", data={**form, "stratum_risk": wrong}
        )
        assert refused.status_code == 422
        assert said in refused.text.split('id="invalid"')[1].split("</p>")[0]


def test_each_stratums_figures_are_shown_for_the_current_policy_and_the_proposal(
    client: TestClient, console: Console, api_token: str, admin_token: str
) -> None:
    label_cases(client, console, api_token, 300)
    console.base = supported_stratum()
    before = client.get("/api/policy/current", headers=auth(api_token)).json()
    (stratum,) = before["figures"]["strata"]
    assert stratum["stratum"] == "'supported'" and stratum["threshold"] == 0.5
    assert stratum["upper_bound"] is None  # the configured stratum is uncertified
    proposed = client.post(
        "/api/policy/proposals",
        json={"target_risk": 0.1, "delta": 0.05},
        headers=auth(admin_token),
    ).json()
    (certified,) = proposed["proposal"]["figures"]["strata"]
    assert certified["upper_bound"] <= certified["target_risk"] == 0.1
    assert certified["delta"] == 0.05  # the joint level, not the stratum's share
    written = Policy.from_yaml(proposed["proposal"]["policy_yaml"]).strata[0]
    assert written.risk_control is not None
    assert certified["threshold"] == written.thresholds.accept
    assert written.risk_control.delta == 0.05 / 4
    client.post(
        "/api/policy/versions",
        json={"token": proposed["token"]},
        headers=auth(admin_token),
    )
    after = client.get("/api/policy/current", headers=auth(api_token)).json()
    assert after["version"] == 1 and after["figures"]["strata"] == [certified]
    log_in(client, "ada")  # the page is an admin's
    page = client.get("/calibration").text
    table = page.split('class="strata-figures"')[1].split("</table>")[0]
    assert "&#39;supported&#39;" in table
    assert f"{certified['threshold']:.3f}" in table and "(target 0.1, δ 0.050)" in table


@pytest.mark.parametrize(("flip", "wrong_verdicts"), [(0.0, 0), (0.5, 17)])
def test_seeded_verdicts_follow_answer_support_but_for_the_flips(
    console: Console, flip: float, wrong_verdicts: int
) -> None:
    seed_verdicts(console.store, 40, seed=3, right_above=0.3, flip=flip)
    samples = labelled_from_store(console.store)
    assert len(samples) == 40
    against = [
        s for s in samples if s.correct != ((s.signals["answer_support"] or 0) > 0.3)
    ]
    assert len(against) == wrong_verdicts
