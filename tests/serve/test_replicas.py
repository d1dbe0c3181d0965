"""Several console replicas on one database behave as one: leases and claims live in
the database, so concurrent reviewers on different replicas never share a case."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from confguard.defaults import demo_policy
from confguard.exceptions import ReviewLeasedError
from confguard.serve.demo import seed_random
from confguard.store import SQLStore
from confguard.store.accounts import Accounts
from confguard.store.leases import Leases
from confguard.store.policy_versions import PolicyVersions


@pytest.fixture(
    params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/audit.sqlite"
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture
def replicas(url: str) -> Iterator[list[SQLStore]]:
    """Three stores on one database, as three console replicas would hold."""
    stores = [SQLStore(url, store_answers=True) for _ in range(3)]
    yield stores
    for store in stores:
        store.close()


def test_concurrent_reviewers_on_three_replicas_never_share_a_case(
    replicas: list[SQLStore],
) -> None:
    seed_random(replicas[0], 40)
    leases = [Leases(store.engine) for store in replicas]

    def take(i: int) -> str | None:
        item = leases[i % 3].claim_next(f"reviewer-{i}")
        return None if item is None else item.id

    with ThreadPoolExecutor(24) as pool:
        taken = list(pool.map(take, range(24)))
    got = [t for t in taken if t is not None]
    assert len(got) == 24 and len(set(got)) == 24


def test_a_lease_is_kept_renewed_by_its_holder_and_refused_to_others(
    replicas: list[SQLStore],
) -> None:
    (review_id,) = seed_random(replicas[0], 1)
    one, two = Leases(replicas[0].engine), Leases(replicas[1].engine)
    first = one.claim(review_id, "bo")
    assert one.claim(review_id, "bo").until >= first.until  # renewed
    with pytest.raises(ReviewLeasedError, match="held by bo"):
        two.claim(review_id, "cy")
    assert two.claim_next("cy") is None  # the only case is bo's
    assert one.claim_next("bo") is not None  # bo gets his own case back
    one.release(review_id, "bo")
    assert two.claim(review_id, "cy").holder == "cy"


def test_an_expired_lease_goes_to_the_next_reviewer(replicas: list[SQLStore]) -> None:
    (review_id,) = seed_random(replicas[0], 1)
    Leases(replicas[0].engine, seconds=-1).claim(review_id, "bo")  # already expired
    assert Leases(replicas[1].engine).claim(review_id, "cy").holder == "cy"


def test_policy_versions_from_two_replicas_get_distinct_numbers(
    replicas: list[SQLStore],
) -> None:
    versions = [PolicyVersions(store.engine) for store in replicas]
    policy = demo_policy()

    def apply(i: int) -> int:
        return versions[i % 3].apply(policy, f"admin-{i}").version

    with ThreadPoolExecutor(3) as pool:
        numbers = sorted(pool.map(apply, range(3)))
    assert numbers == [1, 2, 3]


def test_every_replica_reads_the_same_cookie_secret(replicas: list[SQLStore]) -> None:
    made = iter(["first", "second", "third"])
    secrets = {
        Accounts(s.engine).setting("session_secret", lambda: next(made))
        for s in replicas
    }
    assert secrets == {"first"}


def test_failed_logins_count_across_replicas(replicas: list[SQLStore]) -> None:
    from confguard.serve.security import LoginLimiter
    from confguard.store.accounts import LoginFailures

    limiters = [LoginLimiter(LoginFailures(s.engine), attempts=3) for s in replicas]
    for i in range(3):
        assert limiters[i].retry_after("user:bo") == 0
        limiters[i].failed("user:bo", f"ip:10.0.0.{i}")
    assert 0 < limiters[0].retry_after("user:bo") <= 300
    assert limiters[1].retry_after("ip:10.0.0.1") == 0  # one failure from there
    limiters[2].succeeded("user:bo")
    assert limiters[0].retry_after("user:bo") == 0
