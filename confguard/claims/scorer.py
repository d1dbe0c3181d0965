"""Split an observation's answer into claims and run the claim signals on each."""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

from confguard.claims.base import ClaimSignal
from confguard.claims.signals import ClaimLexicalSupport, ClaimTokenConfidence
from confguard.claims.split import Essential, SentenceSplitter, Splitter, split_claims
from confguard.exceptions import ConfigurationError
from confguard.observation import Observation
from confguard.results import Claim, SignalResult


class ScoredClaim(NamedTuple):
    """One claim and its claim signals' results (the policy combines them)."""

    claim: Claim
    results: tuple[SignalResult, ...]


class ClaimScorer:
    """The claim signals, the splitter, and which claims are essential.

    Without signals it uses the two that need nothing but the observation: the
    claim's token confidence and its lexical support in the contexts.

    Example:
        >>> scorer = ClaimScorer([ClaimTokenConfidence(), ClaimContextSupport(emb)])
        >>> [(c.claim.text, [r.confidence for r in c.results])
        ...  for c in scorer.score(obs)]
    """

    def __init__(
        self,
        signals: Sequence[ClaimSignal] | None = None,
        *,
        splitter: Splitter | None = None,
        essential: Essential | None = None,
    ) -> None:
        self.signals = tuple(signals or (ClaimTokenConfidence(), ClaimLexicalSupport()))
        names = [s.name for s in self.signals]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ConfigurationError(
                f"claim signal names must be unique; repeated: {repeated}"
            )
        self.splitter = splitter or SentenceSplitter()
        self.essential = essential

    def claims(self, obs: Observation) -> tuple[Claim, ...]:
        """The claims of `obs.answer`, with their character and token spans."""
        return split_claims(obs.answer, obs.logprobs, self.splitter, self.essential)

    def score(self, obs: Observation) -> tuple[ScoredClaim, ...]:
        """Every claim of the answer, scored by every claim signal."""
        return tuple(self.score_claim(claim, obs) for claim in self.claims(obs))

    def prepare(self, obs: Observation) -> None:
        """Work the signals can do before any claim is known (e.g. embedding the
        contexts); a signal without a `prepare` method has none."""
        for signal in self.signals:
            prepare = getattr(signal, "prepare", None)
            if callable(prepare):
                prepare(obs)

    def score_claim(self, claim: Claim, obs: Observation) -> ScoredClaim:
        """One claim scored by every claim signal, in order."""
        return ScoredClaim(
            claim, tuple(s.score_claim(claim, obs) for s in self.signals)
        )


__all__ = ["ClaimScorer", "ScoredClaim"]
