"""The closed loop end to end: labelled dev answers -> guard -> review queue ->
reviewers' verdicts through the JSON API -> refit -> new policy version.

    python scripts/review_loop.py ANSWERS.jsonl [--limit 200] [--store URL]
        [--target-risk 0.1] [--delta 0.05] [--accept 0.7]

ANSWERS.jsonl has one labelled answer a line, as `confguard eval` writes them
(samples.jsonl; an eval folder works too): ``question``, ``answer``,
``signals`` (name -> confidence, null when the signal gave none), ``correct``
and optionally ``gold`` (answers; an edit uses the first). Each answer is checked
by a real Guard whose signals replay the recorded confidences, so those below
``--accept`` are escalated into the review queue; a reviewer then resolves every
queued case through the console's API (the gold label decides: approve, or edit
with the gold answer / reject), an admin refits from the store and applies the
proposal as a new policy version. It prints the certified threshold, its bound
and the coverage before (the configured policy's combination certified on the
same verdicts) and after (the refit), and last a JSON line of both.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

import httpx

from confguard import Guard, Observation, Policy
from confguard.defaults import demo_policy
from confguard.results import SignalResult
from confguard.routes import ReviewQueueRoute
from confguard.serve import Console, ConsoleSettings, create_app
from confguard.serve.background import running
from confguard.serve.security import hash_password, new_token
from confguard.signals.base import FunctionSignal
from confguard.store import SQLStore


def answers(path: Path, limit: int) -> list[dict[str, Any]]:
    """The first `limit` labelled answers of a JSONL file (or an eval folder's)."""
    path = path / "samples.jsonl" if path.is_dir() else path
    rows = []
    with path.open(encoding="utf-8") as lines:
        for line in lines:
            if line.strip():
                rows.append(json.loads(line))
            if len(rows) == limit:
                break
    return rows


def recorded(name: str) -> FunctionSignal:
    """A signal that replays the confidence recorded for it on the observation."""

    def replay(obs: Observation) -> SignalResult:
        value = obs.metadata["signals"].get(name)
        if value is None:
            return SignalResult.skipped(name, "no confidence in the dev answers")
        return SignalResult(name=name, confidence=float(value))

    return FunctionSignal(replay, name=name)


def loop_policy(accept: float) -> Policy:
    """The demo policy's parts, escalating everything below `accept` to review."""
    data = demo_policy().to_dict()
    data["thresholds"] = {"accept": accept, "escalate": 0.0}
    data["on_missing_evidence"] = "ignore"
    return Policy.from_dict(data)


def record(store: SQLStore, rows: list[dict[str, Any]], policy: Policy) -> int:
    """Check every answer with a guard on `store`; how many were escalated."""
    names = sorted({name for row in rows for name in row["signals"]})
    signals = [recorded(name) for name in names]
    routes = {"review": ReviewQueueRoute(store)}
    guard = Guard(signals, policy, store=store, routes=routes)
    escalated = 0
    for row in rows:
        obs = Observation(
            question=row["question"],
            answer=row["answer"],
            metadata={"signals": row["signals"]},
        )
        escalated += guard.check(obs).decision.action == "escalate"
    return escalated


def review_all(
    base: str, token: str, gold: dict[tuple[str, str], dict[str, Any]]
) -> int:
    """Resolve every queued case through the API as a reviewer; how many."""
    headers = {"Authorization": f"Bearer {token}"}
    done = 0
    with httpx.Client(base_url=base, headers=headers, timeout=30) as api:
        while True:
            claimed = api.post("/api/reviews/next").raise_for_status().json()
            case = claimed["review"]
            if case is None:
                return done
            row = gold[(case["question"], case["answer"])]
            verdict: dict[str, Any] = {"verdict": "approved"}
            if not row["correct"]:
                right = (row.get("gold") or [None])[0]
                verdict = (
                    {"verdict": "edited", "edited_answer": right}
                    if right
                    else {"verdict": "rejected"}
                )
            api.post(
                f"/api/reviews/{case['id']}/resolve", json=verdict
            ).raise_for_status()
            done += 1


def figures(found: dict[str, Any] | None) -> dict[str, Any] | None:
    """Threshold, bound, coverage and labels of a proposal (None if refused)."""
    if not found or "figures" not in found:
        return None
    f = found["figures"]
    keep = ("threshold", "upper_bound", "coverage", "target_risk", "delta", "labels")
    return {k: f[k] for k in keep}


def refit_and_apply(base: str, token: str, risk: float, delta: float) -> dict[str, Any]:
    """Propose from the verdicts, apply the proposal; before/after figures."""
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=base, headers=headers, timeout=120) as api:
        proposed = api.post(
            "/api/policy/proposals", json={"target_risk": risk, "delta": delta}
        )
        body = proposed.json()
        if proposed.status_code == 422:
            print(f"refused: {body['error']}")
            return {"refused": body["refusal"], "before": None, "after": None}
        proposed.raise_for_status()
        applied = (
            api.post(
                "/api/policy/versions",
                json={"token": body["token"], "note": "scripts/review_loop.py"},
            )
            .raise_for_status()
            .json()
        )
        current = api.get("/api/policy/current").raise_for_status().json()
    if "message" in (body["baseline"] or {}):
        why = body["baseline"]["message"]
        print(f"before: the configured policy does not certify: {why}")
    return {
        "before": figures(body["baseline"]),
        "after": figures(body["proposal"]),
        "version": applied["version"],
        "in_force": current["figures"],
    }


def show(label: str, f: dict[str, Any] | None) -> None:
    if f is None:
        print(f"{label}: not certified")
        return
    print(
        f"{label}: threshold {f['threshold']:.3f}, certified bound "
        f"{f['upper_bound']:.3f} (target {f['target_risk']:g}, delta {f['delta']:g}), "
        f"coverage {f['coverage']:.1%}, {f['labels']} labels"
    )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("answers", type=Path)
    p.add_argument("--limit", type=int, default=200)
    p.add_argument("--store", help="audit store URL (default: a new SQLite file)")
    p.add_argument("--target-risk", type=float, default=0.1)
    p.add_argument("--delta", type=float, default=0.05)
    p.add_argument("--accept", type=float, default=1.0, help="escalate below this")
    args = p.parse_args(argv)
    rows = answers(args.answers, args.limit)
    url = args.store or f"sqlite:///{tempfile.mkdtemp()}/review-loop.sqlite"
    console = Console(SQLStore(url, store_answers=True), ConsoleSettings(store_url=url))
    escalated = record(console.store, rows, loop_policy(args.accept))
    print(f"{len(rows)} answers checked, {escalated} escalated to review ({url})")
    reviewer, admin = new_token(), new_token()
    for name, role, token in (("rev", "reviewer", reviewer), ("adm", "admin", admin)):
        console.accounts.add(name, hash_password(new_token()), role)  # type: ignore[arg-type]
        console.accounts.add_token(name, token, "review_loop")
    gold = {(r["question"], r["answer"]): r for r in rows}
    with running(create_app(console)) as base:
        reviewed = review_all(base, reviewer, gold)
        print(f"{reviewed} cases resolved through the API")
        result = refit_and_apply(base, admin, args.target_risk, args.delta)
    console.store.close()
    show("before (configured policy, same verdicts)", result["before"])
    show("after (refit, applied)", result["after"])
    if "version" in result:
        print(f"applied as policy version {result['version']}")
    print(json.dumps({"answers": len(rows), "reviewed": reviewed, **result}))
    return 0 if result.get("after") else 1


if __name__ == "__main__":
    sys.exit(main())
