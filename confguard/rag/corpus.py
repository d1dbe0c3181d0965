"""Passages to retrieve from, and the bundled demo corpus."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from importlib import resources

from pydantic import BaseModel, ConfigDict


class Passage(BaseModel):
    """One retrievable passage."""

    model_config = ConfigDict(frozen=True)

    id: str
    text: str
    title: str | None = None


class DemoQuestion(BaseModel):
    """A question of the demo corpus with its gold answers."""

    model_config = ConfigDict(frozen=True)

    id: str
    question: str
    answers: tuple[str, ...]
    passage_id: str


def corpus_hash(passages: Sequence[Passage]) -> str:
    """A digest of ids and texts: an index built over other passages is stale."""
    h = hashlib.sha256()
    for p in passages:
        h.update(p.id.encode())
        h.update(b"\0")
        h.update(p.text.encode())
        h.update(b"\1")
    return h.hexdigest()


def _demo_json() -> dict[str, object]:
    raw = (
        resources.files("confguard.data")
        .joinpath("demo_corpus.json")
        .read_text("utf-8")
    )
    data: dict[str, object] = json.loads(raw)
    return data


def demo_corpus() -> tuple[Passage, ...]:
    """The bundled SQuAD v1.1 dev subset (CC BY-SA 4.0, see DEMO_CORPUS_LICENSE.md)."""
    paragraphs = _demo_json()["paragraphs"]
    assert isinstance(paragraphs, list)
    return tuple(
        Passage(id=p["id"], text=p["context"], title=p["title"]) for p in paragraphs
    )


def demo_questions() -> tuple[DemoQuestion, ...]:
    """Every question of the demo corpus with its gold answers."""
    paragraphs = _demo_json()["paragraphs"]
    assert isinstance(paragraphs, list)
    return tuple(
        DemoQuestion(
            id=qa["id"],
            question=qa["question"],
            answers=tuple(qa["answers"]),
            passage_id=p["id"],
        )
        for p in paragraphs
        for qa in p["qas"]
    )
