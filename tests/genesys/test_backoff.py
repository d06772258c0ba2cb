"""genesys/backoff.py: capped exponential backoff with full jitter. Each delay is drawn uniformly from
[0, min(cap, base * 2**attempt)]: the ceiling doubles with each attempt up to the cap (the backoff), and the
draw spreads the retries of many clients over the whole range (the jitter). A test of either alone would pass
with the other removed, so both are pinned here: the ranges asked of the random source, and the spread of a
real one."""

from __future__ import annotations

import random

import pytest

from genesys.backoff import capped_exponential, full_jitter


class RecordingRandom:
    """A random source that answers `fraction` of the way through each range and records the ranges asked."""

    def __init__(self, fraction: float) -> None:
        self.fraction = fraction
        self.ranges: list[tuple[float, float]] = []

    def uniform(self, low: float, high: float) -> float:
        self.ranges.append((low, high))
        return low + (high - low) * self.fraction


def test_it_doubles_the_ceiling_with_each_attempt_up_to_the_cap():
    assert [capped_exponential(attempt, base=1.0, cap=30.0) for attempt in range(7)] == [1, 2, 4, 8, 16, 30, 30]
    assert capped_exponential(10_000, base=0.5, cap=900.0) == 900.0  # no overflow on absurd attempt counts
    with pytest.raises(ValueError):
        capped_exponential(-1, base=1.0, cap=30.0)


def test_it_draws_each_delay_from_zero_to_that_attempts_ceiling():
    rng = RecordingRandom(0.5)
    delays = [full_jitter(attempt, base=1.0, cap=30.0, rng=rng) for attempt in range(7)]
    assert rng.ranges == [(0, 1), (0, 2), (0, 4), (0, 8), (0, 16), (0, 30), (0, 30)]  # backoff, capped
    assert delays == [0.5, 1, 2, 4, 8, 15, 15]  # the draw is the delay: nothing added, nothing rounded


def test_it_spreads_the_delays_over_the_whole_range():
    rng = random.Random(7)
    ceiling = 32.0  # attempt 5 at base 1, below the cap
    delays = [full_jitter(5, base=1.0, cap=100.0, rng=rng) for _ in range(200)]
    assert all(0 <= delay <= ceiling for delay in delays)
    assert min(delays) < 0.1 * ceiling and max(delays) > 0.9 * ceiling  # full jitter, not "ceiling ± a bit"
    assert len(set(delays)) == len(delays)
