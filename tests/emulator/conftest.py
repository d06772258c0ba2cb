from __future__ import annotations

from datetime import timedelta

import pytest

from genesys.clock import FakeClock
from genesys.emulator import generate_dataset
from tests.emulator.support import END, START, api_session, make_emulator


@pytest.fixture(scope="session")
def dataset():
    return generate_dataset(11, 60, START, END, large=1, large_mb=3, malformed=2)


@pytest.fixture
def clock():
    # Two hours after the window: every normal transcript is ready, delayed ones are not yet.
    return FakeClock((END + timedelta(hours=2)).timestamp())


@pytest.fixture
def emulator(dataset, clock):
    return make_emulator(dataset, clock)


@pytest.fixture
def base_url(emulator):
    with emulator.serve() as url:
        yield url


@pytest.fixture
def api(base_url):
    session = api_session(base_url)
    yield session
    session.close()
