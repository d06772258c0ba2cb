"""OrgBehaviour: validation, and the answers of behaviours no named variant covers on its own."""

from __future__ import annotations

import pytest

from genesys.emulator import OrgBehaviour
from genesys.emulator.behaviour import division_denied, search_failure
from tests.emulator.support import api_session, make_emulator
from tests.emulator.test_default_unchanged import PINNED_HTTP, _sha, http_transcript

SEARCH = "/api/v2/speechandtextanalytics/transcripts/search"


@pytest.mark.parametrize(
    "fields",
    [
        {"search_failure": "sometimes"},
        {"division_denial_code": "forbidden"},
        {"analytics_interval_semantics": "ended"},
        {"denied_divisions": -1},
        {"login_429_first": -2},
        {"endpoint_allowances": {"sta.transcripts.search": 0}},
    ],
)
def test_it_rejects_behaviours_no_org_has(fields):
    with pytest.raises(ValueError):
        OrgBehaviour(**fields)


def test_it_answers_exactly_as_the_plain_emulator_with_a_default_behaviour(dataset):
    assert _sha(http_transcript(dataset, behaviour=OrgBehaviour())) == PINNED_HTTP


def test_it_answers_every_search_with_500_under_search_failure_error(dataset, clock):
    emulator = make_emulator(dataset, clock, behaviour=OrgBehaviour(search_failure="error"))
    with emulator.serve() as base_url:
        response = api_session(base_url).post(base_url + SEARCH, json={"types": ["transcripts"]})
    assert response.status_code == 500 and response.json()["code"] == "internal.server.error"
    assert emulator.stats.server_errors == 1


def test_it_forbids_search_naming_the_search_permissions(dataset, clock):
    emulator = make_emulator(dataset, clock, behaviour=OrgBehaviour(search_failure="forbidden"))
    with emulator.serve() as base_url:
        api = api_session(base_url)
        response = api.post(base_url + SEARCH, json={"types": ["transcripts"]})
        settings = api.get(base_url + "/api/v2/routing/settings/transcription").json()
    body = response.json()
    assert response.status_code == 403 and body["code"] == "missing.any.permissions"
    for permission in (
        "analytics:conversationDetail:view",
        "recording:recording:view",
        "recording:recordingSegment:view",
    ):
        assert permission in body["message"]
    assert settings["contentSearchEnabled"] is True


def test_it_has_no_restore_route_unless_the_org_restores(dataset, clock):
    conv = dataset.conversations[0]
    path = f"/api/v2/conversations/{conv.conversation_id}/recordings/{conv.recording_ids[0]}"
    for behaviour, status in ((OrgBehaviour(), 404), (OrgBehaviour(restore=True), 200)):
        emulator = make_emulator(dataset, clock, behaviour=behaviour)
        with emulator.serve() as base_url:
            response = api_session(base_url).put(base_url + path, json={"archiveDate": "2030-01-01T00:00:00Z"})
        assert response.status_code == status
        assert emulator.stats.by_endpoint["recording.update" if status == 200 else "unknown"] == 1


def test_it_words_division_denials_in_either_style():
    plain = division_denied(OrgBehaviour(), "div-1")
    assert (plain.status, plain.code) == (403, "missing.division.permissions")
    assert plain.extra == {"messageParams": {"division": "div-1", "permissions": "recording:recording:view"}}
    assert "in division [div-1]: [recording:recording:view]" in plain.message
    bare = division_denied(OrgBehaviour(division_denial_code="not.authorized"), "div-1")
    assert (bare.code, bare.extra) == ("not.authorized", {}) and "div-1" not in bare.message
    assert search_failure(OrgBehaviour()) is None and search_failure(OrgBehaviour(search_failure="empty")) is None
    unavailable = search_failure(OrgBehaviour(search_failure="unavailable"))
    assert (unavailable.status, unavailable.headers) == (503, {})
