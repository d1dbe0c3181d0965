"""Guard and AsyncGuard end to end: fake pipelines, FunctionSignals, InMemoryStore."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest
import respx
from tenacity import Retrying, stop_after_attempt, wait_fixed

from confguard import (
    Annotate,
    AsyncGuard,
    CallableRoute,
    EscalationRequest,
    FunctionSignal,
    Guard,
    LowConfidenceError,
    Observation,
    PipelineRoute,
    Policy,
    ReviewQueueRoute,
    SignalResult,
    WebhookRoute,
    minimum,
)
from confguard.exceptions import (
    ConfigurationError,
    EscalationError,
    ObservationError,
    UnknownComponentError,
)
from confguard.llm.base import BaseGenerator, Completion, GenerationRequest
from confguard.results import Attempt
from confguard.signals.base import (
    BASE_TIMEOUT_SECONDS,
    PER_CALL_TIMEOUT_SECONDS,
    BaseSignal,
    DeclaredCost,
    Plan,
    default_timeout,
)
from confguard.store import InMemoryStore, digest
from confguard.strategies import more_context, temperature

URL = "https://hooks.test/escalate"
POLICY: dict[str, Any] = {
    "thresholds": {"accept": 0.8, "annotate": 0.6, "retry": 0.4, "escalate": 0.2},
    "retry": {"max_attempts": 3, "strategies": [temperature(0.0), more_context(8)]},
    "escalate": {"route": "human", "pending_message": "a human will answer"},
    "annotate": {"caveat": "check this ({confidence:.0%})"},
    "abstain": {"message": "no answer"},
}


def policy(**changes: Any) -> Policy:
    data = {**POLICY}
    for key, value in changes.items():
        merge = isinstance(value, dict) and isinstance(data.get(key), dict)
        data[key] = {**data[key], **value} if merge else value
    return Policy.from_dict(data)


HUMAN = {"human": CallableRoute(lambda r: None)}

# The fake pipeline states its own confidence in metadata; this signal reads it.
CONF = FunctionSignal(lambda obs: float(obs.metadata["conf"]), name="conf")


class Scripted:
    """A pipeline answering with the next confidence of its script; keeps attempts."""

    def __init__(self, *confidences: float, answer: str = "Paris") -> None:
        self.confidences = confidences
        self.answer = answer
        self.attempts: list[Attempt] = []

    def __call__(self, question: str, attempt: Attempt) -> Observation:
        self.attempts.append(attempt)
        conf = self.confidences[min(len(self.attempts), len(self.confidences)) - 1]
        meta = {"conf": conf}
        return Observation(question=question, answer=self.answer, metadata=meta)


class AsyncScripted(Scripted):
    """The same script as a coroutine pipeline object."""

    async def acall(self, question: str, attempt: Attempt) -> Observation:
        await asyncio.sleep(0)
        return self(question, attempt)


def guard(
    *, routes: dict[str, Any] | None = None, **kw: Any
) -> tuple[Guard, InMemoryStore]:
    store = kw.pop("store", None) or InMemoryStore()
    kw.setdefault("policy", policy())
    routes = {"human": CallableRoute(lambda r: None), **(routes or {})}
    return Guard([CONF], store=store, routes=routes, **kw), store


def aguard(
    *, routes: dict[str, Any] | None = None, **kw: Any
) -> tuple[AsyncGuard, InMemoryStore]:
    store = InMemoryStore()
    kw.setdefault("policy", policy())
    kw.setdefault("signals", [CONF])
    routes = {"human": CallableRoute(lambda r: None), **(routes or {})}
    return AsyncGuard(store=store, routes=routes, **kw), store


def obs(conf: float, answer: str = "Paris") -> Observation:
    return Observation(
        question="Capital of France?", answer=answer, metadata={"conf": conf}
    )


# --- accept and annotate ---------------------------------------------------------


def test_check_accepts_a_confident_answer_and_records_one_row() -> None:
    g, store = guard()
    result = g.check(obs(0.9))
    assert result.answer == "Paris"
    assert result.accepted
    assert result.decision.reason == "confidence 0.90 ≥ accept 0.80: accept"
    [row] = store.decisions()
    assert len(row.request_id) == 32
    assert (row.attempt, row.action, row.confidence) == (1, "accept", 0.9)
    assert row.answer_digest == digest("Paris")
    assert row.answer is None
    assert row.signals == result.assessment.signals


def test_a_store_that_keeps_answers_gets_the_answer_text_from_the_guard() -> None:
    store = InMemoryStore(store_answers=True)
    g, _ = guard(store=store)
    g.check(obs(0.9))
    assert store.decisions()[0].answer == "Paris"


def test_store_answers_on_the_guard_names_its_new_place() -> None:
    with pytest.raises(TypeError, match=r"InMemoryStore\(store_answers=True\)"):
        guard(store_answers=True)


def test_an_annotated_answer_carries_the_caveat() -> None:
    g, _ = guard()
    result = g.check(obs(0.7))
    assert result.decision.action == "annotate"
    assert result.answer == "Paris"
    assert isinstance(result.decision, Annotate)
    assert result.decision.caveat == "check this (70%)"


# --- retries ---------------------------------------------------------------------


def test_run_retries_with_the_strategies_in_order_then_accepts() -> None:
    g, store = guard()
    pipeline = Scripted(0.5, 0.5, 0.9)
    result = g.run(pipeline, "Capital of France?")
    assert result.decision.action == "accept"
    assert pipeline.attempts == [
        Attempt(number=1),
        Attempt(number=2, strategy=temperature(0.0)),
        Attempt(number=3, strategy=more_context(8)),
    ]
    rows = store.decisions()
    assert [(r.attempt, r.action, r.strategy) for r in rows] == [
        (1, "retry", None),
        (2, "retry", "temperature"),
        (3, "accept", "more_context"),
    ]
    assert len({r.request_id for r in rows}) == 1
    assert [a.decision.action for a in result.attempts] == ["retry", "retry", "accept"]


def test_run_accepts_a_one_argument_pipeline() -> None:
    g, _ = guard()
    result = g.run(lambda q: obs(0.95, answer=f"echo {q}"), "hi")
    assert result.answer == "echo hi"


def test_retries_exhausted_follow_the_policy() -> None:
    g, store = guard()
    result = g.run(Scripted(0.5), "Capital of France?")
    assert result.decision.reason == (
        "confidence 0.50 < annotate 0.60, ≥ retry 0.40: "
        "retries exhausted (3/3 attempts): abstain"
    )
    assert result.answer == "no answer"
    assert [r.action for r in store.decisions()] == ["retry", "retry", "abstain"]


def test_an_int_retries_sets_the_number_of_attempts() -> None:
    g, _ = guard(retries=2)
    result = g.run(Scripted(0.5), "q")
    assert len(result.attempts) == 2
    assert g.policy.retry.max_attempts == 2


def test_a_tenacity_retrying_stops_and_waits_as_configured(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sleeps: list[float] = []
    retrying = Retrying(
        stop=stop_after_attempt(2), wait=wait_fixed(7), sleep=sleeps.append
    )
    g, store = guard(retries=retrying)
    result = g.run(Scripted(0.5), "q")
    assert sleeps == [7]
    assert result.decision.reason == (
        "confidence 0.50 < annotate 0.60, ≥ retry 0.40: "
        "retries stopped after 2 attempt(s): abstain"
    )
    assert [r.action for r in store.decisions()] == ["retry", "abstain"]


def test_the_policy_backoff_is_waited_through_tenacity(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sleeps: list[float] = []
    monkeypatch.setattr(time, "sleep", sleeps.append)
    backoff = {"backoff_seconds": 0.5, "backoff_multiplier": 2.0}
    g, _ = guard(policy=policy(retry=backoff))
    g.run(Scripted(0.5), "q")
    assert sleeps == [0.5, 1.0]


def test_check_returns_a_retry_decision_without_an_answer() -> None:
    g, _ = guard()
    result = g.check(obs(0.5))
    assert result.decision.action == "retry"
    assert result.answer is None


# --- escalation routes -----------------------------------------------------------


def test_escalation_to_a_callable_route_returns_its_answer() -> None:
    seen: list[EscalationRequest] = []

    def human(request: EscalationRequest) -> str:
        seen.append(request)
        return "Paris (checked by a human)"

    route = CallableRoute(human)
    g, store = guard(routes={"human": route})
    result = g.check(obs(0.25, answer="Lyon"))
    assert result.decision.action == "escalate"
    assert result.answer == "Paris (checked by a human)"
    assert (seen[0].answer, seen[0].confidence) == ("Lyon", 0.25)
    assert seen[0].request_id == store.decisions()[0].request_id
    assert store.decisions()[0].route == "human"


def test_a_route_with_no_answer_gives_the_pending_message() -> None:
    g, _ = guard()
    assert g.check(obs(0.25)).answer == "a human will answer"


def test_a_pipeline_route_answer_is_checked_in_its_turn() -> None:
    strong = Scripted(0.9, answer="Paris")
    g, store = guard(routes={"human": PipelineRoute(strong)})
    result = g.run(Scripted(0.25, answer="Lyon"), "Capital of France?")
    assert result.answer == "Paris"
    assert result.decision.action == "accept"
    assert strong.attempts == [Attempt(number=2, route="human")]
    rows = store.decisions()
    assert [(r.attempt, r.action, r.route) for r in rows] == [
        (1, "escalate", "human"),
        (2, "accept", "human"),
    ]


def test_an_escalated_answer_that_is_still_weak_is_not_escalated_again() -> None:
    g, store = guard(routes={"human": PipelineRoute(Scripted(0.25))})
    result = g.run(Scripted(0.25), "q")
    assert result.decision.action == "abstain"
    assert "already escalated to 'human'" in result.decision.reason
    assert [r.action for r in store.decisions()] == ["escalate", "abstain"]


@respx.mock
def test_escalation_to_a_webhook_returns_its_answer() -> None:
    respx.post(URL).mock(return_value=httpx.Response(200, json={"answer": "Paris"}))
    g, _ = guard(routes={"human": WebhookRoute(URL, backoff_seconds=0)})
    result = g.check(obs(0.25))
    assert result.answer == "Paris"
    assert result.route_response == {"answer": "Paris"}


RAISE = policy(escalate={"raise_error": True})


@respx.mock
def test_an_unreachable_webhook_raises_after_the_decision_was_recorded() -> None:
    respx.post(URL).mock(side_effect=httpx.ConnectError("refused"))
    webhook = WebhookRoute(URL, retries=2, backoff_seconds=0)
    g, store = guard(routes={"human": webhook}, policy=RAISE)
    with pytest.raises(EscalationError, match=f"'human' failed: POST {URL}") as info:
        g.check(obs(0.25))
    [row] = store.decisions()
    assert (row.action, row.route) == ("escalate", "human")
    [entry] = store.escalations()
    assert (info.value.request_id, info.value.escalation_id) == (
        row.request_id,
        entry.id,
    )
    assert (entry.state, entry.attempts) == ("pending", 1)


@respx.mock
def test_an_unreachable_webhook_gives_the_pending_message_and_stays_queued() -> None:
    respx.post(URL).mock(side_effect=httpx.ConnectError("refused"))
    g, store = guard(routes={"human": WebhookRoute(URL, retries=2, backoff_seconds=0)})
    result = g.check(obs(0.25))
    assert result.answer == "a human will answer"
    [entry] = store.escalations()
    assert (entry.request_id, entry.route, entry.state) == (
        result.request_id,
        "human",
        "pending",
    )
    assert entry.attempts == 1
    assert entry.last_error is not None and "ConnectError" in entry.last_error
    assert entry.lease_owner is None  # a worker may take it when it is due
    assert entry.payload["escalation_id"] == entry.id


def test_a_delivered_escalation_is_marked_delivered_once() -> None:
    g, store = guard()
    g.check(obs(0.25))
    [entry] = store.escalations()
    assert (entry.state, entry.attempts) == ("delivered", 1)
    assert entry.delivered_at is not None
    assert store.delivered(entry.id) is None  # never delivered twice


def test_without_a_store_a_failed_delivery_always_raises() -> None:
    def down(request: object) -> None:
        raise RuntimeError("pager down")

    g = Guard([CONF], policy=policy(), routes={"human": CallableRoute(down)})
    with pytest.raises(EscalationError, match="pager down") as info:
        g.check(obs(0.25))
    assert info.value.request_id is not None
    assert info.value.escalation_id is None  # nothing keeps the case


def test_the_review_queue_route_gives_a_review_id_and_the_pending_message() -> None:
    store = InMemoryStore()
    g = Guard([CONF], policy(), store=store, routes={"human": ReviewQueueRoute(store)})
    result = g.check(obs(0.25))
    [item] = store.pending_reviews()
    assert result.review_id == item.id
    assert result.answer == "a human will answer"
    assert item.request_id == store.decisions()[0].request_id


def test_retries_exhausted_can_escalate() -> None:
    g, store = guard(policy=policy(on_retries_exhausted="escalate"), retries=2)
    result = g.run(Scripted(0.5), "q")
    assert result.decision.action == "escalate"
    assert [r.action for r in store.decisions()] == ["retry", "escalate"]


# --- abstain, missing evidence, failures -----------------------------------------


def test_abstain_can_raise_low_confidence_error_after_recording() -> None:
    g, store = guard(policy=policy(abstain={"raise_error": True}))
    with pytest.raises(LowConfidenceError) as info:
        g.check(obs(0.1))
    error = info.value
    assert error.decision.action == "abstain"
    assert error.assessment.confidence == 0.1
    assert len(error.attempts) == 1
    assert [r.action for r in store.decisions()] == ["abstain"]


SKIPPING = FunctionSignal(
    lambda obs: SignalResult.skipped("logprob", "model exposes no logprobs"),
    name="logprob",
)


def test_fail_closed_abstains_naming_the_skipped_signal() -> None:
    g = Guard([CONF, SKIPPING], policy(), routes=HUMAN)
    result = g.check(obs(0.95))
    assert result.decision.reason == (
        "fail_closed: signal 'logprob' skipped (model exposes no logprobs): abstain"
    )


def test_ignore_decides_on_the_signals_that_ran() -> None:
    g = Guard([CONF, SKIPPING], policy(on_missing_evidence="ignore"), routes=HUMAN)
    assert g.check(obs(0.95)).decision.action == "accept"


def test_ignore_with_no_signal_that_ran_abstains_for_lack_of_evidence() -> None:
    g = Guard([SKIPPING], policy(on_missing_evidence="ignore"), routes=HUMAN)
    result = g.check(obs(0.95))
    assert result.decision.action == "abstain"
    assert result.decision.reason.startswith("no evidence (signal 'logprob' skipped")


def test_a_signal_that_raises_is_failed_and_the_policy_decides() -> None:
    def broken(obs: Observation) -> float:
        raise ValueError("bad input")

    g = Guard([CONF, broken], policy(on_missing_evidence="ignore"), routes=HUMAN)
    result = g.check(obs(0.9))
    assert result.assessment.signal("broken").reason == "ValueError: bad input"
    assert result.decision.action == "accept"


def test_a_sync_signal_over_its_timeout_is_failed() -> None:
    def slow_signal(obs: Observation) -> float:
        time.sleep(0.5)
        return 1.0

    slow = FunctionSignal(slow_signal, name="slow")
    g = Guard([CONF, slow], policy(), routes=HUMAN, signal_timeout=0.05)
    result = g.check(obs(0.9))
    assert result.assessment.signal("slow").reason == "timed out after 0.05s"
    assert result.decision.action == "abstain"


# --- timeouts and worker threads ----------------------------------------------------

JUDGE = FunctionSignal(
    lambda obs: 0.9, name="judge", cost=DeclaredCost(llm_calls=2, relative=1.0)
)


def test_every_signal_gets_a_default_timeout_from_its_declared_cost() -> None:
    g = Guard([CONF, JUDGE], policy(), routes=HUMAN)
    assert dict(g.timeouts) == {"conf": 5.0, "judge": 65.0}
    assert g.timeouts["judge"] == BASE_TIMEOUT_SECONDS + 2 * PER_CALL_TIMEOUT_SECONDS
    assert g.timeouts["conf"] == default_timeout(DeclaredCost())


@pytest.mark.parametrize(
    ("signal_timeout", "expected"),
    [
        (2, {"conf": 2.0, "judge": 2.0}),
        (None, {"conf": None, "judge": None}),
        ({"judge": 1.5}, {"conf": 5.0, "judge": 1.5}),
        ({"judge": None}, {"conf": 5.0, "judge": None}),
    ],
)
def test_signal_timeout_sets_every_signals_limit_or_some_by_name(
    signal_timeout: Any, expected: dict[str, float | None]
) -> None:
    g = Guard([CONF, JUDGE], policy(), routes=HUMAN, signal_timeout=signal_timeout)
    assert dict(g.timeouts) == expected


def test_a_signals_own_timeout_stands_unless_the_guard_names_it() -> None:
    own = FunctionSignal(lambda obs: 0.9, name="own")
    own.timeout = 0.5
    assert Guard([CONF, own], policy(), routes=HUMAN).timeouts["own"] == 0.5
    by_name = Guard([CONF, own], policy(), routes=HUMAN, signal_timeout={"conf": 1})
    assert dict(by_name.timeouts) == {"conf": 1.0, "own": 0.5}
    overall = Guard([CONF, own], policy(), routes=HUMAN, signal_timeout=3)
    assert overall.timeouts["own"] == 3.0


def test_signal_timeout_naming_an_unknown_signal_is_refused() -> None:
    with pytest.raises(UnknownComponentError, match="confx"):
        Guard([CONF], policy(), routes=HUMAN, signal_timeout={"confx": 1.0})


@pytest.mark.parametrize(
    "option",
    [
        {"signal_timeout": 0},
        {"signal_timeout": -1.0},
        {"signal_timeout": float("nan")},
        {"signal_timeout": float("inf")},
        {"signal_timeout": True},
        {"signal_timeout": "1"},
        {"signal_timeout": {"conf": 0}},
        {"max_workers": 0},
        {"max_workers": 1.5},
        {"max_workers": True},
    ],
)
def test_bad_timeouts_and_worker_counts_are_configuration_errors(
    option: dict[str, Any],
) -> None:
    name = next(iter(option))
    with pytest.raises(ConfigurationError, match=name):
        Guard([CONF], policy(), routes=HUMAN, **option)


def where(names: list[str]) -> FunctionSignal:
    def record(obs: Observation) -> float:
        names.append(threading.current_thread().name)
        return 0.9

    return FunctionSignal(record, name="where")


def test_signals_run_on_the_guards_own_threads_under_their_limits() -> None:
    names: list[str] = []
    with Guard([where(names)], policy(), routes=HUMAN) as g:
        assert g.check(obs(0.9)).decision.action == "accept"
    assert names[0].startswith("confguard-signals")


def test_with_no_limit_at_all_the_signals_run_in_the_calling_thread() -> None:
    names: list[str] = []
    g = Guard([where(names)], policy(), routes=HUMAN, signal_timeout=None)
    g.check(obs(0.9))
    assert names == [threading.current_thread().name]


def test_a_closed_guard_refuses_to_check() -> None:
    with Guard([CONF], policy(), routes=HUMAN) as g:
        assert g.check(obs(0.9)).decision.action == "accept"
    with pytest.raises(ConfigurationError, match="closed"):
        g.check(obs(0.9))


async def test_twins_share_one_bounded_pool_and_close_together() -> None:
    names: list[str] = []
    g = Guard([where(names)], policy(), routes=HUMAN, max_workers=1)
    twin = g.as_async()
    await twin.acheck(obs(0.9))
    g.check(obs(0.9))
    assert names == ["confguard-signals-1"] * 2  # the same one thread
    await twin.aclose()
    with pytest.raises(ConfigurationError, match="closed"):
        g.check(obs(0.9))


class Counted(BaseGenerator):
    """A sync-only generator that takes `seconds` per call and notes its threads."""

    name = "counted"

    def __init__(self, seconds: float = 0.0) -> None:
        self.seconds = seconds
        self.threads: list[str] = []

    def generate(self, request: GenerationRequest) -> tuple[Completion, ...]:
        self.threads.append(threading.current_thread().name)
        time.sleep(self.seconds)
        return (Completion(text="yes"),)


class FiveCalls(BaseSignal):
    """A model-calling signal whose plan asks for five completions in turn."""

    name = "five"
    cost = DeclaredCost(llm_calls=5)

    def __init__(self, generator: BaseGenerator) -> None:
        self.generator = generator

    def _plan(self, obs: Observation) -> Plan[SignalResult]:
        for _ in range(5):
            yield GenerationRequest(prompt=obs.question)
        return SignalResult(name=self.name, confidence=0.9)


def test_a_sync_plan_stops_calling_its_model_once_the_guard_gave_up() -> None:
    model = Counted(seconds=0.1)
    g = Guard([FiveCalls(model)], policy(), routes=HUMAN, signal_timeout=0.15)
    reason = g.check(obs(0.9)).assessment.signal("five").reason
    assert reason == "timed out after 0.15s"
    time.sleep(0.4)  # long enough for the other three calls, had they been made
    assert len(model.threads) <= 2


async def test_a_sync_only_generator_runs_on_the_guards_threads_not_asyncios() -> None:
    model = Counted()
    async with AsyncGuard([FiveCalls(model)], policy(), routes=HUMAN) as g:
        assert (await g.acheck(obs(0.9))).decision.action == "accept"
    assert len(model.threads) == 5
    assert all(name.startswith("confguard-signals") for name in model.threads)


@pytest.mark.parametrize(
    ("pipeline", "message"),
    [
        (lambda q, a: {"answer": "Paris"}, "pipeline returned dict, expected"),
        (lambda q, a: 1 / 0, "pipeline raised ZeroDivisionError: division by zero"),
    ],
)
def test_a_bad_pipeline_is_an_observation_error_and_nothing_is_recorded(
    pipeline: Callable[..., Any], message: str
) -> None:
    g, store = guard()
    with pytest.raises(ObservationError, match=message):
        g.run(pipeline, "q")
    assert store.decisions() == []


def test_check_refuses_what_is_not_an_observation() -> None:
    g, _ = guard()
    with pytest.raises(
        ObservationError,
        match=r"check\(\) was given str, expected confguard.Observation",
    ):
        g.check("Paris")  # type: ignore[arg-type]


# --- configuration ---------------------------------------------------------------


def test_a_policy_naming_a_route_not_given_fails_at_construction() -> None:
    with pytest.raises(
        UnknownComponentError, match="unknown route 'human'; known: bot"
    ):
        Guard([CONF], policy(), routes={"bot": CallableRoute(lambda r: None)})


def test_a_route_that_is_not_a_route_is_rejected() -> None:
    with pytest.raises(ConfigurationError, match="route 'human' is a function"):
        Guard([CONF], policy(), routes={"human": lambda r: None})  # type: ignore[dict-item]


def test_a_strategy_the_pipeline_was_not_said_to_understand_is_refused() -> None:
    rerank = policy(retry={"strategies": ["repeat", "rerank"]})
    with pytest.raises(UnknownComponentError) as info:
        Guard([CONF], rerank, routes=HUMAN)
    assert str(info.value) == (
        "unknown retry strategy 'rerank'; "
        "known: more_context, other_embedder, repeat, temperature"
    )
    with pytest.raises(UnknownComponentError, match="retry strategy 'rerank'"):
        AsyncGuard([CONF], rerank, routes=HUMAN)


def test_strategies_names_the_ones_the_pipeline_understands_itself() -> None:
    rerank = policy(retry={"strategies": ["rerank"]})
    g, _ = guard(policy=rerank, strategies=["rerank"])
    pipeline = Scripted(0.5, 0.9)
    assert g.run(pipeline, "q").decision.action == "accept"
    assert pipeline.attempts[1].strategy is not None
    assert pipeline.attempts[1].strategy.name == "rerank"


def test_strategies_given_as_one_string_is_refused_not_split_into_letters() -> None:
    rerank = policy(retry={"strategies": ["rerank"]})
    with pytest.raises(ConfigurationError, match="a list of names, got the string"):
        Guard([CONF], rerank, routes=HUMAN, strategies="rerank")


def test_an_unknown_keyword_option_is_a_type_error_listing_the_options() -> None:
    with pytest.raises(TypeError, match="unexpected keyword argument 'store_answer'"):
        Guard([CONF], store_answer=True)  # type: ignore[call-arg]


def test_policy_weights_must_name_known_signals() -> None:
    weighted = Policy.from_dict({"combiner": "weighted", "weights": {"judge": 2.0}})
    with pytest.raises(UnknownComponentError, match="'judge'; known: conf"):
        Guard([CONF], weighted)


def test_signal_names_must_be_unique() -> None:
    with pytest.raises(ConfigurationError, match=r"repeated: \['conf'\]"):
        Guard([CONF, CONF])


def test_an_explicit_combiner_and_a_calibrator_are_used() -> None:
    class Squash:
        def calibrate(self, p: float) -> float:
            return p * 0.5

    low = FunctionSignal(lambda obs: 0.6, name="low", cost=DeclaredCost())
    g = Guard(
        [CONF, low], policy(), routes=HUMAN, combiner=minimum(), calibrator=Squash()
    )
    result = g.check(obs(1.0))
    assert result.confidence == pytest.approx(0.3)
    assert result.assessment.combiner == "minimum"
    assert result.assessment.calibrated


# --- AsyncGuard ------------------------------------------------------------------


async def test_arun_retries_a_coroutine_pipeline_then_accepts() -> None:
    g, store = aguard()
    pipeline = AsyncScripted(0.5, 0.9)
    result = await g.arun(pipeline, "Capital of France?")
    assert result.decision.action == "accept"
    assert pipeline.attempts[1].strategy == temperature(0.0)
    assert [r.action for r in store.decisions()] == ["retry", "accept"]


async def test_arun_accepts_plain_sync_and_async_functions() -> None:
    async def pipeline(question: str) -> Observation:
        return obs(0.9, answer=question.upper())

    g, _ = aguard()
    assert (await g.arun(pipeline, "paris")).answer == "PARIS"
    assert (await g.arun(lambda q, a: obs(0.9), "q")).answer == "Paris"


async def test_acheck_runs_the_signals_concurrently() -> None:
    both_started = asyncio.Event()
    started: list[str] = []

    class Waiting:
        cost = DeclaredCost()

        def __init__(self, name: str) -> None:
            self.name = name

        def score(self, obs: Observation) -> SignalResult:
            raise NotImplementedError

        async def ascore(self, obs: Observation) -> SignalResult:
            started.append(self.name)
            if len(started) == 2:
                both_started.set()
            await both_started.wait()  # only returns if the other one runs meanwhile
            return SignalResult(name=self.name, confidence=0.9)

    g, _ = aguard(signals=[Waiting("a"), Waiting("b")], signal_timeout=2.0)
    result = await g.acheck(obs(0.9))
    assert [s.ok for s in result.assessment.signals] == [True, True]


async def test_a_signal_over_its_timeout_fails_and_the_policy_decides() -> None:
    class Hanging:
        name = "hanging"
        cost = DeclaredCost()

        def score(self, obs: Observation) -> SignalResult:
            raise NotImplementedError

        async def ascore(self, obs: Observation) -> SignalResult:
            await asyncio.sleep(10)
            raise AssertionError("unreachable")

    g, store = aguard(signals=[CONF, Hanging()], signal_timeout=0.05)
    result = await g.acheck(obs(0.9))
    assert result.assessment.signal("hanging").reason == "timed out after 0.05s"
    assert result.decision.reason == (
        "fail_closed: signal 'hanging' failed (timed out after 0.05s): abstain"
    )
    assert store.decisions()[0].action == "abstain"


async def test_200_concurrent_achecks_lose_no_row() -> None:
    g, store = aguard()
    results = await asyncio.gather(*(g.acheck(obs(i / 200)) for i in range(200)))
    rows = store.decisions(limit=10_000)
    assert len(rows) == 200
    assert len({r.request_id for r in rows}) == 200
    recorded = sorted(r.confidence or 0.0 for r in rows)
    assert recorded == sorted(r.confidence or 0.0 for r in results)
    assert recorded == [i / 200 for i in range(200)]


@respx.mock
async def test_an_unreachable_webhook_raises_in_async_after_recording() -> None:
    respx.post(URL).mock(side_effect=httpx.ConnectError("refused"))
    webhook = WebhookRoute(URL, retries=2, backoff_seconds=0)
    g, store = aguard(routes={"human": webhook}, policy=RAISE)
    with pytest.raises(EscalationError, match="after 2 attempt") as info:
        await g.arun(AsyncScripted(0.25), "q")
    assert [r.action for r in store.decisions()] == ["escalate"]
    [entry] = store.escalations()
    assert (entry.state, entry.id) == ("pending", info.value.escalation_id)


@respx.mock
async def test_an_unreachable_webhook_in_async_gives_the_pending_message() -> None:
    respx.post(URL).mock(side_effect=httpx.ConnectError("refused"))
    g, store = aguard(routes={"human": WebhookRoute(URL, retries=2, backoff_seconds=0)})
    result = await g.arun(AsyncScripted(0.25), "q")
    assert result.answer == "a human will answer"
    assert [(e.state, e.attempts) for e in store.escalations()] == [("pending", 1)]


@respx.mock
async def test_async_escalation_to_a_webhook_returns_its_answer() -> None:
    respx.post(URL).mock(return_value=httpx.Response(200, json={"answer": "Paris"}))
    g, _ = aguard(routes={"human": WebhookRoute(URL)})
    result = await g.acheck(obs(0.25))
    assert (result.decision.action, result.answer) == ("escalate", "Paris")


async def test_async_pipeline_route_and_review_queue() -> None:
    g, _ = aguard(routes={"human": PipelineRoute(AsyncScripted(0.9, answer="Paris"))})
    result = await g.arun(AsyncScripted(0.25, answer="Lyon"), "q")
    assert (result.answer, len(result.attempts)) == ("Paris", 2)

    queue = InMemoryStore()
    g2 = AsyncGuard(
        [CONF], policy(), store=queue, routes={"human": ReviewQueueRoute(queue)}
    )
    result2 = await g2.acheck(obs(0.25))
    assert result2.review_id == queue.pending_reviews()[0].id


async def test_async_abstain_can_raise_low_confidence_error() -> None:
    g, store = aguard(policy=policy(abstain={"raise_error": True}))
    with pytest.raises(LowConfidenceError):
        await g.arun(AsyncScripted(0.1), "q")
    assert [r.action for r in store.decisions()] == ["abstain"]


async def test_an_async_pipeline_returning_no_observation_is_an_error() -> None:
    async def pipeline(question: str) -> Any:
        return "Paris"

    g, store = aguard()
    with pytest.raises(ObservationError, match="pipeline returned str"):
        await g.arun(pipeline, "q")
    assert store.decisions() == []


async def test_a_guard_and_its_async_twin_share_one_configuration() -> None:
    store = InMemoryStore()
    guard = Guard([FunctionSignal(lambda obs: 0.9, name="fixed")], store=store)
    twin = guard.as_async()
    assert isinstance(twin, AsyncGuard)
    assert twin.policy is guard.policy and twin.signals is guard.signals
    result = await twin.acheck(Observation(question="q", answer="a"))
    assert (
        result.decision.action
        == guard.check(result.attempts[0].observation).decision.action
    )
    assert len(store.decisions()) == 2
    assert isinstance(twin.as_sync(), Guard)
