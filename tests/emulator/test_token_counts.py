"""The token counts bench/token_reuse.py publishes: every POST /oauth/token, per client id, with its status."""

from __future__ import annotations

import requests

from bench.token_reuse import bursts, record_token_requests
from tests.emulator.support import CLIENT_ID, CLIENT_SECRET, make_emulator, token_for


def test_it_counts_token_requests_per_client_id_and_status(dataset, clock):
    emulator = make_emulator(dataset, clock, token_ttl_s=60)
    log = record_token_requests(emulator)
    with emulator.serve() as base_url:
        token_for(base_url)
        token_for(base_url)
        rejected = requests.post(
            f"{base_url}/oauth/token", data={"grant_type": "client_credentials"}, auth=("intruder", "x"), timeout=5
        )
        answer = requests.post(
            f"{base_url}/oauth/token",
            data={"grant_type": "client_credentials"},
            auth=(CLIENT_ID, CLIENT_SECRET),
            timeout=5,
        ).json()

    assert rejected.status_code == 401
    assert answer["expires_in"] == 60  # the shortened lifetime of a time-scaled run
    assert log.per_client() == {CLIENT_ID: 3}
    assert log.per_client(401) == {"intruder": 1}
    assert emulator.stats.token_requests == 4  # the emulator's own counter agrees
    assert len(log.times()) == 3


def test_it_counts_requests_close_together_as_a_stampede():
    assert bursts([0.0, 18.0, 18.2, 36.0, 54.0]) == 1
    assert bursts([0.0, 18.0, 36.0]) == 0
