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
