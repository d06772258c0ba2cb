from __future__ import annotations

from io import StringIO

import pytest
import responses
from django.core.management import CommandError, call_command

# build_client() gives the client the cross-process token cache (reviews/token_cache.py), so every
# command touches the database.
pytestmark = pytest.mark.django_db

API = "https://api.check.test"
LOGIN = "https://login.check.test"
SECRET = "check-secret-do-not-print"


@pytest.fixture(autouse=True)
def genesys_settings(settings):
    settings.GENESYS_API_URL = API
    settings.GENESYS_LOGIN_URL = LOGIN
    settings.GENESYS_CLIENT_ID = "check-client"
    settings.GENESYS_CLIENT_SECRET = SECRET
    settings.GENESYS_TIMEOUT_SECONDS = 5.0
    settings.GENESYS_MAX_RETRIES = 0
    settings.GENESYS_RATE_LIMIT_BACKEND = "memory"  # the check itself needs no shared limiter or database


def run_check() -> tuple[str, CommandError | None]:
    out = StringIO()
    try:
        call_command("genesys_check", stdout=out)
    except CommandError as error:
        return out.getvalue(), error
    return out.getvalue(), None


def add_directory_endpoints(rsps, *, denied=False):
    denials = {
        "routing/queues": "routing:queue:view",
        "users": "directory:user:view",
    }
    for path, permission in denials.items():
        if denied:
            rsps.add(
                responses.GET,
                f"{API}/api/v2/{path}",
                status=403,
                headers={"ININ-Correlation-Id": f"ctx-{path}"},
                json={
                    "message": f"You must have all of the following permissions assigned: [{permission}]",
                    "code": "missing.permissions",
                    "status": 403,
                },
            )
        else:
            rsps.add(responses.GET, f"{API}/api/v2/{path}", json={"entities": [], "pageSize": 100, "total": 0})


def add_permitted_endpoints(rsps, *, metadata_status=200, directory_denied=False):
    rsps.add(responses.POST, f"{LOGIN}/oauth/token", json={"access_token": "t", "expires_in": 86399})
    rsps.add(
        responses.POST,
        f"{API}/api/v2/analytics/conversations/details/query",
        json={
            "totalHits": 1,
            "conversations": [
                {
                    "conversationId": "conv-1",
                    "participants": [
                        {"purpose": "customer", "sessions": [{"mediaType": "voice", "sessionId": "comm-1"}]}
                    ],
                }
            ],
        },
    )
    rsps.add(
        responses.POST, f"{API}/api/v2/speechandtextanalytics/transcripts/search", json={"total": 0, "results": []}
    )
    rsps.add(
        responses.GET,
        f"{API}/api/v2/speechandtextanalytics/conversations/conv-1/communications/comm-1/transcripturl",
        status=404,
        json={"code": "not.found", "status": 404},
    )
    if metadata_status == 403:
        rsps.add(
            responses.GET,
            f"{API}/api/v2/conversations/conv-1/recordingmetadata",
            status=403,
            json={
                "message": "You must have at least one of the following permissions assigned: [recording:recording:view]",
                "code": "missing.any.permissions",
                "status": 403,
            },
        )
    else:
        rsps.add(responses.GET, f"{API}/api/v2/conversations/conv-1/recordingmetadata", json=[{"id": "r1"}])
    rsps.add(
        responses.GET,
        f"{API}/api/v2/recording/batchrequests/00000000-0000-0000-0000-000000000000",
        status=404,
        json={"code": "not.found"},
    )
    add_directory_endpoints(rsps, denied=directory_denied)


def test_it_passes_when_login_and_every_permission_work():
    with responses.RequestsMock() as rsps:
        add_permitted_endpoints(rsps)
        output, error = run_check()
    assert error is None, output
    assert "FAIL" not in output
    assert output.count("PASS") == 8
    assert "404" in output  # the transcript URL probe passes on 404
    assert "All required Genesys checks passed" in output


def test_it_explains_wrong_credentials_and_exits_non_zero():
    with responses.RequestsMock() as rsps:
        rsps.add(
            responses.POST,
            f"{LOGIN}/oauth/token",
            status=401,
            json={"error": "invalid_client", "description": "authentication failed"},
        )
        output, error = run_check()
    assert error is not None and "login" in str(error)
    login_line = next(line for line in output.splitlines() if line.startswith("login"))
    assert "FAIL" in login_line and "Check GENESYS_CLIENT_ID/SECRET" in login_line
    assert output.count("SKIP") == 7
    assert SECRET not in output and SECRET not in str(error)


def test_it_points_at_the_region_when_login_is_unreachable():
    import requests

    with responses.RequestsMock() as rsps:
        rsps.add(responses.POST, f"{LOGIN}/oauth/token", body=requests.ConnectionError("no route"))
        output, error = run_check()
    assert error is not None
    assert "Check GENESYS_REGION / GENESYS_LOGIN_URL" in output


def test_it_names_a_missing_permission():
    with responses.RequestsMock() as rsps:
        add_permitted_endpoints(rsps, metadata_status=403)
        output, error = run_check()
    assert error is not None and "recording metadata" in str(error)
    line = next(line for line in output.splitlines() if line.startswith("recording metadata"))
    assert "FAIL" in line and "Add permission recording:recording:view to the OAuth client's role" in line


def test_it_warns_but_passes_without_the_optional_directory_permissions():
    with responses.RequestsMock() as rsps:
        add_permitted_endpoints(rsps, directory_denied=True)
        output, error = run_check()
    assert error is None, output
    assert "FAIL" not in output and "All required Genesys checks passed" in output
    queues = next(line for line in output.splitlines() if line.startswith("queue names"))
    agents = next(line for line in output.splitlines() if line.startswith("agent names"))
    assert "WARN" in queues and "Add permission routing:queue:view to the OAuth client's role" in queues
    assert "optional; without it queues and their divisions show as ids" in queues
    assert "WARN" in agents and "Add permission directory:user:view to the OAuth client's role" in agents
    assert "optional; without it agents show as ids" in agents


def test_it_probes_the_directory_with_the_queue_and_agent_it_found():
    from urllib.parse import parse_qs, urlsplit

    with responses.RequestsMock() as rsps:
        add_permitted_endpoints(rsps)
        rsps.replace(
            responses.POST,
            f"{API}/api/v2/analytics/conversations/details/query",
            json={
                "totalHits": 1,
                "conversations": [
                    {
                        "conversationId": "conv-1",
                        "participants": [
                            {"purpose": "customer", "sessions": [{"mediaType": "voice", "sessionId": "comm-1"}]},
                            {
                                "purpose": "agent",
                                "userId": "user-1",
                                "sessions": [
                                    {"mediaType": "voice", "sessionId": "comm-2", "segments": [{"queueId": "queue-1"}]}
                                ],
                            },
                        ],
                    }
                ],
            },
        )
        output, error = run_check()
        sent = {urlsplit(c.request.url).path: parse_qs(urlsplit(c.request.url).query) for c in rsps.calls}
    assert error is None, output
    assert sent["/api/v2/routing/queues"]["id"] == ["queue-1"]
    assert sent["/api/v2/users"]["id"] == ["user-1"]


def add_conversations(**per_state) -> None:
    from datetime import UTC, datetime

    from reviews.models import Conversation

    started = datetime(2026, 5, 4, 10, 0, tzinfo=UTC)
    for state, outcomes in per_state.items():
        for index, outcome in enumerate(outcomes):
            Conversation.objects.create(genesys_id=f"{state}-{index}", state=state, started_at=started, outcome=outcome)


DIVISION_DENIAL = (
    "Genesys denied access (HTTP 403 missing.division.permissions): missing recording:recording:view in division "
    "Collections; grant it to the OAuth client's role, then retry the conversation"
)


def test_it_shows_what_the_pipeline_has_met_from_the_database():
    from datetime import UTC, datetime

    from genesys.errors import ServerError
    from reviews.pipeline import org

    add_conversations(
        stored=["", ""],
        awaiting_transcript=[""],
        restricted=[
            DIVISION_DENIAL,
            DIVISION_DENIAL,
            "Genesys denied access (HTTP 403 not.authorized): missing a permission Genesys did not name; grant it",
        ],
    )
    org.record_search_failure(
        now=datetime.now(UTC), error=ServerError("sta.transcripts.search: HTTP 503: Genesys server error", status=503)
    )
    with responses.RequestsMock() as rsps:
        add_permitted_endpoints(rsps)
        output, error = run_check()

    assert error is None, output
    lines = output.splitlines()
    conversations = next(line for line in lines if line.startswith("conversations"))
    assert " 6 " in conversations and "stored 2" in conversations and "restricted 3" in conversations
    restricted = lines.index(next(line for line in lines if line.startswith("restricted ")))
    assert lines[restricted].split()[1] == "3"
    assert lines[restricted + 1].strip() == f"2 x {DIVISION_DENIAL}"  # most frequent outcome first
    assert lines[restricted + 2].strip().startswith("1 x Genesys denied access (HTTP 403 not.authorized)")
    health = next(line for line in lines if line.startswith("search health"))
    assert "failing" in health and "1 failure(s) in a row" in health
    assert "ServerError: sta.transcripts.search: HTTP 503" in output
    assert "probed directly until" in output


def test_it_prints_the_plain_check_as_json():
    import json

    add_conversations(restricted=[DIVISION_DENIAL])
    with responses.RequestsMock() as rsps:
        add_permitted_endpoints(rsps)
        out = StringIO()
        call_command("genesys_check", "--json", stdout=out)

    document = json.loads(out.getvalue())
    assert document["ok"] is True and "deep" not in document
    assert [check["outcome"] for check in document["checks"]].count("PASS") == 8
    assert document["database"]["restricted"] == {
        "count": 1,
        "top_outcomes": [{"outcome": DIVISION_DENIAL, "count": 1}],
    }
    assert document["database"]["search_health"]["ok_at"] is None


def test_it_prints_json_and_still_exits_non_zero_when_a_required_check_fails():
    import json

    with responses.RequestsMock() as rsps:
        add_permitted_endpoints(rsps, metadata_status=403)
        out = StringIO()
        with pytest.raises(CommandError, match="recording metadata"):
            call_command("genesys_check", "--json", stdout=out)

    assert json.loads(out.getvalue())["ok"] is False
