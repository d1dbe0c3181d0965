"""Guards with claim signals: the redacted answer, the gate, and the audit record."""

from __future__ import annotations

import asyncio

import pytest

from confguard import Guard
from confguard.claims import ClaimLexicalSupport, ClaimScorer
from confguard.guard import AsyncGuard
from confguard.observation import Observation
from confguard.policy import Policy
from confguard.routes.builtin import CallableRoute
from confguard.signals import AnswerSupport
from confguard.store import InMemoryStore
from confguard.testing import make_observation

CONTEXT = "The Denver Broncos won Super Bowl 50. It was played in Santa Clara."
ANSWER = (
    "The Denver Broncos won Super Bowl 50. The moon is made of green cheese. "
    "It was played in Santa Clara."
)


def obs(answer: str = ANSWER) -> Observation:
    return make_observation(answer, "Who won Super Bowl 50?", contexts=[CONTEXT])


def guard(claims: dict[str, object] | None = None, **options: object) -> Guard:
    policy = Policy.from_dict(
        {"thresholds": {"accept": 0.5}, **({"claims": claims} if claims else {})}
    )
    scorer = ClaimScorer([ClaimLexicalSupport()])
    return Guard([AnswerSupport()], policy, claims=scorer, **options)  # type: ignore[arg-type]


def test_an_accepted_answer_comes_back_with_its_weak_claim_redacted() -> None:
    result = guard().check(obs())
    assert result.decision.action == "accept"
    assert result.answer == (
        "The Denver Broncos won Super Bowl 50. "
        "[removed: a claim that was not supported] It was played in Santa Clara."
    )
    assert result.claims is not None
    assert [d.action for d in result.claims.decisions] == ["keep", "redact", "keep"]
    assert result.decision.reason.endswith("; claims: 2 kept, 0 flagged, 1 redacted")
    assert result.attempts[-1].observation.answer == ANSWER  # what the model said


def test_a_failing_essential_claim_abstains_although_the_answer_passed() -> None:
    result = guard({"essential": "all"}).check(obs())
    assert result.decision.action == "abstain"
    assert result.answer == "I'm not confident enough to answer that."
    assert result.decision.reason.startswith("claims: claim 1 confidence 0.")
    assert result.decision.reason.endswith("essential: abstain")


def test_a_gate_may_escalate_with_the_whole_answer() -> None:
    seen: list[str] = []

    def reviewer(request: object) -> str:
        seen.append(request.answer)  # type: ignore[attr-defined]
        return "A person will check this."

    policy = Policy.from_dict(
        {
            "thresholds": {"accept": 0.5},
            "claims": {"essential": "all", "on_gate": "escalate"},
            "escalate": {"route": "human"},
        }
    )
    checked = Guard(
        [AnswerSupport()],
        policy,
        claims=ClaimScorer([ClaimLexicalSupport()]),
        routes={"human": CallableRoute(reviewer)},
    ).check(obs())
    assert checked.decision.action == "escalate"
    assert seen == [ANSWER]
    assert checked.answer == "A person will check this."


def counting_guard(calls: list[str]) -> Guard:
    """A guard whose one claim signal appends each claim it scores to `calls`."""

    class Counting(ClaimLexicalSupport):
        def _score_claim(self, claim, obs):  # type: ignore[no-untyped-def]
            calls.append(claim.text)
            return super()._score_claim(claim, obs)

    policy = Policy.from_dict({"thresholds": {"accept": 0.5}})
    return Guard([AnswerSupport()], policy, claims=ClaimScorer([Counting()]))


def test_an_answer_the_guard_refuses_is_not_split_into_claims_at_all() -> None:
    calls: list[str] = []
    g = counting_guard(calls)
    result = g.check(obs("Nothing here is in the passage."))
    assert result.decision.action == "abstain"
    assert result.claims is None and calls == []  # no claim signal ran


def test_the_audit_record_says_what_was_removed_and_why() -> None:
    store = InMemoryStore()
    result = guard(store=store).check(obs())
    [row] = store.decisions(result.request_id)
    claims = row.metadata["claims"]
    assert [c["action"] for c in claims["claims"]] == ["keep", "redact", "keep"]
    assert claims["claims"][1]["why"].endswith(": redact")
    assert claims["claims"][1]["span"] == [38, 71]
    assert "text" not in claims["claims"][1] and "redacted_answer" not in claims


def test_a_store_that_keeps_answers_keeps_the_redacted_answer_too() -> None:
    store = InMemoryStore(store_answers=True)
    result = guard(store=store).check(obs())
    [row] = store.decisions(result.request_id)
    assert row.metadata["claims"]["redacted_answer"] == result.answer
    assert row.metadata["claims"]["claims"][1]["text"] == (
        "The moon is made of green cheese."
    )


def test_the_sqlite_store_keeps_the_claims_metadata(tmp_path: object) -> None:
    from confguard.store import SQLStore

    store = SQLStore(f"sqlite:///{tmp_path}/audit.sqlite")  # type: ignore[str-bytes-safe]
    with guard(store=store) as g:
        result = g.check(obs())
    [row] = store.decisions(result.request_id)
    assert row.metadata["claims"]["claims"][1]["action"] == "redact"


def test_a_claims_section_alone_uses_the_cheap_default_claim_signals() -> None:
    policy = Policy.from_dict({"thresholds": {"accept": 0.5}, "claims": {}})
    result = Guard([AnswerSupport()], policy).check(obs())
    assert result.claims is not None
    names = [s.name for s in result.claims.claims[0].signals]
    assert names == ["claim_avg_logprob", "claim_lexical"]


def test_without_claims_nothing_changes() -> None:
    policy = Policy.from_dict({"thresholds": {"accept": 0.5}})
    result = Guard([AnswerSupport()], policy).check(obs())
    assert result.claims is None and result.answer == ANSWER


def test_the_async_guard_redacts_the_same_way() -> None:
    async def main() -> tuple[str | None, str | None]:
        sync = guard()
        expected = sync.check(obs()).answer
        async with sync.as_async() as twin:
            assert isinstance(twin, AsyncGuard)
            found = await twin.acheck(obs())
        return found.answer, expected

    async_answer, sync_answer = asyncio.run(main())
    assert async_answer == sync_answer


def test_run_retries_and_the_final_attempt_carries_its_claims() -> None:
    answers = iter(["Nothing here matches at all.", ANSWER])
    policy = Policy.from_dict(
        {"thresholds": {"accept": 0.5, "retry": 0.0}, "retry": {"max_attempts": 2}}
    )
    g = Guard([AnswerSupport()], policy, claims=ClaimScorer([ClaimLexicalSupport()]))
    result = g.run(lambda q, attempt: obs(next(answers)), "Who won Super Bowl 50?")
    assert [r.decision.action for r in result.attempts] == ["retry", "accept"]
    assert result.attempts[0].claims is None  # retried: its claims were not scored
    assert result.claims is result.attempts[-1].claims
    assert result.claims is not None and len(result.claims.removed) == 1


@pytest.mark.parametrize("shell", ["sync", "async"])
def test_claim_scoring_runs_once_per_claim_of_an_accepted_check(shell: str) -> None:
    calls: list[str] = []
    g = counting_guard(calls)
    if shell == "sync":
        g.check(obs())
    else:
        asyncio.run(g.as_async().acheck(obs()))
    assert len(calls) == 3


def test_the_verdict_integrations_attach_says_what_each_claim_got() -> None:
    from confguard.results import Verdict

    verdict = Verdict.from_result(guard().check(obs()))
    assert [d.action for d in verdict.claims] == ["keep", "redact", "keep"]
    again = Verdict.model_validate(verdict.to_metadata())  # JSON-safe, round trip
    assert again.claims == verdict.claims
    refused = Verdict.from_result(guard().check(obs("Paris.")))
    assert refused.action == "abstain" and refused.claims == ()  # never split
