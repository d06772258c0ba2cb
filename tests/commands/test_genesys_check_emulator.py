"""genesys_check against the built-in emulator: the login service and API a real org would answer with."""

from __future__ import annotations

from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from genesys.emulator import Emulator, generate_dataset
from genesys.emulator.server import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET

# build_client() gives the client the cross-process token cache (reviews/token_cache.py), so every
# command touches the database.
pytestmark = pytest.mark.django_db


@pytest.fixture
def emulated_org(settings):
    """Serve an emulator with a role lacking `denied` permissions and point the settings at it."""

    @contextmanager
    def serve(*, denied: tuple[str, ...] = ()):
        now = datetime.now(UTC)
        dataset = generate_dataset(3, 5, now - timedelta(hours=3), now - timedelta(minutes=30))
        emulator = Emulator(dataset, denied_permissions=denied)
        with emulator.serve() as base_url:
            settings.GENESYS_API_URL = settings.GENESYS_LOGIN_URL = base_url
            settings.GENESYS_CLIENT_ID = DEFAULT_CLIENT_ID
            settings.GENESYS_CLIENT_SECRET = DEFAULT_CLIENT_SECRET
            settings.GENESYS_MAX_RETRIES = 0
            settings.GENESYS_RATE_LIMIT_BACKEND = "memory"
            yield
        emulator.close()

    return serve


def run_check() -> tuple[str, CommandError | None]:
    out = StringIO()
    try:
        call_command("genesys_check", stdout=out)
    except CommandError as error:
        return out.getvalue(), error
    return out.getvalue(), None


def test_it_passes_with_the_right_credentials(emulated_org):
    with emulated_org():
        table, error = run_check()

    assert error is None, table
    assert "FAIL" not in table
    assert table.count("PASS") >= 4


def test_it_fails_with_a_clear_table_on_wrong_credentials(emulated_org, settings):
    with emulated_org():
        settings.GENESYS_CLIENT_SECRET = "not-the-secret"
        table, error = run_check()

    assert error is not None
    assert "FAIL" in table
    assert "GENESYS_CLIENT_ID" in table or "GENESYS_CLIENT_SECRET" in table  # the fix names what to change
    assert "not-the-secret" not in table  # never echo the secret


def test_it_names_the_missing_permission(emulated_org):
    with emulated_org(denied=("recording:recording:view",)):
        table, error = run_check()

    assert error is not None
    assert "recording:recording:view" in table


# ---------------------------------------------------------------------------------------------- --deep
# A fake "now" shared by the emulator and the client: the dataset's calls ended between 3 h and 30 min before it.
NOW = datetime(2026, 5, 4, 12, 0, tzinfo=UTC)
READ_ENDPOINTS = {
    "analytics.details.query",  # a POST, but a read-only query
    "sta.transcripts.search",  # a POST, but a read-only query
    "sta.transcripturl",
    "sta.transcripturls",
    "recording.metadata",
    "recording.batch.get",
    "routing.queues",
    "routing.transcription.settings",
    "users.list",
}


@pytest.fixture
def variant_org(settings, monkeypatch):
    """Serve the emulator playing `variant` on a FakeClock, with genesys_check's client on the same clock."""
    from genesys.clock import FakeClock
    from genesys.emulator.variants import get_variant
    from reviews import genesys_factory

    @contextmanager
    def serve(name: str = "clean", *, conversations: int = 30, seed: int = 3, now: datetime = NOW):
        variant = get_variant(name)
        clock = FakeClock(now.timestamp())
        dataset = generate_dataset(
            seed, conversations, NOW - timedelta(hours=3), NOW - timedelta(minutes=30), shape=variant.shape
        )
        emulator = Emulator(dataset, clock=clock, behaviour=variant.behaviour)
        with emulator.serve() as base_url:
            settings.GENESYS_API_URL = settings.GENESYS_LOGIN_URL = base_url
            settings.GENESYS_CLIENT_ID = DEFAULT_CLIENT_ID
            settings.GENESYS_CLIENT_SECRET = DEFAULT_CLIENT_SECRET
            settings.GENESYS_MAX_RETRIES = 0
            settings.GENESYS_RATE_LIMIT_BACKEND = "memory"
            monkeypatch.setattr(
                "reviews.management.commands.genesys_check.build_client",
                lambda **_: genesys_factory.build_client(clock=clock),
            )
            yield emulator
        emulator.close()

    return serve


def run_deep(*extra: str) -> tuple[str, CommandError | None]:
    out = StringIO()
    try:
        call_command("genesys_check", "--deep", *extra, stdout=out)
    except CommandError as error:
        return out.getvalue(), error
    return out.getvalue(), None


def deep_json() -> dict:
    import json

    output, error = run_deep("--json")
    assert error is None, output
    return json.loads(output)


def finding(key: str):
    from reviews.models import GenesysFinding

    return GenesysFinding.objects.filter(key=key).first()


def probe_line(output: str, probe: str) -> str:
    """The row of a probe plus its note lines (pipeline / fix / finding)."""
    lines = output.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(probe))
    block = [lines[start]]
    for line in lines[start + 1 :]:
        if not line.startswith(" "):
            break
        block.append(line)
    return "\n".join(block)


def test_it_learns_a_clean_org_and_stores_what_the_pipeline_reads(variant_org):
    with variant_org("clean"):
        output, error = run_deep()

    assert error is None, output
    assert "WHAT THIS ORG DOES" in output and "All required Genesys checks passed" in output
    assert "WARN" not in output
    for key in (
        "search.conversation_filter",
        "search.hit_keys",
        "transcripts.shape",
        "download.headers",
        "transcription.settings",
        "ratelimit.allowances",
        "divisions.readable",
    ):
        row = finding(key)
        assert row is not None and row.source == "genesys_check", key
    assert finding("search.requires_language") is None  # the org answers without one
    assert finding("search.conversation_filter").value == {"filters": True}
    hit_keys = finding("search.hit_keys").value
    assert {"conversationId", "communicationId", "mediaType"} <= set(hit_keys["present"])
    shape = finding("transcripts.shape").value
    assert shape["legs_with_transcript"] > 0 and shape["max_urls_per_leg"] == 1
    headers = finding("download.headers").value
    assert headers["status"] == 206 and headers["content_encoding"] is None and headers["last_modified"]
    assert finding("divisions.readable").value["denied"] == 0


def test_it_stores_the_transcription_settings_exactly_as_the_pipeline_writes_them(variant_org):
    from reviews.genesys_factory import build_client
    from reviews.pipeline import org

    with variant_org("untranscribed_queue"):
        output, error = run_deep()
        assert error is None, output
        stored = finding("transcription.settings").value
        finding("transcription.settings").delete()
        written_by_pipeline = org.transcription_settings(build_client(), now=NOW)

    assert stored == written_by_pipeline
    assert stored["transcription"] == "EnabledQueueFlow"


def test_it_makes_no_write_call_to_genesys(variant_org):
    with variant_org("recording_states") as emulator:
        output, error = run_deep()
        stats = emulator.stats

    assert error is None, output
    called = {endpoint for endpoint, count in stats.by_endpoint.items() if count}
    assert called <= READ_ENDPOINTS, called - READ_ENDPOINTS
    assert stats.by_endpoint["recording.batch.submit"] == 0 and stats.by_endpoint["recording.update"] == 0
    assert stats.s3_requests <= 1  # the one Range: bytes=0-0 GET of a transcript URL
    # Bounded: the plain checks (7), 4 searches, 1 analytics page, <= 18 transcripturls, <= 10 recordingmetadata,
    # 1 queue listing, 1 settings read.
    assert stats.api_calls <= 45 and stats.token_requests == 1


def test_it_learns_that_the_search_requires_a_language_and_the_pipeline_then_sends_one(variant_org):
    from reviews.genesys_factory import build_client
    from reviews.pipeline import org

    with variant_org("search_requires_language"):
        output, error = run_deep()
        client = build_client()

    assert error is None, output
    assert "400 REQUIRED_SEARCH_FIELD without a language criterion" in probe_line(output, "search language")
    row = finding("search.requires_language")
    assert row.value == {"required": True} and row.source == "genesys_check"
    assert client.search_requires_language is False
    org.prepare_search(client)
    assert client.search_requires_language is True
    # The later probes searched with the language, so they still learnt something.
    assert finding("search.conversation_filter").value == {"filters": True}


def test_it_deletes_a_stale_language_finding_when_the_org_needs_none(variant_org):
    from reviews.pipeline import org

    org.remember("search.requires_language", {"required": True}, now=NOW)
    with variant_org("clean"):
        output, error = run_deep()

    assert error is None, output
    assert finding("search.requires_language") is None
    assert "search.requires_language: deleted" in probe_line(output, "search language")


def test_it_finds_a_search_that_ignores_the_conversation_filter(variant_org):
    with variant_org("search_ignores_conversation_filter"):
        output, error = run_deep()

    assert error is None, output
    assert finding("search.conversation_filter").value == {"filters": False}
    line = probe_line(output, "search conversationId filter")
    assert "NOTE" in line and "an id that cannot exist returned" in line and "drops hits" in line


def test_it_reports_an_unreadable_division_naming_the_permission(variant_org):
    from reviews.models import Division

    with variant_org("division_restricted", conversations=40) as emulator:
        output, error = run_deep()
        denied_id = next(iter(emulator.denied_division_ids))

    assert error is None, output  # a division denial is the org's shape, not a failed required check
    divisions = finding("divisions.readable").value
    denied = [d for d in divisions["divisions"] if d["readable"] is False]
    assert [d["id"] for d in denied] == [denied_id]
    assert denied[0]["permissions"] == ["recording:recording:view"]
    assert denied[0]["code"] == "missing.division.permissions"
    line = probe_line(output, "divisions readable")
    name = Division.objects.get(genesys_id=denied_id).name
    assert "WARN" in line and "recording:recording:view" in line and name and name in line
    assert "become restricted" in line


def test_it_stores_a_queue_without_transcription(variant_org):
    from reviews.models import Conversation, Queue
    from reviews.pipeline import org

    with variant_org("untranscribed_queue", conversations=40) as emulator:
        queue_id = emulator.dataset.untranscribed_queue_id
        other = next(q["id"] for q in emulator.dataset.queues if q["id"] != queue_id)
        Queue.objects.create(genesys_id=other, name="Name the operator chose")
        output, error = run_deep()
        queue_name = next(q["name"] for q in emulator.dataset.queues if q["id"] == queue_id)

    assert error is None, output
    queue = Queue.objects.get(genesys_id=queue_id)
    assert queue.transcription_enabled is False and queue.name == queue_name
    assert Queue.objects.get(genesys_id=other).name == "Name the operator chose"  # never overwritten
    assert f"queue {queue_name} has no transcription: its calls go to audio at once" in output
    # The pipeline decides from exactly these rows.
    mode = finding("transcription.settings").value["transcription"]
    call = Conversation(genesys_id="c", started_at=NOW, queue=queue)
    assert org.no_transcript_reason(call, mode=mode) == f"queue {queue_name} has transcription disabled"


def test_it_reports_gzip_transcripts(variant_org):
    with variant_org("gzip_transcripts"):
        output, error = run_deep()

    assert error is None, output
    assert finding("download.headers").value["content_encoding"] == "gzip"
    line = probe_line(output, "transcript download")
    assert "Content-Encoding gzip" in line and "decodes them while parsing" in line


def test_it_reports_several_urls_per_leg(variant_org):
    with variant_org("multi_segment", conversations=40):
        output, error = run_deep()

    assert error is None, output
    shape = finding("transcripts.shape").value
    assert shape["max_urls_per_leg"] > 1
    assert any(int(count) > 1 for count in shape["urls_per_leg"])
    assert "several parts, all kept" in probe_line(output, "transcript URLs per leg")


def test_it_reports_each_endpoints_allowance(variant_org):
    with variant_org("endpoint_allowances"):
        output, error = run_deep()

    assert error is None, output
    allowances = finding("ratelimit.allowances").value
    assert allowances["by_endpoint"]["sta.transcripts.search"] == 20
    assert allowances["by_endpoint"]["sta.transcripturls"] == 120
    assert allowances["by_endpoint"]["analytics.details.query"] == 300
    assert allowances["client_wide"] == 300
    line = probe_line(output, "rate-limit allowances")
    assert "sta.transcripts.search 20/min" in line and "own buckets" in line


def test_it_tolerates_an_org_with_no_recent_calls(variant_org):
    with variant_org("clean", now=NOW + timedelta(days=3)):
        output, error = run_deep()

    assert error is None, output
    assert "no recorded call ended in the last 24 h" in probe_line(output, "transcript URLs per leg")
    assert "SKIP" in probe_line(output, "search conversationId filter")
    assert finding("transcripts.shape") is None


def test_it_prints_everything_as_one_json_object_without_a_presigned_url(variant_org):
    with variant_org("expired_token_urls"):
        document = deep_json()

    assert {"checks", "database", "deep", "findings", "ok"} <= set(document)
    assert document["ok"] is True
    probes = {row["probe"]: row for row in document["deep"]}
    download = probes["transcript download"]["finding"]
    assert download["security_token"] is True and download["expired"] == "ExpiredToken"
    text = str(document)
    assert "X-Amz-Signature" not in text and "X-Amz-Security-Token=" not in text
    assert document["findings"]["download.headers"]["host"] == "127.0.0.1"


def test_it_reports_a_failing_search_without_learning_from_it(variant_org):
    from reviews.pipeline import org

    org.remember("search.requires_language", {"required": True}, now=NOW)
    with variant_org("search_unavailable"):
        output, error = run_deep()

    assert error is not None  # the plain transcript search check is required and fails
    line = probe_line(output, "search language")
    assert "WARN" in line and "HTTP 503" in line and "probes every due conversation directly" in line
    assert "SKIP" in probe_line(output, "search conversationId filter")
    assert "SKIP" in probe_line(output, "search hit keys")
    assert finding("search.requires_language") is not None  # a failed search proves nothing either way
    assert finding("transcripts.shape") is not None  # the other probes still ran


def test_it_reports_content_search_off(variant_org):
    with variant_org("search_empty"):
        output, error = run_deep()

    assert error is None, output
    assert finding("transcription.settings").value["contentSearchEnabled"] is False
    line = probe_line(output, "transcription settings")
    assert "NOTE" in line and "content search off" in line and "probes each conversation directly" in line


def test_it_reports_a_bare_division_denial(variant_org):
    with variant_org("division_restricted_bare", conversations=40):
        output, error = run_deep()

    assert error is None, output
    denied = [d for d in finding("divisions.readable").value["divisions"] if d["readable"] is False]
    assert len(denied) == 1 and denied[0]["permissions"] == [] and denied[0]["code"] == "not.authorized"
    assert "no permission named (403 not.authorized)" in probe_line(output, "divisions readable")
