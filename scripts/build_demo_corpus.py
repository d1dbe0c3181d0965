"""Rebuild confguard/data/demo_corpus.json from the SQuAD v1.1 dev set.

Usage: python scripts/build_demo_corpus.py ../shared/data/squad_dev_v1.1.json
Takes the first PER_ARTICLE paragraphs of every article, with their questions.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

PER_ARTICLE = 6
OUT = Path(__file__).resolve().parents[1] / "confguard" / "data" / "demo_corpus.json"


def build(source: Path) -> dict[str, object]:
    squad = json.loads(source.read_text(encoding="utf-8"))
    paragraphs = []
    for article in squad["data"]:
        for i, para in enumerate(article["paragraphs"][:PER_ARTICLE]):
            qas = [
                {
                    "id": qa["id"],
                    "question": qa["question"],
                    "answers": sorted({a["text"] for a in qa["answers"]}),
                }
                for qa in para["qas"]
            ]
            paragraphs.append(
                {
                    "id": f"{article['title']}#{i}",
                    "title": article["title"].replace("_", " "),
                    "context": para["context"],
                    "qas": qas,
                }
            )
    return {
        "name": "confguard demo corpus (SQuAD v1.1 dev subset)",
        "attribution": "Rajpurkar et al. 2016, SQuAD v1.1 dev set, via BIG-bench 1.0.0",
        "license": "CC BY-SA 4.0",
        "canary": squad.get("canary", ""),
        "paragraphs": paragraphs,
    }


if __name__ == "__main__":
    corpus = build(Path(sys.argv[1]))
    OUT.write_text(
        json.dumps(corpus, ensure_ascii=False, indent=None), encoding="utf-8"
    )
    print(f"wrote {len(corpus['paragraphs'])} paragraphs to {OUT}")  # type: ignore[arg-type]
