"""Escalation routes on their own: callable, pipeline, review queue, webhook."""

from __future__ import annotations

import json
import time

import httpx
import pytest
import respx
from tenacity import Retrying, stop_after_attempt

from confguard.exceptions import ConfigurationError, EscalationError
from confguard.observation import Observation
from confguard.results import Attempt, SignalResult
from confguard.routes import (
    BaseRoute,
    CallableRoute,
    EscalationRequest,
    PipelineRoute,
    ReviewQueueRoute,
    Route,
    RouteOutcome,
    WebhookRoute,
)
from confguard.store import InMemoryStore, ReviewRequest
from confguard.testing import make_observation

URL = "https://hooks.test/escalate"
OBS = make_observation("Lyon", "What is the capital of France?")


def request(route: str = "oncall") -> EscalationRequest:
    return EscalationRequest(
        request_id="r1",
        route=route,
        question=OBS.question,
        answer=OBS.answer,
        confidence=0.25,
        reason="confidence 0.25 < retry 0.40",
        signals=(
            SignalResult(name="logprob", confidence=0.25),
            SignalResult.skipped("judge", "no generator"),
        ),
        attempt=Attempt(number=2, route=route),
        observation=OBS,
    )


def test_every_route_kind_satisfies_the_route_protocol() -> None:
    routes = [
        CallableRoute(lambda r: None),
        PipelineRoute(lambda q: OBS),
        ReviewQueueRoute(InMemoryStore()),
        WebhookRoute(URL),
    ]
    assert all(isinstance(r, Route) for r in routes)
    assert all(isinstance(r, BaseRoute) for r in routes)


class Pager(BaseRoute):
    """A route of one's own: only `escalate` is written."""

    def __init__(self) -> None:
        self.paged: list[str] = []

    def escalate(self, request: EscalationRequest) -> RouteOutcome:
        self.paged.append(request.request_id)
        return RouteOutcome(answer="paged")


async def test_a_base_route_gets_its_async_twin_from_escalate() -> None:
    pager = Pager()
    assert isinstance(pager, Route)
    assert await pager.aescalate(request()) == RouteOutcome(answer="paged")
    assert pager.paged == ["r1"]


def test_a_stored_payload_gives_back_the_request_a_worker_delivers() -> None:
    payload = request().payload()
    again = EscalationRequest.from_payload(payload)
    assert again.payload() == payload
    assert again.attempt == request().attempt


def test_the_webhook_payload_is_the_case_as_json() -> None:
    assert request().payload() == {
        "request_id": "r1",
        "route": "oncall",
        "question": "What is the capital of France?",
        "answer": "Lyon",
        "confidence": 0.25,
        "reason": "confidence 0.25 < retry 0.40",
        "escalation_id": None,
        "attempt": 2,
        "signals": [
            {"name": "logprob", "status": "ok", "confidence": 0.25, "reason": None},
            {
                "name": "judge",
                "status": "skipped",
                "confidence": None,
                "reason": "no generator",
            },
        ],
    }


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        ("Paris", RouteOutcome(answer="Paris")),
        (None, RouteOutcome()),
        (OBS, RouteOutcome(observation=OBS)),
    ],
)
def test_a_callable_route_wraps_what_the_function_returns(
    reply: object, expected: RouteOutcome
) -> None:
    assert CallableRoute(lambda r: reply).escalate(request()) == expected


def test_a_callable_route_that_raises_is_an_escalation_error_naming_the_route() -> None:
    def boom(r: EscalationRequest) -> str:
        raise RuntimeError("pager down")

    with pytest.raises(EscalationError) as info:
        CallableRoute(boom).escalate(request())
    assert str(info.value) == (
        "escalation route 'oncall' failed: RuntimeError: pager down"
    )
    assert info.value.route == "oncall"


def test_a_callable_route_returning_a_wrong_type_names_it() -> None:
    with pytest.raises(EscalationError, match="returned int; expected str"):
        CallableRoute(lambda r: 42).escalate(request())


def test_a_sync_escalate_refuses_a_coroutine_function() -> None:
    async def reply(r: EscalationRequest) -> str:
        return "Paris"

    with pytest.raises(EscalationError, match="use AsyncGuard"):
        CallableRoute(reply).escalate(request())


async def test_a_callable_route_awaits_a_coroutine_function() -> None:
    async def reply(r: EscalationRequest) -> str:
        return f"{r.question} Paris"

    outcome = await CallableRoute(reply).aescalate(request())
    assert outcome.answer == "What is the capital of France? Paris"
    assert (await CallableRoute(lambda r: "sync").aescalate(request())).answer == "sync"


def test_a_pipeline_route_runs_its_pipeline_as_the_escalated_attempt() -> None:
    seen: list[Attempt] = []

    def strong(question: str, attempt: Attempt) -> Observation:
        seen.append(attempt)
        return make_observation("Paris", question)

    outcome = PipelineRoute(strong).escalate(request("strong"))
    assert outcome.observation == make_observation("Paris", OBS.question)
    assert seen == [Attempt(number=2, route="strong")]


async def test_a_pipeline_route_awaits_an_async_pipeline() -> None:
    async def strong(question: str) -> Observation:
        return make_observation("Paris", question)

    outcome = await PipelineRoute(strong).aescalate(request("strong"))
    assert outcome.observation is not None
    assert outcome.observation.answer == "Paris"


def test_a_pipeline_route_returning_no_observation_fails_naming_the_type() -> None:
    with pytest.raises(EscalationError, match="pipeline returned dict"):
        PipelineRoute(lambda q: {"answer": "Paris"}).escalate(  # type: ignore[arg-type]
            request("strong")
        )


def test_the_review_queue_route_enqueues_the_case() -> None:
    store = InMemoryStore()
    outcome = ReviewQueueRoute(store).escalate(request("review"))
    [item] = store.pending_reviews()
    assert outcome == RouteOutcome(review_id=item.id)
    assert (item.request_id, item.question, item.answer) == ("r1", OBS.question, "Lyon")
    assert (item.confidence, item.reason) == (0.25, "confidence 0.25 < retry 0.40")


def test_the_review_queue_route_hands_on_the_case_and_no_metadata() -> None:
    class Recording(InMemoryStore):
        def __init__(self) -> None:
            super().__init__()
            self.requests: list[ReviewRequest] = []

        def enqueue_review(self, request: ReviewRequest) -> str:
            self.requests.append(request)
            return super().enqueue_review(request)

    store = Recording()
    ReviewQueueRoute(store).escalate(request("review"))
    assert store.requests == [
        ReviewRequest(
            request_id="r1",
            question=OBS.question,
            answer="Lyon",
            confidence=0.25,
            reason="confidence 0.25 < retry 0.40",
        )
    ]


def test_a_failing_store_is_an_escalation_error_naming_the_route() -> None:
    class Down(InMemoryStore):
        def enqueue_review(self, request: ReviewRequest) -> str:
            raise OSError("disk full")

    with pytest.raises(EscalationError) as info:
        ReviewQueueRoute(Down()).escalate(request("review"))
    assert str(info.value) == "escalation route 'review' failed: OSError: disk full"


async def test_the_review_queue_route_enqueues_asynchronously() -> None:
    store = InMemoryStore()
    outcome = await ReviewQueueRoute(store).aescalate(request("review"))
    assert [i.id for i in store.pending_reviews()] == [outcome.review_id]


@respx.mock
def test_the_webhook_posts_the_case_and_reads_the_answer() -> None:
    route = respx.post(URL).mock(
        return_value=httpx.Response(200, json={"answer": "Paris", "ticket": 7})
    )
    hook = WebhookRoute(URL, headers={"Authorization": "Bearer t"})
    outcome = hook.escalate(request())
    assert outcome == RouteOutcome(
        answer="Paris", response={"answer": "Paris", "ticket": 7}
    )
    sent = route.calls.last.request
    assert json.loads(sent.content) == request().payload()
    assert sent.headers["Authorization"] == "Bearer t"


@respx.mock
def test_the_webhook_retries_a_server_error_then_succeeds() -> None:
    route = respx.post(URL).mock(
        side_effect=[httpx.Response(503), httpx.Response(200, json={})]
    )
    outcome = WebhookRoute(URL, backoff_seconds=0).escalate(request())
    assert route.call_count == 2
    assert outcome == RouteOutcome(response={})


@respx.mock
def test_an_unreachable_webhook_fails_after_its_retries_naming_route_and_url() -> None:
    route = respx.post(URL).mock(side_effect=httpx.ConnectError("refused"))
    with pytest.raises(EscalationError) as info:
        WebhookRoute(URL, retries=3, backoff_seconds=0).escalate(request())
    assert route.call_count == 3
    assert str(info.value) == (
        f"escalation route 'oncall' failed: POST {URL} failed after 3 attempt(s): "
        "ConnectError: refused"
    )


@respx.mock
def test_a_client_error_is_not_retried() -> None:
    route = respx.post(URL).mock(return_value=httpx.Response(404))
    with pytest.raises(EscalationError, match=r"failed after 1 attempt\(s\): HTTP 404"):
        WebhookRoute(URL, backoff_seconds=0).escalate(request())
    assert route.call_count == 1


@respx.mock
def test_the_webhook_takes_a_tenacity_retrying_for_its_stop() -> None:
    route = respx.post(URL).mock(return_value=httpx.Response(500))
    hook = WebhookRoute(URL, retries=Retrying(stop=stop_after_attempt(2)))
    with pytest.raises(EscalationError, match=r"after 2 attempt\(s\): HTTP 500"):
        hook.escalate(request())
    assert route.call_count == 2


@respx.mock
def test_a_plain_text_reply_carries_no_answer() -> None:
    respx.post(URL).mock(return_value=httpx.Response(202, text="queued"))
    assert WebhookRoute(URL).escalate(request()) == RouteOutcome()


@respx.mock
def test_a_reply_whose_answer_is_not_text_is_an_error() -> None:
    respx.post(URL).mock(return_value=httpx.Response(200, json={"answer": 42}))
    with pytest.raises(EscalationError, match="'answer' must be a string, got int"):
        WebhookRoute(URL).escalate(request())


@respx.mock
async def test_the_async_webhook_retries_and_reads_the_answer() -> None:
    route = respx.post(URL).mock(
        side_effect=[
            httpx.ConnectTimeout("slow"),
            httpx.Response(200, json={"answer": "Paris"}),
        ]
    )
    outcome = await WebhookRoute(URL, backoff_seconds=0).aescalate(request())
    assert outcome.answer == "Paris"
    assert route.call_count == 2


def test_a_webhook_with_a_bad_retries_value_is_refused_when_built() -> None:
    with pytest.raises(ConfigurationError, match="retries must be an int >= 1"):
        WebhookRoute(URL, retries=0)


@respx.mock
async def test_the_async_webhook_fails_like_the_sync_one() -> None:
    respx.post(URL).mock(side_effect=httpx.ConnectError("refused"))
    with pytest.raises(EscalationError, match=r"after 2 attempt\(s\): ConnectError"):
        await WebhookRoute(URL, retries=2, backoff_seconds=0).aescalate(request())


@respx.mock
def test_a_webhook_sends_the_escalation_id_as_its_idempotency_key() -> None:
    sent = respx.post(URL).mock(return_value=httpx.Response(200))
    WebhookRoute(URL).escalate(request().model_copy(update={"escalation_id": "e1"}))
    assert sent.calls.last.request.headers["Idempotency-Key"] == "e1"
    assert json.loads(sent.calls.last.request.read())["escalation_id"] == "e1"


@respx.mock
def test_a_case_without_an_escalation_id_sends_no_idempotency_key() -> None:
    sent = respx.post(URL).mock(return_value=httpx.Response(200))
    WebhookRoute(URL).escalate(request())
    assert "Idempotency-Key" not in sent.calls.last.request.headers


@respx.mock
def test_the_deadline_bounds_every_try_and_wait_of_one_delivery() -> None:
    respx.post(URL).mock(return_value=httpx.Response(503))
    route = WebhookRoute(URL, retries=50, backoff_seconds=100, deadline=0.3)
    start = time.monotonic()
    with pytest.raises(EscalationError, match=r"deadline of 0\.3 s passed"):
        route.escalate(request())
    assert time.monotonic() - start < 1.0


@respx.mock
async def test_the_deadline_bounds_an_async_delivery_too() -> None:
    respx.post(URL).mock(return_value=httpx.Response(503))
    route = WebhookRoute(URL, retries=50, backoff_seconds=100, deadline=0.3)
    start = time.monotonic()
    with pytest.raises(EscalationError, match=r"deadline of 0\.3 s passed"):
        await route.aescalate(request())
    assert time.monotonic() - start < 1.0


@pytest.mark.parametrize("deadline", [0, -1.0])
def test_a_deadline_must_be_positive(deadline: float) -> None:
    with pytest.raises(ConfigurationError, match="deadline must be > 0"):
        WebhookRoute(URL, deadline=deadline)
