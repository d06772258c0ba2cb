"""SIGKILL the whole qcluster process group while transcripts are downloading, restart it, and end in
the same final state as an undisturbed run: every ready transcript stored once, leases reclaimed, the
compliance outbox delivered under the original keys.

The kill loses whatever the broker had handed to the workers (Redis has no delivery receipts). That is
harmless only if all state lives in the database; the restarted cluster must finish from there alone.
"""

from __future__ import annotations

from collections import Counter
from contextlib import ExitStack
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
    environment,
    expected_stored,
    final_snapshot,
    postgres_unreachable,
    redis_unreachable,
    run_manage,
    scratch_database,
    scratch_redis,
    settled_stored,
    wait_for,
    webhook_violations,
)

SEED = 31
CONVERSATIONS = 60
UNTIL = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)
SINCE = UNTIL - timedelta(hours=4)
REDIS_DB = 14


def _services_missing() -> str | None:
    return postgres_unreachable() or redis_unreachable()


@pytest.fixture(
    params=[
        pytest.param(
            "postgres-redis", marks=pytest.mark.skipif(bool(_services_missing()), reason=str(_services_missing()))
        ),
        "sqlite-orm",
    ]
)
def backend(request, tmp_path):
    """(Database to inspect, DATABASE_URL, REDIS_URL) for the workers."""
    with ExitStack() as stack:
        if request.param == "postgres-redis":
            database_url = stack.enter_context(scratch_database())
            redis_url = stack.enter_context(scratch_redis(REDIS_DB))
            yield Database(database_url), database_url, redis_url
        else:  # SQLite in WAL mode under DATA_DIR, the django-q2 ORM broker, the database rate limiter
            yield Database(tmp_path / "data" / "transcript_vault.sqlite3"), None, None


@pytest.mark.slow
def test_it_finishes_after_a_sigkill_mid_download_without_duplicates(backend, tmp_path):
    db, database_url, redis_url = backend
    # Large transcripts (4 MB, slow API) keep a download in flight most of the time, so the kill hits one.
    dataset = generate_dataset(SEED, CONVERSATIONS, SINCE, UNTIL, large=4, large_mb=4, malformed=1)
    stored = expected_stored(dataset)
    emulator = Emulator(dataset, seed=SEED, faults="slow")
    with WebhookReceiver() as receiver, emulator.serve() as base_url:
        env = environment(
            data_dir=tmp_path / "data",
            database_url=database_url,
            redis_url=redis_url,
            base_url=base_url,
            COMPLIANCE_WEBHOOK_URL=receiver.url,
            COMPLIANCE_WEBHOOK_SECRET=WEBHOOK_SECRET,
        )
        run_manage("migrate", "--noinput", env=env)

        # First life: one cluster (and its dispatcher), killed with SIGKILL mid-download.
        first = [
            Process.manage("qcluster", env=env, log=tmp_path / "cluster-1.log"),
            Process.ticker(env=env, log=tmp_path / "ticker-1.log"),
        ]
        try:

            def downloading() -> bool:
                assert all(p.alive() for p in first), "\n".join(p.tail() for p in first)
                in_flight = db.scalar(
                    "select count(*) from reviews_conversation where state = 'downloading' "
                    "and needs_manual_review = %s and lease_token != ''",
                    (False,),
                )
                return db.transcripts() >= 5 and in_flight > 0

            wait_for(
                downloading, timeout=40, interval=0.05, what="a transcript download in flight", progress=db.progress
            )
        finally:
            for process in first:
                process.kill_group()
        at_kill = {
            "transcripts": db.transcripts(),
            "leased": dict(db.rows("select genesys_id, state from reviews_conversation where lease_token != ''")),
            "outbox_leased": db.scalar(
                "select count(*) from reviews_outboxmessage where state = 'pending' and lease_expires_at is not null"
            ),
            "staging_files": len(list((tmp_path / "data" / "blobs" / "tmp").glob("*"))),
        }
        assert 0 < at_kill["transcripts"] < len(stored), at_kill
        # The kill follows a download seen in flight; on a loaded machine that download may finish
        # before the signal lands, so whether one was cut is reported (below) rather than required.

        # Second life: the same cluster restarted; nothing is re-enqueued by hand.
        second = [
            Process.manage("qcluster", env=env, log=tmp_path / "cluster-2.log"),
            Process.ticker(env=env, log=tmp_path / "ticker-2.log"),
        ]
        try:

            def conversations_final() -> bool:
                assert all(p.alive() for p in second), "\n".join(p.tail() for p in second)
                states = db.states()
                return len(states) == CONVERSATIONS and not set(ACTIVE_STATES) & set(states.values())

            recovered_in = wait_for(
                conversations_final, timeout=50, what="every conversation final after the restart", progress=db.progress
            )
            # An outbox row claimed by a killed relay is leased for COMPLIANCE_LEASE_SECONDS (10 minutes) and only
            # then claimable again. Let that time pass in the database instead of on the wall clock.
            stranded = db.execute(
                "update reviews_outboxmessage set lease_expires_at = %s where state = 'pending' "
                "and lease_expires_at is not null and lease_expires_at > %s",
                (datetime.now(UTC) - timedelta(seconds=1), datetime.now(UTC)),
            )
            wait_for(
                lambda: db.scalar("select count(*) from reviews_outboxmessage where state != 'delivered'") == 0,
                timeout=20,
                what="the compliance outbox delivered",
                progress=db.progress,
            )
        finally:
            for process in second:
                process.stop()
        final = final_snapshot(db)
        stored_lines = [
            Counter(STORED_LINE.findall((tmp_path / f"cluster-{n}.log").read_text(errors="replace"))) for n in (1, 2)
        ]
    stored = settled_stored(final["states"], dataset)

    print(
        f"\nsigkill [{'postgres+redis' if redis_url else 'sqlite+orm'}]: {CONVERSATIONS} conversations, "
        f"{len(stored)} transcripts; at the kill {at_kill['transcripts']} stored, {len(at_kill['leased'])} leased "
        f"({Counter(at_kill['leased'].values())}), {at_kill['outbox_leased']} outbox rows leased, "
        f"{at_kill['staging_files']} staging files; recovered in {recovered_in:.1f}s, stranded outbox rows "
        f"{stranded}; stored per life {[sum(c.values()) for c in stored_lines]}; webhook deliveries "
        f"{len(receiver.deliveries)} for {len(stored)} versions"
    )
    assert_matches_ground_truth(final, dataset=dataset, stored=stored)
    assert final["leased"] == 0  # every lease the killed cluster held was reclaimed and released
    audio_only = set(final["states"]) - set(stored)
    assert audio_only <= final["recordings"], sorted(audio_only - final["recordings"])
    assert final["recordings"] - audio_only <= set(expected_stored(dataset, delayed=True)), final["recordings"]
    # The restarted cluster did real work, and no conversation was stored in both lives.
    assert stored_lines[1], "the restarted cluster stored nothing"
    # A SIGKILL can land between a commit and its log line, so the logs may miss one of the first
    # life's stores; the database checks above already prove each transcript is stored exactly once.
    logged = sum(stored_lines, Counter())
    assert set(logged) <= set(stored)
    assert all(count == 1 for count in logged.values()), "a conversation was stored in both lives"
    assert final["outbox"] == {("filesystem", "delivered"): len(stored), ("webhook", "delivered"): len(stored)}
    assert receiver.bad_signatures == 0
    assert webhook_violations(receiver.deliveries) == {
        "versions_under_several_ids": {},
        "ids_with_several_bodies": {},
        "ids_for_several_versions": {},
    }
    assert {d.webhook_id for d in receiver.accepted()} == final["webhook_keys"]
