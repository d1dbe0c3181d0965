"""Calibrating a policy with strata: a certified threshold for each kind of request.

A guard answers from retrieved passages (they carry retrieval scores) and from
passages a caller supplies (they do not). The two kinds err at different rates, so
one threshold certified on their mix would hold its risk on the mix only.
`calibrate_policy` (what `confguard calibrate` and the console's refit run) certifies
the `retrieved` stratum on the labelled retrieved requests and the policy's own
thresholds on the rest, delta split between them. Run it:

    python examples/calibrate_strata.py

It prints each group's certificate, then the realised error among accepted answers
of each kind on 4,000 fresh labelled answers: under the calibrated policy, under
one threshold calibrated for both kinds at once, and with the `retrieved` stratum
given a stricter target of its own (`stratum_risk`, `--stratum-risk` in the CLI).
"""

from __future__ import annotations

import numpy as np

from confguard import Guard, Policy
from confguard.evaluation.calibrate import calibrate_policy
from confguard.observation import Context, Observation
from confguard.scoring.calibration import LabelledSample
from confguard.signals import RetrievalSupport
from confguard.signals.base import FunctionSignal

TARGET, DELTA = 0.25, 0.1
STRICT = 0.15  # the retrieved stratum's own target, in the last run

base = Policy.from_yaml(
    """
thresholds: {accept: 0.8, annotate: 0.3}      # supplied passages
on_missing_evidence: ignore    # a supplied passage has no retrieval score to report
strata:
  - name: retrieved
    when: {signal: retrieval, status: ok}
    thresholds: {accept: 0.6, annotate: 0.3}
"""
)


def labelled(n: int, seed: int) -> list[tuple[Observation, bool]]:
    """Answers a reviewer has judged: retrieved ones right 70% of the time and
    well told apart by the judge; supplied ones 55%, told apart less well."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        kind = rng.uniform() < 0.5
        right = bool(rng.uniform() < (0.7 if kind else 0.55))
        mean = (0.75 if right else 0.35) if kind else (0.62 if right else 0.42)
        obs = Observation(
            question=f"q{i}",
            answer="an answer",
            contexts=(Context(text="a passage", score=0.8 if kind else None),),
            metadata={"judge": float(np.clip(rng.normal(mean, 0.12), 0, 1))},
        )
        out.append((obs, right))
    return out


def judge(obs: Observation) -> float:
    """A stand-in for a judge (a real one asks a model): a planted confidence."""
    return float(obs.metadata["judge"])


signals = [RetrievalSupport(), FunctionSignal(judge, name="judge")]
guard = Guard(signals, base)
samples = []
for obs, right in labelled(3000, seed=0):
    results = guard.check(obs).assessment.signals
    samples.append(
        LabelledSample(
            signals={r.name: r.confidence for r in results},
            correct=right,
            recorded=results,
        )
    )


def realised(policy: Policy) -> str:
    """Each kind's error among accepted answers on fresh labelled answers."""
    gated = Guard(signals, policy)
    accepted = {"retrieved": 0, "supplied": 0}
    wrong = dict(accepted)
    for obs, right in labelled(4000, seed=1):
        kind = "supplied" if obs.contexts[0].score is None else "retrieved"
        if gated.check(obs).decision.action == "accept":
            accepted[kind] += 1
            wrong[kind] += not right
    return ", ".join(
        f"{kind} {wrong[kind] / max(n, 1):.3f} of {n}" for kind, n in accepted.items()
    )


done = calibrate_policy(samples, base, target_risk=TARGET, delta=DELTA)
for line in done.strata_lines():
    print(line)
print(f"error among accepted on fresh answers (target {TARGET}):", end=" ")
print(realised(done.policy))

# The same labels with the strata removed: one threshold for the mix of both kinds.
pooled = Policy.from_dict({**base.to_dict(), "strata": []})
one = calibrate_policy(samples, pooled, target_risk=TARGET, delta=DELTA).policy
print(f"one threshold for both kinds instead: {realised(one)}")

# Retrieved answers can reach a lower error: ask that of them alone.
own = calibrate_policy(
    samples, base, target_risk=TARGET, delta=DELTA, stratum_risk={"retrieved": STRICT}
)
print(own.strata_lines()[0])
print(f"retrieved at {STRICT}, the rest at {TARGET}: {realised(own.policy)}")
