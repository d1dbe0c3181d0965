"""One Verdict for both integrations: built from a GuardResult, placed, read back."""

from __future__ import annotations

from typing import Any

import pytest

from confguard import FunctionSignal, Guard, Observation, Policy
from confguard.exceptions import InputError
from confguard.observation import Issue
from confguard.results import (
    VERDICT_KEY,
    Abstain,
    AttemptSummary,
    GuardResult,
    SignalSummary,
    Verdict,
)

QUESTION = "What is the capital of France?"
CAVEAT = "(unsure)"


def policy() -> Policy:
    return Policy.from_dict(
        {
            "thresholds": {"accept": 0.8, "annotate": 0.7, "retry": 0.5},
            "retry": {"max_attempts": 2, "strategies": ["repeat"]},
            "annotate": {"caveat": CAVEAT},
            "abstain": {"message": "I can't answer that."},
        }
    )


def guard_of(*confidences: float) -> Guard:
    """A guard whose one signal gives the attempts these confidences, in order."""
    queue = list(confidences)
    return Guard([FunctionSignal(lambda obs: queue.pop(0), name="fixed")], policy())


def run(guard: Guard, *answers: str) -> GuardResult:
    def pipeline(question: str, attempt: Any) -> Observation:
        issue = Issue(code="no_logprobs", attempt=attempt.number, detail="none")
        return Observation(
            question=question,
            answer=answers[attempt.number - 1],
            issues=(issue,),
            attempt=attempt.number,
        )

    return guard.run(pipeline, QUESTION)


def test_a_verdict_is_built_from_the_whole_guard_result() -> None:
    result = run(guard_of(0.6, 0.9), "Lyon", "Paris")

    verdict = Verdict.from_result(result)

    assert (verdict.action, verdict.guard_action) == ("accept", "accept")
    assert verdict.confidence == pytest.approx(0.9)
    assert (verdict.answer, verdict.judged_answer) == ("Paris", "Paris")
    assert verdict.accepted
    assert verdict.signals == (
        SignalSummary(name="fixed", status="ok", confidence=0.9),
    )
    assert [(a.number, a.strategy, a.action) for a in verdict.attempts] == [
        (1, None, "retry"),
        (2, "repeat", "accept"),
    ]
    assert all(isinstance(a, AttemptSummary) for a in verdict.attempts)
    assert [(i.code, i.attempt) for i in verdict.issues] == [
        ("no_logprobs", 1),
        ("no_logprobs", 2),
    ]
    assert verdict.latency_seconds == result.latency_seconds


def test_an_annotated_answer_carries_its_caveat_unless_told_not_to() -> None:
    result = run(guard_of(0.75), "Paris")

    shown = Verdict.from_result(result)
    plain = Verdict.from_result(result, append_caveat=False)

    assert (shown.action, shown.caveat) == ("annotate", CAVEAT)
    assert shown.answer == f"Paris\n\n{CAVEAT}"
    assert (plain.answer, plain.caveat) == ("Paris", CAVEAT)


def test_a_refusal_overrides_the_guard_and_keeps_the_judged_answer() -> None:
    result = run(guard_of(0.9), "")
    refusal = Abstain(reason="empty response", message="No answer.")

    verdict = Verdict.from_result(result, refusal=refusal)

    assert (verdict.action, verdict.guard_action) == ("abstain", "accept")
    assert (verdict.reason, verdict.answer) == ("empty response", "No answer.")
    assert (verdict.judged_answer, verdict.caveat) == ("", None)
    assert not verdict.accepted


def test_the_verdict_round_trips_through_its_json_metadata() -> None:
    verdict = Verdict.from_result(run(guard_of(0.75), "Paris"))

    stored = {VERDICT_KEY: verdict.to_metadata()}

    assert Verdict.find(stored) == verdict
    assert Verdict.read(stored, where="test output") == verdict


def test_the_readers_say_plainly_when_no_verdict_is_there() -> None:
    assert Verdict.find({}) is None
    assert Verdict.find(None) is None
    with pytest.raises(InputError, match="the str output carries no confguard verdict"):
        Verdict.read({"other": 1}, where="str output")
    with pytest.raises(InputError, match="verdict is malformed"):
        Verdict.find({VERDICT_KEY: {"action": "maybe"}})


# --- the same verdict in both integrations ---------------------------------------


def langchain_verdict(guard: Guard, answer: str) -> tuple[Verdict, dict[str, Any]]:
    pytest.importorskip("langchain_core")
    from langchain_confguard import GuardedRunnable, verdict_of
    from langchain_confguard.testing import FakeResponse
    from langchain_core.runnables import RunnableLambda

    reply = FakeResponse(text=answer, prob=0.9).message()
    chain = RunnableLambda(lambda question: reply)
    message = GuardedRunnable(bound=chain, guard=guard).invoke(QUESTION)
    return verdict_of(message), message.response_metadata[VERDICT_KEY]


def llamaindex_verdict(guard: Guard, answer: str) -> tuple[Verdict, dict[str, Any]]:
    pytest.importorskip("llama_index.core")
    from llama_index.core.base.response.schema import Response
    from llama_index.core.query_engine import CustomQueryEngine
    from llama_index.postprocessor.confguard import GuardedQueryEngine, verdict_of
    from llama_index.postprocessor.confguard.testing import LogprobMockLLM

    class Scripted(CustomQueryEngine):
        def custom_query(self, query_str: str) -> Response:
            return Response(LogprobMockLLM([answer]).complete(query_str).text)

    response = GuardedQueryEngine(Scripted(), guard).query(QUESTION)
    return verdict_of(response), response.metadata[VERDICT_KEY]


@pytest.mark.parametrize("confidences", [(0.75,), (0.6, 0.95), (0.6, 0.1)])
def test_both_integrations_attach_the_same_verdict_json(
    confidences: tuple[float, ...],
) -> None:
    lc, lc_json = langchain_verdict(guard_of(*confidences), "Paris")
    li, li_json = llamaindex_verdict(guard_of(*confidences), "Paris")

    def timeless(data: dict[str, Any]) -> dict[str, Any]:
        # Two requests: their latencies and ids differ by nature, nothing else may.
        return {
            k: v for k, v in data.items() if k not in ("latency_seconds", "request_id")
        }

    assert timeless(lc_json) == timeless(li_json)
    assert lc_json == lc.to_metadata() and li_json == li.to_metadata()
    assert set(lc_json) == set(Verdict.model_fields)


def test_both_integrations_read_alike_when_there_is_no_verdict() -> None:
    pytest.importorskip("langchain_core")
    pytest.importorskip("llama_index.core")
    import langchain_confguard as lc
    import llama_index.postprocessor.confguard as li
    from langchain_core.messages import AIMessage
    from llama_index.core.base.response.schema import Response

    assert lc.get_verdict(AIMessage("Paris")) is None
    assert li.get_verdict(Response("Paris")) is None
    with pytest.raises(InputError, match="carries no confguard verdict"):
        lc.verdict_of(AIMessage("Paris"))
    with pytest.raises(InputError, match="carries no confguard verdict"):
        li.verdict_of(Response("Paris"))
