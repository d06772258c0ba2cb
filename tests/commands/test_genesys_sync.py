from __future__ import annotations

import io
import json

import pytest
from django.core.management import CommandError, call_command

from genesys.emulator.server import DEFAULT_CLIENT_ID
from reviews.models import Conversation
from tests.pipeline.support import WINDOW_END, WINDOW_START, make_client, running_world


@pytest.fixture(autouse=True)
def _fast_polling(settings):
    settings.TRANSCRIPT_POLL_BASE_SECONDS = 30.0
    settings.TRANSCRIPT_POLL_MAX_SECONDS = 1200.0
    settings.TRANSCRIPT_DEADLINE_SECONDS = 66 * 60.0
    settings.COMPLIANCE_SINKS = ["filesystem"]


def sync(*extra: str) -> str:
    out = io.StringIO()
    call_command(
        "genesys_sync", "--since", WINDOW_START.isoformat(), "--until", WINDOW_END.isoformat(), *extra, stdout=out
    )
    return out.getvalue()


@pytest.mark.django_db
def test_it_prints_the_summary_as_one_json_object(monkeypatch):
    with running_world(conversations=20, large=0, malformed=1) as world:
        monkeypatch.setattr("reviews.management.commands.genesys_sync.build_client", lambda **_: world.client)

        summary = json.loads(sync("--json", "--max-wait", "36000"))

    assert summary["finished"] is True
    assert summary["conversations"] == 20
    assert summary["transcripts_new"] == Conversation.objects.filter(state="stored").count() > 0
    for key in (
        "states",
        "audio_fallbacks",
        "leaks_found",
        "api_calls",
        "api_calls_per_transcript",
        "rate_limited",
        "retries",
        "bytes_downloaded",
        "elapsed_seconds",
    ):
        assert key in summary


@pytest.mark.django_db
def test_it_prints_a_readable_summary(monkeypatch):
    with running_world(conversations=10, large=0, malformed=0) as world:
        monkeypatch.setattr("reviews.management.commands.genesys_sync.build_client", lambda **_: world.client)

        text = sync("--max-wait", "36000")

    assert "Genesys API calls" in text
    assert "429 responses" in text


@pytest.mark.django_db
def test_it_fails_clearly_on_bad_credentials(settings):
    with running_world(conversations=5) as world:
        settings.GENESYS_API_URL = settings.GENESYS_LOGIN_URL = world.base_url
        settings.GENESYS_CLIENT_ID = DEFAULT_CLIENT_ID
        settings.GENESYS_CLIENT_SECRET = "not-the-secret"

        with pytest.raises(CommandError, match="(?i)credentials|client"):
            sync("--max-wait", "1")


@pytest.mark.django_db
def test_it_fails_clearly_on_permission_errors(monkeypatch):
    from genesys.emulator import Emulator

    with running_world(conversations=5) as world:
        denied = Emulator(world.dataset, clock=world.clock, denied_permissions={"analytics:conversationDetail:view"})
        with denied.serve() as url:
            client = make_client(base_url=url, clock=world.clock)
            monkeypatch.setattr("reviews.management.commands.genesys_sync.build_client", lambda **_: client)

            with pytest.raises(CommandError, match="permission"):
                sync("--max-wait", "1")


@pytest.mark.parametrize(
    ("since", "until", "message"),
    [
        ("yesterday", "2026-05-04", "--since must be an ISO 8601"),
        ("2026-05-04", "2026-13-01", "--until must be an ISO 8601"),
        ("2026-05-04", "2026-05-03", "must be later than"),
    ],
)
def test_it_rejects_bad_windows(since, until, message):
    with pytest.raises(CommandError, match=message):
        call_command("genesys_sync", "--since", since, "--until", until)
