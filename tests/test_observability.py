from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from prometheus_client import REGISTRY, CollectorRegistry, generate_latest

from reviews import observability
from reviews.models import Conversation, OutboxMessage, Transcript


@dataclass
class Event:
    """Shaped like genesys.client.RequestEvent."""

    endpoint: str
    method: str = "GET"
    status: int | None = 200
    seconds: float = 0.2
    retry: bool = False
    bytes: int = 0
    context_id: str | None = None


def sample(name: str, **labels) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_it_counts_genesys_requests_by_endpoint_and_status():
    before = {
        "ok": sample("genesys_api_requests_total", endpoint="sta.transcripturl", status="200"),
        "limited": sample("genesys_api_requests_total", endpoint="sta.transcripturl", status="429"),
        "rate_limited": sample("genesys_rate_limited_total"),
        "retries": sample("genesys_retries_total"),
        "bytes": sample("genesys_download_bytes_total"),
        "timings": sample("genesys_request_seconds_count", endpoint="sta.transcripturl"),
        "errors": sample("genesys_api_requests_total", endpoint="s3.download", status="error"),
    }

    observability.genesys_request_hook(Event("sta.transcripturl", status=429))
    observability.genesys_request_hook(Event("sta.transcripturl", status=200, retry=True))
    observability.genesys_request_hook(Event("s3.download", status=None, bytes=4096, retry=True))

    assert sample("genesys_api_requests_total", endpoint="sta.transcripturl", status="200") == before["ok"] + 1
    assert sample("genesys_api_requests_total", endpoint="sta.transcripturl", status="429") == before["limited"] + 1
    assert sample("genesys_api_requests_total", endpoint="s3.download", status="error") == before["errors"] + 1
    assert sample("genesys_rate_limited_total") == before["rate_limited"] + 1
    assert sample("genesys_retries_total") == before["retries"] + 2
    assert sample("genesys_download_bytes_total") == before["bytes"] + 4096
    assert sample("genesys_request_seconds_count", endpoint="sta.transcripturl") == before["timings"] + 2


def test_it_observes_store_and_availability_latency_in_seconds():
    transcript = Transcript(availability_latency_ms=90_000, store_latency_ms=2_500)
    before_sum = sample("transcript_availability_latency_seconds_sum")
    before_store = sample("transcript_pipeline_latency_seconds_sum", stage="store")

    observability.observe_transcript_stored(transcript)

    assert sample("transcript_availability_latency_seconds_sum") == pytest.approx(before_sum + 90.0)
    assert sample("transcript_pipeline_latency_seconds_sum", stage="store") == pytest.approx(before_store + 2.5)


def test_it_observes_deliver_latency_from_stored_to_delivered():
    stored = datetime(2025, 6, 15, 10, tzinfo=UTC)
    message = OutboxMessage(
        sink="webhook", transcript=Transcript(stored_at=stored), delivered_at=stored + timedelta(seconds=42)
    )
    before = sample("transcript_pipeline_latency_seconds_sum", stage="deliver")
    delivered = sample("compliance_deliveries_total", sink="webhook", outcome="delivered")

    observability.observe_delivery(message)

    assert sample("transcript_pipeline_latency_seconds_sum", stage="deliver") == pytest.approx(before + 42.0)
    assert sample("compliance_deliveries_total", sink="webhook", outcome="delivered") == delivered + 1


@pytest.mark.django_db
def test_it_reads_backlog_gauges_from_the_database(settings):
    settings.COMPLIANCE_SINKS = ["filesystem"]
    start = datetime(2025, 6, 15, 9, tzinfo=UTC)
    for number, state in enumerate(["stored", "stored", "awaiting_transcript"]):
        Conversation.objects.create(genesys_id=f"c{number}", started_at=start, state=state)
    registry = CollectorRegistry()
    registry.register(observability.BacklogCollector())

    text = generate_latest(registry).decode()

    assert 'transcript_vault_conversations{state="stored"} 2.0' in text
    assert 'transcript_vault_conversations{state="awaiting_transcript"} 1.0' in text
    assert 'transcript_vault_conversations{state="failed"} 0.0' in text
    assert 'transcript_vault_outbox_messages{sink="filesystem",state="pending"} 0.0' in text
    assert "transcript_vault_outbox_dead_letters 0.0" in text


def _scrape() -> str:
    registry = CollectorRegistry()
    registry.register(observability.BacklogCollector())
    return generate_latest(registry).decode()


@pytest.mark.django_db
def test_it_exports_a_gauge_for_every_pipeline_state_including_the_new_ones():
    start = datetime(2025, 6, 15, 9, tzinfo=UTC)
    Conversation.objects.create(genesys_id="r", started_at=start, state="restricted")
    text = _scrape()
    assert 'transcript_vault_conversations{state="restricted"} 1.0' in text
    for state in ("awaiting_audio", "archived", "audio_unavailable"):
        assert f'transcript_vault_conversations{{state="{state}"}} 0.0' in text


@pytest.mark.django_db
def test_it_exports_search_health_from_the_genesys_finding():
    from django.utils import timezone

    from reviews.models import GenesysFinding

    now = timezone.now()
    GenesysFinding.objects.create(
        key="search.health",
        value={
            "ok_at": (now - timedelta(seconds=120)).isoformat(),
            "failed_at": now.isoformat(),
            "failures": 3,
            "cooldown_until": (now + timedelta(minutes=5)).isoformat(),
            "last_error": "HTTP 500",
        },
    )
    text = _scrape()
    assert "transcript_vault_search_healthy 0.0" in text
    assert "transcript_vault_search_consecutive_failures 3.0" in text
    assert "transcript_vault_search_in_cooldown 1.0" in text
    (age,) = [
        float(line.split()[1]) for line in text.splitlines() if line.startswith("transcript_vault_search_last_ok")
    ]
    assert 120 <= age < 180
    assert "transcript_vault_search_last_listed_age_seconds" not in text  # never listed: no made-up age


@pytest.mark.django_db
def test_it_reports_a_search_that_never_ran_as_healthy_without_an_age():
    text = _scrape()
    assert "transcript_vault_search_healthy 1.0" in text
    assert "transcript_vault_search_consecutive_failures 0.0" in text
    assert "transcript_vault_search_last_ok_age_seconds" not in text


@pytest.mark.django_db
def test_it_counts_batch_jobs_per_state():
    from reviews.models import BatchJob

    start = datetime(2025, 6, 15, 9, tzinfo=UTC)
    BatchJob.objects.create(job_id="a", submitted_at=start)
    BatchJob.objects.create(job_id="b", submitted_at=start, state="lost")
    text = _scrape()
    assert 'transcript_vault_batch_jobs{state="pending"} 1.0' in text
    assert 'transcript_vault_batch_jobs{state="lost"} 1.0' in text
    assert 'transcript_vault_batch_jobs{state="abandoned"} 0.0' in text
