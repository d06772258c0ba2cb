"""Nothing readable of a leaked value is on disk after the vault ingested leaky transcripts (issue 11, PCI DSS 3.5).

The attack: someone who can read the server's disk (a backup, a stolen volume, a shell as another user) greps it
for the card numbers, SSNs, IBANs and e-mail addresses the Genesys masking missed. The SQLite database file, its
WAL and shared-memory files, the blob store (the original documents, call audio) and the compliance archive are
read byte for byte; the PostgreSQL variant reads the heap, TOAST and index files of the vault's tables. No form of
any value may be there: as said, without separators, digits only. Blobs and archived documents are encrypted
(AES-256-GCM, reviews/blobs.py), the database only ever receives masked text (reviews/pipeline/masking.py).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import connection
from django.db.utils import ConnectionHandler

from genesys.emulator.documents import iter_part_document
from reviews.encryption import generate_key_text
from tests.fixtures.leaky_transcripts import (
    CONVERSATIONS,
    KINDS,
    SEED,
    leaked_values,
    leaky_conversations,
    leaky_dataset,
)

ROOT = Path(__file__).resolve().parents[2]
# The surrounding run's variables (CI passes PostgreSQL, Redis and secrets): the child runs on embedded defaults.
_INHERITED_PREFIXES = ("GENESYS_", "COMPLIANCE_", "DATABASE_", "REDIS_", "SECRET_KEY", "VAULT_ENCRYPTION_", "DEBUG")
# Fake-clock pipeline timings, as in tests/pipeline/conftest.py.
PIPELINE_ENV = {
    "TRANSCRIPT_POLL_BASE_SECONDS": "30",
    "TRANSCRIPT_POLL_MAX_SECONDS": "1200",
    "TRANSCRIPT_DEADLINE_SECONDS": "3960",
    "PIPELINE_MAX_ATTEMPTS": "8",
    "PIPELINE_LEASE_SECONDS": "900",
}
DATABASE_NAME = "transcript_vault.sqlite3"


def leaks() -> list:
    """Every value the leaky conversations leaked (read from the emulator's script, not from the detector)."""
    return [leak for sim in leaky_conversations(leaky_dataset()) for leak in leaked_values(sim)]


def leaked_forms() -> dict[str, str]:
    """{form: what it is}: each value as said, without separators, digits only (tests/fixtures/leaky_transcripts)."""
    return {form: f"{leak.kind} of {leak.conversation_id}" for leak in leaks() for form in leak.forms}


def clear_phrases() -> list[str]:
    """Phrases of the leaky conversations that hold no PII (the agent's question before each leak): the vault
    stores them in clear, so finding them proves the grep reads the real data."""
    phrases = []
    for sim in leaky_conversations(leaky_dataset()):
        by_index = {phrase.index: phrase for phrase in sim.transcript.phrases}
        phrases += [by_index[leak["phraseIndex"] - 1].decorated for leak in sim.transcript.leaks]
    return phrases


def found_in(content: bytes, forms: dict[str, str]) -> list[str]:
    return [f"{form!r} ({what})" for form, what in forms.items() if form.encode() in content]


@pytest.fixture(scope="module")
def vault_on_disk(tmp_path_factory):
    """A vault process that ingested the leaky conversations, still running (database open): (DATA_DIR, its
    report, its log). The test reads the files while the child holds them."""
    data_dir = tmp_path_factory.mktemp("at-rest") / "data"
    env = {name: value for name, value in os.environ.items() if not name.startswith(_INHERITED_PREFIXES)}
    env.update(
        PIPELINE_ENV,
        DJANGO_SETTINGS_MODULE="transcripts_site.settings",
        DATA_DIR=str(data_dir),
        VAULT_ENCRYPTION_KEY=generate_key_text(),
        LOG_LEVEL="DEBUG",
        PYTHONUNBUFFERED="1",
    )
    log = data_dir.parent / "child.log"
    with open(log, "wb") as log_file:
        child = subprocess.Popen(
            [sys.executable, "-m", "tests.security.at_rest_child"],
            cwd=ROOT,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=log_file,
        )
        try:
            line = child.stdout.readline()
            assert line, f"the vault process ended early:\n{log.read_text(errors='replace')[-3000:]}"
            yield data_dir, json.loads(line), log
        finally:
            child.stdin.close()
            child.wait(timeout=60)


def test_it_ingested_the_leaky_conversations_through_the_whole_pipeline(vault_on_disk):
    data_dir, report, _ = vault_on_disk

    assert report["finished"], report
    assert report["leaks_found"] >= len(leaky_conversations(leaky_dataset())), report
    assert report["masked_utterances"] > 0 and report["recordings"] > 0, report
    assert report["delivered"] == report["transcripts"] > 0, report
    assert report["audio_delivered"] == report["recordings"], report  # archived encrypted, grepped below
    assert CONVERSATIONS == 60 and SEED == 11  # the dataset leaked_forms() reads is the one ingested


def test_it_leaves_no_leaked_value_readable_in_any_file_under_data_dir(vault_on_disk):
    data_dir, _, _ = vault_on_disk
    forms = leaked_forms()
    dataset = leaky_dataset()
    database = data_dir / DATABASE_NAME
    assert database.stat().st_size > 0
    assert (data_dir / f"{DATABASE_NAME}-wal").stat().st_size > 0  # the child holds the database open
    files = sorted(path for path in data_dir.rglob("*") if path.is_file())
    assert any(path.suffix == ".tvb" for path in files) and (data_dir / "compliance" / "manifest.jsonl") in files
    assert any("blobs/audio/" in str(path) for path in files)

    served = b"".join(
        b"".join(iter_part_document(dataset, sim, part)) for sim in leaky_conversations(dataset) for part in sim.parts
    )
    # Genesys served them in clear (a card number of each form, an SSN, ...): only the vault hides them.
    assert {leak.kind for leak in leaks() if leak.value.encode() in served} == set(KINDS)

    hits = {str(path.relative_to(data_dir)): found_in(path.read_bytes(), forms) for path in files}

    assert {path: found for path, found in hits.items() if found} == {}
    # The grep sees the data: the clear (PII-free) text of the same conversations is in the database or its WAL.
    stored = database.read_bytes() + (data_dir / f"{DATABASE_NAME}-wal").read_bytes()
    assert all(phrase.encode() in stored for phrase in clear_phrases())


def test_it_keeps_every_blob_and_archived_document_encrypted(vault_on_disk):
    data_dir, _, _ = vault_on_disk
    root = data_dir / "blobs"
    stored = [p for p in root.rglob("*") if p.is_file() and p.relative_to(root).parts[0] != "tmp"]
    archived = list((data_dir / "compliance").rglob("*.tvb"))

    assert stored and archived
    assert [p for p in stored + archived if not p.read_bytes().startswith(b"TVB1")] == []
    assert not list((data_dir / "blobs" / "tmp").iterdir())  # no staging file left behind, plaintext or not


def test_it_keeps_files_owner_only(vault_on_disk):
    data_dir, _, _ = vault_on_disk
    files = {p: p.stat().st_mode & 0o777 for p in data_dir.rglob("*") if p.is_file()}
    directories = {p: p.stat().st_mode & 0o777 for p in data_dir.rglob("*") if p.is_dir()}

    assert {str(p): oct(mode) for p, mode in files.items() if mode not in (0o400, 0o600)} == {}
    assert {str(p): oct(mode) for p, mode in directories.items() if mode != 0o700} == {}
    for name in (DATABASE_NAME, f"{DATABASE_NAME}-wal", f"{DATABASE_NAME}-shm"):
        assert files[data_dir / name] == 0o600, name


def test_it_logs_no_leaked_value_while_ingesting(vault_on_disk):
    _, _, log = vault_on_disk

    assert found_in(log.read_bytes(), leaked_forms()) == []


def test_it_makes_an_existing_sqlite_database_owner_only_on_connect(tmp_path, django_db_blocker):
    path = tmp_path / "vault.sqlite3"
    files = (path, Path(f"{path}-wal"), Path(f"{path}-shm"))
    for name in files:
        name.write_bytes(b"")
        os.chmod(name, 0o644)  # as an older version (or a umask of 022) left them
    probe = ConnectionHandler({"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": str(path)}})["default"]
    with django_db_blocker.unblock():  # a connection of its own, not the suite's test database
        try:
            probe.ensure_connection()  # fires connection_created
        finally:
            probe.close()

    assert [oct(name.stat().st_mode & 0o777) for name in files] == ["0o600"] * 3


# ------------------------------------------------------------------------------------------ PostgreSQL
VAULT_RELATIONS = """
    with vault as (
        select c.oid, c.reltoastrelid from pg_class c
        where c.relkind = 'r' and c.relnamespace = 'public'::regnamespace and c.relname like 'reviews\\_%%'
    ), relations as (
        select oid from vault
        union select reltoastrelid from vault where reltoastrelid <> 0
        union select indexrelid from pg_index where indrelid in (select oid from vault)
        union select indexrelid from pg_index where indrelid in (select reltoastrelid from vault)
    )
    select c.relname, pg_relation_filepath(c.oid) from pg_class c join relations r on r.oid = c.oid
"""
# Columns that hold transcript text, stored uncompressed for this test: pglz compression could hide a value
# from a byte grep, and what is proven here is that the value never reached the database, not that it compressed.
TEXT_COLUMNS = ("text", "words", "search_vector", "sealed_original")


@pytest.fixture
def uncompressed_utterances():
    if connection.vendor != "postgresql":
        pytest.skip("DATABASE_URL is not PostgreSQL: this reads PostgreSQL's relation files (the CI PostgreSQL leg)")
    with connection.cursor() as cursor:
        for column in TEXT_COLUMNS:
            cursor.execute(f"alter table reviews_utterance alter column {column} set storage external")
    yield
    with connection.cursor() as cursor:
        for column in TEXT_COLUMNS:
            cursor.execute(f"alter table reviews_utterance alter column {column} set storage extended")


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)  # committed, so CHECKPOINT writes the rows into the relation files
def test_it_leaves_no_leaked_value_in_postgresql_tables_toast_or_indexes(uncompressed_utterances):
    from reviews.models import Division, Utterance
    from tests.fixtures.leaky_transcripts import ingest_leaky

    ingest_leaky(division=Division.objects.create(genesys_id="div-at-rest", name="At rest"))
    assert Utterance.objects.exclude(sealed_original="").exists()
    forms = leaked_forms()
    with connection.cursor() as cursor:
        cursor.execute("checkpoint")  # superuser (trust auth in CI): dirty buffers reach the files
        cursor.execute(VAULT_RELATIONS)
        relations = cursor.fetchall()
        contents = {}
        for name, path in relations:
            cursor.execute("select pg_read_binary_file(%s)", [path])
            contents[name] = bytes(cursor.fetchone()[0])

    names = set(contents)
    assert {"reviews_utterance", "reviews_utterance_search_gin", "reviews_transcript"} <= names
    assert any(name.startswith("pg_toast_") for name in names)
    assert {name: found_in(content, forms) for name, content in contents.items() if found_in(content, forms)} == {}
    heap = contents["reviews_utterance"]
    assert all(phrase.encode() in heap for phrase in clear_phrases())  # the grep sees the stored text
