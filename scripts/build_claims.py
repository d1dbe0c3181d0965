"""Build the claim-level benchmark from the SQuAD v1.1 dev set, seeded.

Usage:
    python scripts/build_claims.py ../shared/data/squad_dev_v1.1.json \\
        --out .confguard/claims.jsonl --records 120 --seed 0

Each record is one paragraph and a long answer to up to three of its questions:
"Question 1? span 1. Question 2? span 2. ...". Each span is a claim, labelled by
construction: the question's own gold answer (right, label 1) or, with
probability one half, the gold answer of another question *on the same
paragraph* (wrong, label 0), so a wrong claim is copied from the context word for
word and string matching against the context cannot tell it apart. A wrong span
shares no token with any gold answer of its question (SQuAD token F1 = 0) and is
not contained in one. Claims carry their character spans in the answer.

The last line printed is one JSON object: records, claims, right, wrong.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from confguard.text import normalize_answer, token_f1

PER_RECORD = 3
"""Questions (claims) per long answer, at most."""


def paragraphs(squad: dict[str, Any]) -> list[dict[str, Any]]:
    """Every paragraph with at least two questions, in file order."""
    found = []
    for article in squad["data"]:
        for i, para in enumerate(article["paragraphs"]):
            if len(para["qas"]) >= 2:
                found.append({"id": f"{article['title']}#{i}", **para})
    return found


def _golds(qa: dict[str, Any]) -> list[str]:
    return sorted({a["text"].strip() for a in qa["answers"] if a["text"].strip()})


def wrong_span(
    qa: dict[str, Any], others: Sequence[dict[str, Any]], rng: random.Random
) -> str | None:
    """A gold answer of another question on the paragraph that cannot be right."""
    golds = _golds(qa)
    candidates = [
        span
        for other in others
        for span in _golds(other)
        if token_f1(span, golds) == 0.0
        and not any(normalize_answer(span) in normalize_answer(g) for g in golds)
    ]
    return rng.choice(sorted(set(candidates))) if candidates else None


def record(para: dict[str, Any], rng: random.Random) -> dict[str, Any] | None:
    """One long answer over up to PER_RECORD questions of the paragraph."""
    chosen = rng.sample(para["qas"], min(PER_RECORD, len(para["qas"])))
    parts, claims, cursor = [], [], 0
    for qa in chosen:
        others = [q for q in para["qas"] if q["id"] != qa["id"]]
        wrong = wrong_span(qa, others, rng) if rng.random() < 0.5 else None
        span = wrong or _golds(qa)[0]
        question = " ".join(qa["question"].split())
        head = f"{question} "
        start = cursor + len(head)
        text = f"{span}."
        claims.append(
            {
                "start": start,
                "end": start + len(text),
                "text": text,
                "label": int(wrong is None),
                "question": question,
                "qa_id": qa["id"],
            }
        )
        parts.append(head + text)
        cursor = start + len(text) + 1  # the joining space
    answer = " ".join(parts)
    assert all(answer[c["start"] : c["end"]] == c["text"] for c in claims)
    questions = " ".join(c["question"] for c in claims)
    return {
        "id": para["id"],
        "context": para["context"],
        "question": questions,
        "answer": answer,
        "claims": claims,
    }


def build(squad: dict[str, Any], records: int, seed: int) -> Iterator[dict[str, Any]]:
    """`records` records from paragraphs drawn in a seeded order."""
    rng = random.Random(seed)
    pool = paragraphs(squad)
    rng.shuffle(pool)
    made = 0
    for para in pool:
        if made >= records:
            return
        found = record(para, rng)
        if found is not None:
            made += 1
            yield found


def main(argv: Sequence[str] | None = None) -> dict[str, int]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("squad", type=Path)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--records", type=int, default=120)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    squad = json.loads(args.squad.read_text(encoding="utf-8"))
    built = list(build(squad, args.records, args.seed))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with args.out.open("w", encoding="utf-8") as out:
        for item in built:
            out.write(json.dumps(item, ensure_ascii=False) + "\n")
    labels = [c["label"] for item in built for c in item["claims"]]
    summary = {
        "records": len(built),
        "claims": len(labels),
        "right": sum(labels),
        "wrong": len(labels) - sum(labels),
    }
    print(json.dumps(summary))
    return summary


if __name__ == "__main__":
    main(sys.argv[1:])
