"""Prometheus metrics: Genesys client traffic, pipeline latencies, compliance deliveries, backlogs.

Counters and histograms live in prometheus_client's default registry. With PROMETHEUS_MULTIPROC_DIR
set (gunicorn workers plus the django-q cluster and its forked workers, and `make demo`'s foreground
ingest), every process writes them to files in that directory and the /metrics view adds them up with
MultiProcessCollector, a process that exited included (its counts happened). The directory must be
emptied only while none of them runs (docs/deploy.md, Metrics; bin/demo.py does it at each start;
gunicorn.conf.py gives its workers a private one when the variable is not set).

Backlog gauges are not process state at all: BacklogCollector reads them from the database at scrape
time, so they are correct however many processes run. A process-state Gauge added here must say how
processes combine (Gauge(..., multiprocess_mode="livesum" or "max", ...)): the default, "all", exports
one series per pid, dead ones included.
"""

from __future__ import annotations

from prometheus_client import Counter, Histogram
from prometheus_client.core import GaugeMetricFamily

# Seconds; spans a fast API call up to the two-day transcript deadline.
LATENCY_BUCKETS = (
    0.05,
    0.1,
    0.25,
    0.5,
    1,
    2.5,
    5,
    10,
    30,
    60,
    120,
    300,
    600,
    1800,
    3600,
    4 * 3600,
    12 * 3600,
    48 * 3600,
)
REQUEST_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)

genesys_api_requests = Counter(
    "genesys_api_requests", "Genesys API requests by endpoint template and HTTP status", ["endpoint", "status"]
)
genesys_rate_limited = Counter("genesys_rate_limited", "Genesys answers with HTTP 429")
genesys_retries = Counter("genesys_retries", "Genesys requests that were retries of an earlier attempt")
genesys_download_bytes = Counter("genesys_download_bytes", "Bytes downloaded from Genesys pre-signed URLs")
genesys_request_seconds = Histogram(
    "genesys_request_seconds", "Genesys request duration", ["endpoint"], buckets=REQUEST_BUCKETS
)
transcript_availability_latency_seconds = Histogram(
    "transcript_availability_latency_seconds",
    "Conversation end to transcript first available in Genesys",
    buckets=LATENCY_BUCKETS,
)
transcript_pipeline_latency_seconds = Histogram(
    "transcript_pipeline_latency_seconds",
    "store: first available to stored; deliver: stored to delivered to a compliance sink",
    ["stage"],
    buckets=LATENCY_BUCKETS,
)
compliance_deliveries = Counter(
    "compliance_deliveries", "Compliance delivery attempts by sink and outcome", ["sink", "outcome"]
)


def genesys_request_hook(event) -> None:
    """GenesysClient(on_request=genesys_request_hook): one call per HTTP attempt (RequestEvent)."""
    status = str(event.status) if event.status is not None else "error"
    genesys_api_requests.labels(endpoint=event.endpoint, status=status).inc()
    genesys_request_seconds.labels(endpoint=event.endpoint).observe(max(event.seconds, 0.0))
    if event.status == 429:
        genesys_rate_limited.inc()
    if event.retry:
        genesys_retries.inc()
    if event.bytes:
        genesys_download_bytes.inc(event.bytes)


def observe_transcript_stored(transcript) -> None:
    """Call once per newly stored transcript, after its transaction commits."""
    if transcript.availability_latency_ms is not None:
        transcript_availability_latency_seconds.observe(max(transcript.availability_latency_ms, 0) / 1000)
    if transcript.store_latency_ms is not None:
        transcript_pipeline_latency_seconds.labels(stage="store").observe(max(transcript.store_latency_ms, 0) / 1000)


def observe_delivery(message) -> None:
    """A delivered outbox row: deliver latency is delivered_at minus the transcript's stored_at."""
    compliance_deliveries.labels(sink=message.sink, outcome="delivered").inc()
    seconds = (message.delivered_at - message.transcript.stored_at).total_seconds()
    transcript_pipeline_latency_seconds.labels(stage="deliver").observe(max(seconds, 0.0))


def observe_delivery_failure(message, *, verdict: str) -> None:
    compliance_deliveries.labels(sink=message.sink, outcome=verdict).inc()


def _search_health_gauges():
    """The transcript search's health (GenesysFinding "search.health"): the pipeline probes conversations
    directly while it fails, so a failing search is slower discovery, not lost transcripts."""
    from django.utils import timezone

    from reviews.pipeline.org import search_health  # loaded at scrape time: the pipeline imports the client

    health = search_health()
    now = timezone.now()
    yield GaugeMetricFamily(
        "transcript_vault_search_healthy",
        "1 when the last Genesys transcript search succeeded (or none ran yet), 0 while it fails",
        value=1 if health.healthy else 0,
    )
    yield GaugeMetricFamily(
        "transcript_vault_search_consecutive_failures",
        "Genesys transcript searches failed in a row",
        value=health.failures,
    )
    yield GaugeMetricFamily(
        "transcript_vault_search_in_cooldown",
        "1 while the search is paused after a failure and every due conversation is probed directly",
        value=0 if health.usable(now=now) else 1,
    )
    # Absent until the first success/listing: a made-up age would look like a real one on a dashboard.
    for name, moment, text in (
        ("transcript_vault_search_last_ok_age_seconds", health.ok_at, "Seconds since the last successful search"),
        (
            "transcript_vault_search_last_listed_age_seconds",
            health.listed_at,
            "Seconds since a search last listed at least one transcript",
        ),
    ):
        if moment is not None:
            yield GaugeMetricFamily(name, text, value=max((now - moment).total_seconds(), 0.0))


def _audit_chain_gauges():
    """The last audit chain check (reviews/audit_chain.py, nightly): absent until the first check, like the ages."""
    from django.utils import timezone
    from django.utils.dateparse import parse_datetime

    from reviews.audit_chain import last_check

    check = last_check()
    if check is None:
        return
    yield GaugeMetricFamily(
        "transcript_vault_audit_chain_intact",
        "1 when the last audit_verify found the audit trail's hash chain intact, 0 when it found a broken row",
        value=1 if check["ok"] else 0,
    )
    yield GaugeMetricFamily(
        "transcript_vault_audit_chain_checked_events", "Audit events the last check verified", value=check["checked"]
    )
    checked_at = parse_datetime(check["checked_at"])
    yield GaugeMetricFamily(
        "transcript_vault_audit_chain_last_check_age_seconds",
        "Seconds since the audit chain was last checked",
        value=max((timezone.now() - checked_at).total_seconds(), 0.0),
    )


class BacklogCollector:
    """Gauges computed from the database when /metrics is scraped (never stored per process)."""

    def collect(self):
        from django.db.models import Count

        from reviews.compliance.outbox import outbox_summary
        from reviews.models import BatchJob, Conversation

        conversations = GaugeMetricFamily(
            "transcript_vault_conversations", "Conversations per pipeline state", labels=["state"]
        )
        # Every state is exported, 0 included, so an alert on e.g. restricted > 0 has a series from the start.
        by_state = dict.fromkeys(Conversation.State.values, 0)
        by_state.update(Conversation.objects.order_by().values_list("state").annotate(count=Count("id")))
        for state, count in sorted(by_state.items()):
            conversations.add_metric([state], count)
        yield conversations

        batches = GaugeMetricFamily(
            "transcript_vault_batch_jobs", "Genesys recording batch download jobs per state", labels=["state"]
        )
        by_batch_state = dict.fromkeys(BatchJob.State.values, 0)
        by_batch_state.update(BatchJob.objects.order_by().values_list("state").annotate(count=Count("id")))
        for state, count in sorted(by_batch_state.items()):
            batches.add_metric([state], count)
        yield batches

        yield from _search_health_gauges()
        yield from _audit_chain_gauges()

        summary = outbox_summary()
        depth = GaugeMetricFamily(
            "transcript_vault_outbox_messages", "Compliance outbox rows per sink and state", labels=["sink", "state"]
        )
        oldest = GaugeMetricFamily(
            "transcript_vault_outbox_oldest_pending_age_seconds",
            "Age of the oldest pending compliance outbox row (0 when none is pending)",
            labels=["sink"],
        )
        for sink, counts in sorted(summary["sinks"].items()):
            for state in ("pending", "delivered", "dead"):
                depth.add_metric([sink, state], counts[state])
            oldest.add_metric([sink], counts["oldest_pending_age_seconds"] or 0.0)
        yield depth
        yield oldest
        yield GaugeMetricFamily(
            "transcript_vault_outbox_dead_letters", "Compliance deliveries that need a human", value=summary["dead"]
        )
