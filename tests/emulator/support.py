from __future__ import annotations

from datetime import UTC, datetime, timedelta

import requests

from genesys.emulator import Emulator

START = datetime(2026, 5, 1, tzinfo=UTC)
END = START + timedelta(hours=6)
CLIENT_ID, CLIENT_SECRET = "test-client", "test-secret"


def make_emulator(dataset, clock, **kwargs) -> Emulator:
    kwargs.setdefault("seed", 3)
    return Emulator(dataset, client_id=CLIENT_ID, client_secret=CLIENT_SECRET, clock=clock, **kwargs)


def token_for(base_url: str) -> str:
    response = requests.post(
        f"{base_url}/oauth/token", data={"grant_type": "client_credentials"}, auth=(CLIENT_ID, CLIENT_SECRET), timeout=5
    )
    response.raise_for_status()
    return response.json()["access_token"]


def api_session(base_url: str) -> requests.Session:
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {token_for(base_url)}"
    session.base_url = base_url
    return session


def ready_conversation(dataset, emulator, kind="normal"):
    now = emulator.clock.time()
    return next(
        c
        for c in dataset.conversations
        if c.transcript and c.transcript.kind == kind and emulator.transcript_ready_at(c) <= now
    )


def transcript_url(api, conv) -> str:
    response = api.get(
        f"{api.base_url}/api/v2/speechandtextanalytics/conversations/{conv.conversation_id}"
        f"/communications/{conv.communication_ids[0]}/transcripturl",
        timeout=5,
    )
    assert response.status_code == 200, response.text
    return response.json()["url"]


# ---------------------------------------------------------------------------------------------- variants

# A window with a UTC midnight after its start, so every variant (midnight_calls included) can build in it.
VARIANT_START = datetime(2026, 5, 1, 18, tzinfo=UTC)
VARIANT_END = VARIANT_START + timedelta(hours=12)
VARIANT_MIDNIGHT = datetime(2026, 5, 2, tzinfo=UTC)
_VARIANT_DATASETS: dict = {}


def variant_dataset(name: str, conversations: int = 40):
    """The dataset of a variant's shape (seeded, built once per test session)."""
    from genesys.emulator import generate_dataset, get_variant

    key = (name, conversations)
    if key not in _VARIANT_DATASETS:
        shape = get_variant(name).shape
        _VARIANT_DATASETS[key] = generate_dataset(21, conversations, VARIANT_START, VARIANT_END, shape=shape)
    return _VARIANT_DATASETS[key]


def variant_clock():
    from genesys.clock import FakeClock

    # Two hours after the window: every transcript (consult legs and midnight calls included) is ready.
    return FakeClock((VARIANT_END + timedelta(hours=2)).timestamp())


def variant_emulator(name: str, clock=None, dataset=None, **kwargs) -> Emulator:
    from genesys.emulator import get_variant

    kwargs.setdefault("behaviour", get_variant(name).behaviour)
    return make_emulator(dataset or variant_dataset(name), clock or variant_clock(), **kwargs)


def sta_path(conv, communication_id: str, endpoint: str = "transcripturl") -> str:
    return (
        f"/api/v2/speechandtextanalytics/conversations/{conv.conversation_id}"
        f"/communications/{communication_id}/{endpoint}"
    )
