"""streams.detection.policy: an open alert's peak is the value of its strongest evidence, with its window."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from streams.detection.policy import AlertPolicy, AlertState


def opened(value: float, z: float, window: int) -> tuple[AlertPolicy, AlertState]:
    policy = AlertPolicy()
    state = AlertState()
    policy.open(state, 0.0, 60.0, 1, "warning", value, z, False, window)
    return policy, state


def test_a_larger_count_in_a_longer_window_is_not_a_new_peak() -> None:
    policy, state = opened(36.0, 7.6, 5)
    # The same crisis seen through the 60-minute window: a larger number, weaker evidence.
    policy.follow(state, True, False, 5.0, 1075.0, "warning", 60)
    assert state.firing is not None
    assert (state.firing["peak"], state.firing["peak_window"]) == (36.0, 5)


def test_stronger_evidence_moves_the_peak_and_its_window() -> None:
    policy, state = opened(36.0, 7.6, 5)
    policy.follow(state, True, False, 9.1, 20.0, "critical", 2)
    assert state.firing is not None
    assert (state.firing["peak"], state.firing["peak_z"], state.firing["peak_window"]) == (20.0, 9.1, 2)


def test_a_state_saved_without_the_window_still_follows() -> None:
    policy, state = opened(36.0, 7.6, 5)
    assert state.firing is not None
    del state.firing["peak_window"]
    restored = AlertState.from_dict(state.to_dict())
    policy.follow(restored, True, False, 8.0, 40.0, "warning", 15)
    assert restored.firing is not None and restored.firing["peak_window"] == 15


@given(st.lists(st.tuples(st.floats(0, 1e6), st.floats(0, 50), st.integers(1, 240)), min_size=1, max_size=40))
def test_the_peak_is_the_value_of_the_highest_statistic(updates: list[tuple[float, float, int]]) -> None:
    first_value, first_z, first_window = updates[0]
    policy, state = opened(first_value, first_z, first_window)
    for value, z, window in updates[1:]:
        policy.follow(state, True, False, z, value, "warning", window)
    assert state.firing is not None
    best = max(range(len(updates)), key=lambda i: (updates[i][1], -i))  # the first of equal statistics stays
    assert (state.firing["peak"], state.firing["peak_window"]) == (updates[best][0], updates[best][2])
