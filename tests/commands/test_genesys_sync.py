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


# ---------------------------------------------------------------------------------------------- what a user sees
class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def sync_with(world, monkeypatch, *extra: str, stderr=None) -> str:
    monkeypatch.setattr("reviews.management.commands.genesys_sync.build_client", lambda **_: world.client)
    out = io.StringIO()
    call_command(
        "genesys_sync",
        "--since",
        WINDOW_START.isoformat(),
        "--until",
        WINDOW_END.isoformat(),
        "--max-wait",
        "36000",
        *extra,
        stdout=out,
        stderr=stderr if stderr is not None else io.StringIO(),
    )
    return out.getvalue()


@pytest.mark.django_db
def test_it_draws_a_progress_bar_with_states_on_a_terminal(monkeypatch):
    terminal = FakeTerminal()
    with running_world(conversations=12, large=0, malformed=0) as world:
        sync_with(world, monkeypatch, stderr=terminal)

    drawn = terminal.getvalue()
    assert "\r" in drawn  # redrawn in place
    assert "final" in drawn and "12/12" in drawn
    last = drawn.rstrip("\n").split("\r")[-1]
    stored = Conversation.objects.filter(state="stored").count()
    assert f"stored {stored}" in last  # per-state counts on the bar
    assert "<" in last  # tqdm's elapsed<remaining (the ETA)


@pytest.mark.django_db
def test_it_draws_nothing_when_stderr_is_not_a_terminal(monkeypatch):
    stderr = io.StringIO()
    with running_world(conversations=6, large=0, malformed=0) as world:
        sync_with(world, monkeypatch, stderr=stderr)

    assert stderr.getvalue() == ""


@pytest.mark.django_db
@pytest.mark.parametrize(("verbosity", "shown"), [("1", False), ("2", True)])
def test_it_shows_per_conversation_log_lines_only_from_verbosity_2(monkeypatch, caplog, verbosity, shown):
    import logging

    pipeline = logging.getLogger("reviews.pipeline")
    before = pipeline.level
    with running_world(conversations=6, large=0, malformed=0) as world:
        sync_with(world, monkeypatch, "-v", verbosity)

    stored_lines = [r for r in caplog.records if r.getMessage().startswith("transcript stored conversation=")]
    delivered = [r for r in caplog.records if r.getMessage().startswith("compliance delivery delivered")]
    assert bool(stored_lines) is shown
    assert bool(delivered) is shown
    assert pipeline.level == before  # restored after the run


@pytest.mark.django_db
def test_it_ends_with_what_happens_next(monkeypatch):
    with running_world(conversations=10, large=0, malformed=0) as world:
        text = sync_with(world, monkeypatch)

    lines = text.strip().splitlines()
    assert lines[-1].startswith("Next")
    assert any(line.startswith("Result") and "stored" in line for line in lines)
    assert "Finished" not in text


@pytest.mark.django_db
def test_it_keeps_the_json_summary_shape(monkeypatch):
    with running_world(conversations=6, large=0, malformed=0) as world:
        summary = json.loads(sync_with(world, monkeypatch, "--json"))

    from reviews.pipeline.summary import BackfillSummary

    assert set(summary) == set(BackfillSummary.__dataclass_fields__)


@pytest.mark.django_db
def test_it_names_the_permission_when_the_transcript_search_is_forbidden(monkeypatch):
    from genesys.emulator import OrgBehaviour
    from genesys.emulator.variants import Variant

    forbidden = Variant(
        "search_forbidden", "the role may not search", behaviour=OrgBehaviour(search_failure="forbidden")
    )
    with (
        running_world(conversations=5, large=0, malformed=0, variant=forbidden) as world,
        pytest.raises(CommandError) as raised,
    ):
        sync_with(world, monkeypatch)

    message = str(raised.value)
    assert message.startswith("Genesys sync stopped: the transcript search, an org-wide endpoint, was refused")
    assert "add one of analytics:conversationDetail:view, recording:recording:view" in message
    assert "any one is enough" in message
