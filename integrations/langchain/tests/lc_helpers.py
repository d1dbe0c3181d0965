"""Helpers shared by the langchain-confguard tests (named to not clash with tests/)."""

from __future__ import annotations

from typing import Any

from langchain_confguard.testing import FakeResponse, FakeRetriever
from langchain_core.documents import Document
from langchain_core.messages import AIMessage
from langchain_core.runnables import Runnable, RunnableLambda, RunnablePassthrough

from confguard import Policy

PARIS_DOC = Document(
    "Paris is the capital of France.", id="d1", metadata={"score": 0.8}
)

# Bands used across the tests: accept >= 0.8, annotate >= 0.7, retry >= 0.5,
# escalate >= 0.3, abstain below. AverageLogprob's confidence is the token
# probability the fake model is given, so each reply lands in a known band.
BANDS = {"accept": 0.8, "annotate": 0.7, "retry": 0.5, "escalate": 0.3}


def make_policy(**overrides: Any) -> Policy:
    """The test bands, with sections overridden."""
    data: dict[str, Any] = {
        "thresholds": dict(BANDS),
        "retry": {
            "max_attempts": 2,
            "strategies": [{"name": "more_context", "params": {"top_k": 5}}],
        },
        "escalate": {"route": "human"},
        "abstain": {"message": "I can't answer that."},
        "annotate": {"caveat": "(unsure: {confidence:.0%})"},
        "on_retries_exhausted": "abstain",
    }
    data.update(overrides)
    return Policy.from_dict(data)


def answer(text: str, prob: float) -> FakeResponse:
    """A scripted reply whose every token has probability `prob`."""
    return FakeResponse(text=text, prob=prob)


def rag_chain(
    model: Runnable[Any, Any], retriever: Runnable[Any, Any] | None = None
) -> Runnable[Any, AIMessage]:
    """A small LCEL RAG chain: retrieve, format a prompt, ask the model."""
    retriever = retriever or FakeRetriever(documents=[PARIS_DOC])

    def prompt(inputs: dict[str, Any]) -> str:
        context = " ".join(d.page_content for d in inputs["context"])
        return f"Context: {context}\nQuestion: {inputs['question']}\nAnswer:"

    retrieve = {"context": retriever, "question": RunnablePassthrough()}
    return retrieve | RunnableLambda(prompt) | model
