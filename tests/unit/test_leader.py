"""Leader election decisions (mcpops.machinery.leader), as pure functions of what was observed."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from mcpops.machinery.leader import Action, decide, observe


def lease(holder: str, renew: str = "t1", transitions: int = 0) -> dict[str, object]:
    return {
        "spec": {
            "holderIdentity": holder,
            "renewTime": renew,
            "acquireTime": "t0",
            "leaseTransitions": transitions,
        }
    }


def test_no_lease_or_no_holder_is_acquired() -> None:
    assert decide(None, "me", 0.0, 15) is Action.ACQUIRE
    assert decide(observe(lease(""), None, 0.0), "me", 1.0, 15) is Action.ACQUIRE


def test_our_own_lease_is_renewed() -> None:
    assert decide(observe(lease("me"), None, 0.0), "me", 100.0, 15) is Action.RENEW


def test_someone_elses_live_lease_is_left_alone_until_it_stops_changing() -> None:
    seen = observe(lease("other", "t1"), None, 0.0)
    assert decide(seen, "me", 14.9, 15) is Action.WAIT
    # The holder renewed at 10 s: the clock restarts from when we saw the change.
    seen = observe(lease("other", "t2"), seen, 10.0)
    assert decide(seen, "me", 24.9, 15) is Action.WAIT
    assert decide(seen, "me", 25.0, 15) is Action.ACQUIRE


def test_an_unchanged_record_keeps_its_first_sighting() -> None:
    first = observe(lease("other"), None, 3.0)
    assert observe(lease("other"), first, 9.0) is first


@given(
    renewals=st.lists(st.floats(min_value=0.0, max_value=14.0), min_size=1, max_size=50),
    duration=st.floats(min_value=1.0, max_value=60.0),
)
def test_a_holder_that_keeps_renewing_is_never_displaced(
    renewals: list[float], duration: float
) -> None:
    """Whatever the gaps, as long as each renewal comes within the lease duration of the
    previous one, a contender never decides to take the lease."""
    now, seen = 0.0, observe(lease("other", "r0"), None, 0.0)
    for i, gap in enumerate(renewals):
        gap = min(gap, duration * 0.99)
        # Polls between renewals: still waiting.
        assert decide(seen, "me", now + gap, duration) is Action.WAIT
        now += gap
        seen = observe(lease("other", f"r{i + 1}"), seen, now)
    assert decide(seen, "me", now + duration * 1.001, duration) is Action.ACQUIRE
