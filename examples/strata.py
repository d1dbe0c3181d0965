"""Per-stratum thresholds: one accept threshold for each kind of request.

A guard that answers both from retrieved passages and from passages a caller
supplies sees two kinds of request, and one accept threshold must hold its risk on
the harder kind. A policy's `strata` give the requests a condition picks out
(here: the `retrieval` signal is ok, i.e. the passages carry retrieval scores) their
own thresholds, and their own `risk_control` once certified; the others keep the
policy's. Run it:

    python examples/strata.py

It builds the same policy from YAML and in Python, then prints, for retrieved and
supplied passages at the same confidence, the decision and its reason.
"""

from __future__ import annotations

from confguard import Guard, Policy
from confguard.observation import Context, Observation
from confguard.policy import Stratum, Thresholds, signal
from confguard.signals import RetrievalSupport
from confguard.signals.base import FunctionSignal

# Certified by scripts/fit_presets.py in practice (a `risk_control:` per stratum);
# set by hand here to show the shape.
from_yaml = Policy.from_yaml(
    """
thresholds: {accept: 0.8, annotate: 0.5}     # supplied passages: the harder kind
on_missing_evidence: ignore    # a supplied passage has no retrieval score to report
combiner: weighted
weights: {retrieval: 0.0}      # here retrieval only picks the stratum
strata:
  - name: retrieved
    when: {signal: retrieval, status: ok}
    thresholds: {accept: 0.55, annotate: 0.4}
"""
)
in_code = Policy(
    thresholds=Thresholds(accept=0.8, annotate=0.5),
    on_missing_evidence="ignore",
    combiner="weighted",
    weights={"retrieval": 0.0},
    strata=(
        Stratum(
            when=signal("retrieval").ok,
            thresholds=Thresholds(accept=0.55, annotate=0.4),
            name="retrieved",
        ),
    ),
)
print(f"the YAML and the Python policy are equal: {from_yaml == in_code}")


def judge(obs: Observation) -> float:
    """A stand-in for a judge (a real one asks a model): a planted confidence."""
    return float(obs.metadata["judge"])


guard = Guard([RetrievalSupport(), FunctionSignal(judge, name="judge")], in_code)
passage = "Super Bowl 50 was won by the Denver Broncos at Levi's Stadium."
for judged in (0.6, 0.45):
    for label, score in (("retrieved", 0.7), ("supplied", None)):
        request = Observation(
            question="Who won Super Bowl 50?",
            answer="the Denver Broncos",
            contexts=(Context(text=passage, score=score),),
            metadata={"judge": judged},
        )
        decision = guard.check(request).decision
        print(f"{label:9} judge {judged:.2f}  {decision.action:9} {decision.reason}")
