from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.pipeline.support import World, running_world


@pytest.fixture(autouse=True)
def _pipeline_settings(settings):
    # Fake-clock seconds. The deadline outlives the slowest "delayed" transcript (ready 300 s after the
    # emulator starts) even for the oldest call, so only never-ready calls fall back to audio.
    settings.TRANSCRIPT_POLL_BASE_SECONDS = 30.0
    settings.TRANSCRIPT_POLL_MAX_SECONDS = 1200.0
    settings.TRANSCRIPT_DEADLINE_SECONDS = 66 * 60.0
    settings.PIPELINE_MAX_ATTEMPTS = 8
    settings.PIPELINE_LEASE_SECONDS = 900
    settings.COMPLIANCE_SINKS = ["filesystem"]


@pytest.fixture
def world(db) -> Iterator[World]:
    with running_world(conversations=40, large=1, large_mb=0.5, malformed=2) as small_world:
        yield small_world
