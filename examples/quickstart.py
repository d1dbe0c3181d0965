"""confguard in one screen: a toy pipeline, two signals, a policy, an audit log.

Runs offline in a blink: the "model" is a dictionary and the signals are plain
functions. Swap in your own chain and confguard's real signals when you copy it.

    python examples/quickstart.py
"""

from __future__ import annotations

from confguard import (
    Attempt,
    FunctionSignal,
    Guard,
    GuardResult,
    Observation,
    Policy,
    ReviewQueueRoute,
)
from confguard.store import InMemoryStore

POLICY = Policy.from_yaml(
    """
    thresholds: {accept: 0.8, annotate: 0.6, retry: 0.4, escalate: 0.2}
    retry:
      max_attempts: 3
      strategies: [{name: more_context, params: {top_k: 8}}]
    on_retries_exhausted: escalate
    escalate: {route: review, pending_message: "A person will get back to you."}
    abstain: {message: "Sorry, I can't answer that reliably."}
    """
)

# What the toy "model" knows, and how sure it sounds, with 3 or 8 passages retrieved.
KNOWLEDGE = {
    "What is the capital of France?": {3: ("Paris", 0.95)},
    "Who wrote Hamlet?": {3: ("Probably Shakespeare", 0.70)},
    "When was the Eiffel Tower finished?": {3: ("maybe 1887?", 0.45), 8: ("1889", 0.9)},
    "How tall is Mont Blanc?": {3: ("about 4,800 m", 0.5)},
    "What is the airspeed of a swallow?": {3: ("no idea", 0.05)},
}


def pipeline(question: str, attempt: Attempt) -> Observation:
    """A stand-in RAG chain; a retry strategy reaches it as data."""
    more = attempt.strategy.top_k if attempt.strategy else None
    top_k = more or 3
    answers = KNOWLEDGE[question]
    answer, certainty = answers.get(top_k, answers[3])
    return Observation(question=question, answer=answer, metadata={"p": certainty})


def model_certainty(obs: Observation) -> float:
    """Stands in for a token-logprob signal."""
    return float(obs.metadata["p"])


def no_hedging(obs: Observation) -> float:
    """A crude hedging detector: hedged answers score 0.5, admitted ignorance 0."""
    text = obs.answer.lower()
    if "no idea" in text:
        return 0.0
    return 0.5 if any(h in text for h in ("maybe", "probably", "about")) else 1.0


def show(result: GuardResult) -> None:
    """One line per question, and the trail of decisions."""
    confidence = "-" if result.confidence is None else f"{result.confidence:.2f}"
    print(f"Q: {result.question}")
    print(f"   {result.decision.action:<9} conf {confidence}  A: {result.answer}")
    for record in result.attempts:
        print(f"   attempt {record.attempt.number}: {record.decision.reason}")


def main() -> int:
    """Guard every question, then show what the audit log and review queue hold."""
    store = InMemoryStore(store_answers=True)
    guard = Guard(
        signals=[FunctionSignal(model_certainty), FunctionSignal(no_hedging)],
        policy=POLICY,
        store=store,
        routes={"review": ReviewQueueRoute(store)},
    )
    for question in KNOWLEDGE:
        show(guard.run(pipeline, question))
    print(f"\naudit rows: {len(store.decisions())}")
    for item in store.pending_reviews():
        print(f"pending review: {item.question!r} (confidence {item.confidence:.2f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
