"""Acceptance: after an emulator run, /metrics shows non-zero API, latency and backlog series, and the
per-transcript metrics match values computed by hand from the emulator's document."""

from __future__ import annotations

import hashlib
import json
import statistics

import pytest
from prometheus_client.parser import text_string_to_metric_families

from genesys.emulator.documents import iter_document
from reviews.models import Conversation, Transcript
from reviews.observability import genesys_request_hook
from reviews.pipeline import run_backfill
from tests.pipeline.support import WINDOW_END, WINDOW_START, make_client, running_world

TOKEN = "metrics-test-token"
MAX_WAIT = 6 * 3600.0  # fake-clock seconds


def scrape(client) -> dict[tuple[str, tuple], float]:
    response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert response.status_code == 200, response.content[:200]
    samples = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def total(samples: dict, name: str, **labels) -> float:
    """Sum of `name` over every label set that includes `labels`."""
    wanted = set(labels.items())
    return sum(value for (sample, label_set), value in samples.items() if sample == name and wanted <= set(label_set))


def by_hand(document: dict, *, threshold: float) -> dict:
    """The Transcript metric fields, straight from the document JSON (no parser, no accumulator)."""
    phrases = [phrase for transcript in document["transcripts"] for phrase in transcript["phrases"]]
    words = [word for phrase in phrases for word in phrase.get("words") or []]
    confidences = [word["confidence"] for word in words if isinstance(word.get("confidence"), int | float)]
    stabilities = [phrase["stability"] for phrase in phrases if isinstance(phrase.get("stability"), int | float)]

    def talk(purpose: str) -> int:
        return sum(p["duration"]["milliseconds"] for p in phrases if p.get("participantPurpose") == purpose)

    return {
        "utterance_count": len(phrases),
        "word_count": len(words),
        "speaker_count": len({phrase.get("participantPurpose") or "" for phrase in phrases}),
        "confidence_mean": sum(confidences) / len(confidences),
        "confidence_median": statistics.median(confidences),
        "low_confidence_share": sum(1 for c in confidences if c < threshold) / len(confidences),
        "phrase_stability_mean": sum(stabilities) / len(stabilities),
        "talk_ms_internal": talk("internal"),
        "talk_ms_external": talk("external"),
    }


@pytest.mark.django_db(transaction=True)  # real commits: the stored-transcript observation runs on_commit
def test_it_shows_api_latency_and_backlog_series_and_hand_checked_transcript_metrics(client, settings):
    settings.METRICS_BEARER_TOKEN = TOKEN
    settings.PROMETHEUS_MULTIPROC_DIR = ""
    before = scrape(client)

    with running_world(conversations=20, large=0, malformed=1) as world:
        genesys = make_client(base_url=world.base_url, clock=world.clock, on_request=genesys_request_hook)
        summary = run_backfill(
            client=genesys, since=WINDOW_START, until=WINDOW_END, clock=world.clock, max_wait=MAX_WAIT
        )
        after = scrape(client)

        assert summary.finished
        stored = Conversation.objects.filter(state=Conversation.State.STORED).count()
        assert stored >= 10

        # API traffic: every attempt the client made went through the hook (counters are process-global).
        api_requests = total(after, "genesys_api_requests_total") - total(before, "genesys_api_requests_total")
        assert api_requests >= summary.api_calls > 0
        for endpoint in ("analytics.details.query", "sta.transcripturls", "routing.queues", "users.list"):
            grew = total(after, "genesys_api_requests_total", endpoint=endpoint) - total(
                before, "genesys_api_requests_total", endpoint=endpoint
            )
            assert grew >= 1, endpoint
        assert (
            total(after, "genesys_api_requests_total", endpoint="s3.download")
            - total(before, "genesys_api_requests_total", endpoint="s3.download")
            >= stored
        )
        assert total(after, "genesys_download_bytes_total") > total(before, "genesys_download_bytes_total")

        # Latencies: one availability and one store observation per stored transcript, deliveries too.
        availability = total(after, "transcript_availability_latency_seconds_count") - total(
            before, "transcript_availability_latency_seconds_count"
        )
        store = total(after, "transcript_pipeline_latency_seconds_count", stage="store") - total(
            before, "transcript_pipeline_latency_seconds_count", stage="store"
        )
        deliver = total(after, "transcript_pipeline_latency_seconds_count", stage="deliver") - total(
            before, "transcript_pipeline_latency_seconds_count", stage="deliver"
        )
        assert availability == store == stored
        assert deliver >= stored  # one filesystem sink: every stored transcript was delivered
        availability_sum = total(after, "transcript_availability_latency_seconds_sum") - total(
            before, "transcript_availability_latency_seconds_sum"
        )
        expected_sum = sum(t.availability_latency_ms for t in Transcript.objects.all()) / 1000
        assert availability_sum == pytest.approx(expected_sum, abs=0.01)

        # Backlog gauges are read from the database at scrape time.
        assert after[("transcript_vault_conversations", (("state", "stored"),))] == stored > 0
        assert after[("transcript_vault_conversations", (("state", "audio_fallback"),))] >= 1

        # One stored transcript, checked field by field against the emulator's document bytes.
        transcript = Transcript.objects.select_related("conversation").order_by("conversation__genesys_id").first()
        sim = world.dataset.conversation(transcript.conversation.genesys_id)
        raw = b"".join(iter_document(world.dataset, sim))
        assert hashlib.sha256(raw).hexdigest() == transcript.sha256  # the very bytes that were stored
        expected = by_hand(json.loads(raw), threshold=settings.LOW_CONFIDENCE_THRESHOLD)

    assert expected["speaker_count"] == 2 and expected["word_count"] > 50
    for field in ("utterance_count", "word_count", "speaker_count", "talk_ms_internal", "talk_ms_external"):
        assert getattr(transcript, field) == expected[field], field
    for field in ("confidence_mean", "confidence_median", "low_confidence_share", "phrase_stability_mean"):
        assert getattr(transcript, field) == pytest.approx(expected[field], abs=1e-6), field


def test_it_builds_the_production_client_with_the_metrics_hook(settings):
    from reviews.genesys_factory import build_client

    settings.GENESYS_RATE_LIMIT_BACKEND = "memory"
    assert build_client().on_request is genesys_request_hook
    custom = [].append
    assert build_client(on_request=custom).on_request is custom
