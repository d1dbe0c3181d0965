"""The claim and streaming benchmarks, and the script that builds the claim data,
run end to end in their --fake modes on a tiny generated SQuAD file."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HEADLINE = {
    "n_claims",
    "claim_auroc",
    "baseline_auroc",
    "kept_precision",
    "kept_recall",
}
STREAMING = {
    "first_sentence_ungated_s",
    "first_sentence_gated_s",
    "ratio",
    "failed_sentences_released",
}


def tiny_squad(path: Path) -> Path:
    """A SQuAD-format file: four paragraphs of three questions each."""
    paragraphs = []
    for p in range(4):
        names = [f"Alpha{p}", f"Beta{p}", f"Gamma{p}"]
        context = " ".join(
            f"{n} was founded in {1900 + 10 * i + p}." for i, n in enumerate(names)
        )
        qas = [
            {
                "id": f"q{p}{i}",
                "question": f"When was {n} founded?",
                "answers": [{"text": str(1900 + 10 * i + p), "answer_start": 0}],
            }
            for i, n in enumerate(names)
        ]
        paragraphs.append({"context": context, "qas": qas})
    data = {"data": [{"title": "Tiny", "paragraphs": paragraphs}]}
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def run(*args: str) -> list[str]:
    done = subprocess.run(
        [sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout.strip().splitlines()


def test_the_build_script_is_seeded_and_labels_by_construction(tmp_path: Path) -> None:
    squad = tiny_squad(tmp_path / "squad.json")
    first, again = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    summary = json.loads(
        run(
            "scripts/build_claims.py", str(squad), "--out", str(first), "--records", "4"
        )[-1]
    )
    run("scripts/build_claims.py", str(squad), "--out", str(again), "--records", "4")
    assert first.read_text() == again.read_text()
    assert summary["records"] == 4 and summary["claims"] == 12
    assert summary["right"] + summary["wrong"] == 12 and summary["wrong"] > 0
    for line in first.read_text().splitlines():
        item = json.loads(line)
        for claim in item["claims"]:
            assert item["answer"][claim["start"] : claim["end"]] == claim["text"]
            year = claim["text"].rstrip(".")
            assert year in item["context"]  # right or wrong, it is in the passage
            subject = claim["question"].split()[2]
            right = f"{subject} was founded in {year}." in item["context"]
            assert right == bool(claim["label"])


def test_the_claim_benchmark_prints_its_headline_keys(tmp_path: Path) -> None:
    squad = tiny_squad(tmp_path / "squad.json")
    data = tmp_path / "claims.jsonl"
    run("scripts/build_claims.py", str(squad), "--out", str(data), "--records", "4")
    lines = run("benchmarks/claims.py", "--data", str(data), "--fake")
    headline = json.loads(lines[-1])
    assert set(headline) == HEADLINE
    assert headline["n_claims"] == 12
    assert any("AUROC claim_context_lift" in line for line in lines)


def test_the_streaming_benchmark_releases_no_failing_sentence(tmp_path: Path) -> None:
    lines = run(
        "benchmarks/streaming.py", "--fake", "--questions", "4", "--delay", "0.002"
    )
    headline = json.loads(lines[-1])
    assert set(headline) == STREAMING
    assert headline["failed_sentences_released"] == 0
    assert headline["first_sentence_gated_s"] > 0 and headline["ratio"] > 0


def _streaming_module() -> object:
    from tests.scripts import load_script

    return load_script(ROOT / "benchmarks" / "streaming.py", "bench_streaming")


def test_the_local_stream_stops_before_a_stop_string_and_never_shows_it() -> None:
    from confguard.observation import TokenLogprob

    bench = _streaming_module()
    cases = {
        ("A", " b.", "\n", "Question", ":", " x"): ["A", " b."],
        ("A.", "\n\n", "More"): ["A."],
        ("A", " b.\n\nQ"): ["A", " b."],
        ("Hi", "\n", "there"): ["Hi", "\n", "there"],  # "\n" alone is no stop
    }
    for pieces, expected in cases.items():
        tokens = iter([TokenLogprob(token=p, logprob=-0.1) for p in pieces])
        kept = bench.before_stops(tokens, bench.STOPS)  # type: ignore[attr-defined]
        assert [t.token for t in kept] == expected
