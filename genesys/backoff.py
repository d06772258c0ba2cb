"""Capped exponential backoff with full jitter (AWS Architecture Blog, "Exponential Backoff And Jitter")."""

from __future__ import annotations

import random


def capped_exponential(attempt: int, *, base: float, cap: float) -> float:
    """The ceiling for retry number `attempt` (0-based): min(cap, base * 2**attempt)."""
    if attempt < 0:
        raise ValueError("attempt must be >= 0")
    # Bound the exponent so huge attempt counts cannot overflow.
    return min(cap, base * (2 ** min(attempt, 62)))


def full_jitter(attempt: int, *, base: float, cap: float, rng: random.Random | None = None) -> float:
    """A delay drawn uniformly from [0, min(cap, base * 2**attempt)]."""
    ceiling = capped_exponential(attempt, base=base, cap=cap)
    return (rng or random).uniform(0, ceiling)
