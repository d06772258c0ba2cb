"""Helpers shared by the pipeline tests: a fake-clock emulator world and a client wired to it."""

from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from genesys.client import GenesysClient
from genesys.clock import FakeClock
from genesys.emulator import Emulator, generate_dataset
from genesys.emulator.server import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET
from genesys.emulator.variants import Variant, get_variant
from genesys.ratelimit import RateLimiter
from reviews.ratelimit_db import DatabaseBackend

# The fake "now" of every pipeline test; the dataset's calls end in the hour before it.
NOW = datetime(2026, 5, 4, 12, 0, tzinfo=UTC)
WINDOW_START = NOW - timedelta(minutes=60)
WINDOW_END = NOW - timedelta(minutes=5)


@dataclass
class World:
    clock: FakeClock
    dataset: object
    emulator: Emulator
    client: GenesysClient
    base_url: str
    rate_limited_at: list[float] = field(default_factory=list)
    variant: Variant | None = None

    def conversations(self):
        return self.dataset.conversations


def make_client(*, base_url: str, clock, on_request=None, key: str = "genesys:test") -> GenesysClient:
    return GenesysClient(
        api_url=base_url,
        login_url=base_url,
        client_id=DEFAULT_CLIENT_ID,
        client_secret=DEFAULT_CLIENT_SECRET,
        clock=clock,
        rng=random.Random(3),
        rate_limiter=RateLimiter(DatabaseBackend(), key=key, clock=clock),
        on_request=on_request,
    )


@contextmanager
def running_world(
    *,
    conversations: int = 200,
    faults: str = "none",
    large: int = 2,
    large_mb: float = 2,
    malformed: int = 2,
    seed=7,
    variant: str | Variant | None = None,
    start: datetime = WINDOW_START,
    end: datetime = WINDOW_END,
    now: datetime = NOW,
) -> Iterator[World]:
    """A fake-clock emulator world; `variant` (a name in genesys.emulator.variants.VARIANTS) plays one way a real
    org differs from our assumptions."""
    variant = get_variant(variant) if isinstance(variant, str) else variant
    clock = FakeClock(now.timestamp())
    dataset = generate_dataset(
        seed,
        conversations,
        start,
        end,
        large=large,
        large_mb=large_mb,
        malformed=malformed,
        shape=variant.shape if variant else None,
    )
    emulator = Emulator(
        dataset, clock=clock, faults=faults, seed=seed, behaviour=variant.behaviour if variant else None
    )
    with emulator.serve() as base_url:
        rate_limited_at: list[float] = []

        def on_request(event) -> None:
            if event.status == 429:
                rate_limited_at.append(clock.time())

        client = make_client(base_url=base_url, clock=clock, on_request=on_request)
        yield World(clock, dataset, emulator, client, base_url, rate_limited_at, variant)
    emulator.close()
