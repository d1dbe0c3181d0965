"""What a policy would have done with labelled answers: accepted, and how many wrong.

`replay` runs the pure decision core (`assess`, then `decide`) over labelled samples,
as a guard with that policy would have on the same signal results, and counts each
group's accepted answers and errors among them. Run on labels the policy was not
calibrated on, it measures whether a certificate held.

Example:
    >>> for got in replay(done.policy, held_out):
    ...     print(got.group, got.accepted, got.risk)
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict

from confguard.evaluation.groups import Groups, grouped
from confguard.policy import Policy
from confguard.policy.decide import decide
from confguard.results import Accept
from confguard.scoring.aggregate import assess
from confguard.scoring.calibration import LabelledSample


class Replayed(BaseModel):
    """One group's answers under the policy: how many, accepted, wrong among those."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    group: str
    answers: int
    accepted: int
    errors: int

    @property
    def risk(self) -> float | None:
        """The error among accepted answers (None: none accepted)."""
        return self.errors / self.accepted if self.accepted else None

    @property
    def coverage(self) -> float | None:
        """The share of the group's answers accepted (None: the group is empty)."""
        return self.accepted / self.answers if self.answers else None


def replay(
    policy: Policy, samples: Sequence[LabelledSample], groups: Groups | None = None
) -> tuple[Replayed, ...]:
    """Each group's accepted answers and errors under `policy`; the groups are the
    policy's own strata and the rest unless given (e.g. another policy's)."""
    groups = groups or grouped(policy, samples)
    combiner = policy.build_combiner()
    accepted = [0] * len(groups.labels)
    errors = [0] * len(groups.labels)
    for sample, group in zip(samples, groups.of, strict=True):
        results = tuple(sample.recorded_results().values())
        assessment = assess(results, combiner, policy.calibrator)
        if isinstance(decide(policy, assessment), Accept):
            accepted[group] += 1
            errors[group] += not sample.correct
    return tuple(
        Replayed(
            group=label,
            answers=len(groups.members(g)),
            accepted=accepted[g],
            errors=errors[g],
        )
        for g, label in enumerate(groups.labels)
    )


__all__ = ["Replayed", "replay"]
