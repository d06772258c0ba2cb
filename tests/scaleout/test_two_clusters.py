"""Two qcluster processes at once against one PostgreSQL and one Redis: nothing is ingested twice, no
compliance record is sent twice under different keys, and together they stay inside one rate allowance."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from genesys.emulator import Emulator, generate_dataset
from tests.scaleout.support import (
    ACTIVE_STATES,
    STORED_LINE,
    WEBHOOK_SECRET,
    Database,
    Process,
    WebhookReceiver,
    assert_matches_ground_truth,
    bucket_overrun,
    environment,
    expected_stored,
    final_snapshot,
    postgres_unreachable,
    record_api_requests,
    redis_unreachable,
    run_manage,
    scratch_database,
    scratch_redis,
    settled_stored,
    wait_for,
    webhook_violations,
)

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(bool(postgres_unreachable()), reason=postgres_unreachable() or "PostgreSQL reachable"),
    pytest.mark.skipif(bool(redis_unreachable()), reason=redis_unreachable() or "Redis reachable"),
]

SEED = 23
CONVERSATIONS = 160  # more than one claim (100 rows), so the clusters' workers split the backlog
# A backlog from a few hours ago: every transcript that will ever arrive in time has arrived.
UNTIL = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)
SINCE = UNTIL - timedelta(hours=4)
# The shared allowance. Low enough to bind: the run needs more calls than one bucket holds (~200).
RATE_PER_MINUTE = 150
HEADROOM = 0.9
REDIS_DB = 13
# About 250 Genesys calls at 135 a minute: each of the 40 calls without a ready transcript gets one direct
# probe before its audio fallback (no transcript depends on the search alone), on top of the searches,
# 120 transcripturls and the batch audio, plus one recording poll a second while a recording transcodes. That is
# about two minutes on a quiet machine; the wait is a hang guard, not a speed claim, so it allows for a loaded one.
FINISH_WITHIN_SECONDS = 360


@pytest.mark.slow
def test_it_runs_two_clusters_at_once_without_duplicates_or_rate_overrun(tmp_path):
    dataset = generate_dataset(SEED, CONVERSATIONS, SINCE, UNTIL, large=2, large_mb=2, malformed=2)
    stored = expected_stored(dataset)
    emulator = Emulator(dataset, seed=SEED, rate_limit_per_minute=RATE_PER_MINUTE)
    api_log = record_api_requests(emulator)
    with (
        scratch_database() as database_url,
        scratch_redis(REDIS_DB) as redis_url,
        WebhookReceiver(fail_first_every=7) as receiver,
        emulator.serve() as base_url,
    ):
        env = environment(
            data_dir=tmp_path / "data",
            database_url=database_url,
            redis_url=redis_url,
            base_url=base_url,
            GENESYS_RATE_LIMIT_PER_MINUTE=str(RATE_PER_MINUTE),
            GENESYS_RATE_LIMIT_HEADROOM=str(HEADROOM),
            COMPLIANCE_WEBHOOK_URL=receiver.url,
            COMPLIANCE_WEBHOOK_SECRET=WEBHOOK_SECRET,
            Q_LOG_LEVEL="INFO",  # "Q Cluster … running." tells us each cluster is ready
        )
        run_manage("migrate", "--noinput", env=env)
        db = Database(database_url)

        clusters = [Process.manage("qcluster", env=env, log=tmp_path / f"cluster-{n}.log") for n in (1, 2)]
        # Work starts only when both clusters listen: on a busy machine one cluster can still be
        # importing Django while the other drains the whole queue, which would test only one.
        wait_for(
            lambda: all(" running." in (tmp_path / f"cluster-{n}.log").read_text(errors="replace") for n in (1, 2)),
            timeout=60,
            what="both clusters running",
        )
        ticker = Process.ticker(env=env, log=tmp_path / "ticker.log")
        processes = [*clusters, ticker]
        try:

            def finished() -> bool:
                assert all(p.alive() for p in processes), "\n".join(p.tail() for p in processes)
                states = db.states()
                pending = db.scalar("select count(*) from reviews_outboxmessage where state != 'delivered'")
                return (
                    len(states) == CONVERSATIONS
                    and not set(ACTIVE_STATES) & set(states.values())
                    and db.transcripts() == list(states.values()).count("stored")
                    and pending == 0
                )

            elapsed = wait_for(
                finished,
                timeout=FINISH_WITHIN_SECONDS,
                what="every conversation final, outbox empty",
                progress=db.progress,
            )
        finally:
            for process in processes:
                process.stop()
        final = final_snapshot(db)
        logs = [cluster.log.read_text(errors="replace") for cluster in clusters]

    stored_by_cluster = [Counter(STORED_LINE.findall(log)) for log in logs]
    stored = settled_stored(final["states"], dataset)
    deliveries = receiver.deliveries
    accepted = receiver.accepted()
    times = api_log.times()
    capacity = RATE_PER_MINUTE * HEADROOM
    overrun = bucket_overrun(times, capacity=capacity, refill_per_second=capacity / 60)
    print(
        f"\ntwo clusters: {CONVERSATIONS} conversations, {len(stored)} transcripts in {elapsed:.1f}s; "
        f"stored per cluster {[sum(c.values()) for c in stored_by_cluster]}; "
        f"webhook deliveries {len(deliveries)} ({len(accepted)} accepted, {len(deliveries) - len(accepted)} 503s); "
        f"API calls {len(times)} {dict(api_log.by_endpoint())}, 429s {api_log.statuses(429)}, bucket overrun {overrun:.2f}"
    )

    assert_matches_ground_truth(final, dataset=dataset, stored=stored)
    assert final["leased"] == 0
    # Both clusters ingested, and no conversation was stored by both (or twice by one).
    assert all(stored_by_cluster), "one cluster did no ingestion: the test did not exercise two clusters"
    assert sum(stored_by_cluster, Counter()) == Counter(list(stored))
    # The outbox: one row per sink per transcript version, all delivered.
    assert final["outbox"] == {("filesystem", "delivered"): len(stored), ("webhook", "delivered"): len(stored)}
    # The receiver: every version exactly once under one id; retries repeat the id with identical bytes.
    assert receiver.bad_signatures == 0
    assert webhook_violations(deliveries) == {
        "versions_under_several_ids": {},
        "ids_with_several_bodies": {},
        "ids_for_several_versions": {},
    }
    assert {d.version[:2] for d in accepted} == {(gid, comm) for gid, (comm, _) in stored.items()}
    assert {d.webhook_id for d in accepted} == final["webhook_keys"]
    # One shared allowance: no 429 and never more requests than one token bucket grants (2 requests of
    # slack for arrival-order jitter), although the run needed more than one bucketful.
    assert api_log.statuses(429) == 0
    assert len(times) > capacity
    assert overrun <= 2
    # No work done twice behind an expired lease: about one transcripturls call per ready document, plus the
    # one direct probe each other conversation gets before its audio fallback.
    documents = sum(1 for c in dataset.conversations if c.transcript is not None and not c.transcript.delayed)
    transcript_urls = sum(n for path, n in api_log.by_endpoint().items() if path.endswith("/transcripturls"))
    assert transcript_urls <= documents * 1.05 + 2 + (CONVERSATIONS - documents), (transcript_urls, documents)
