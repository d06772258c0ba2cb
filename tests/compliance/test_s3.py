from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime, timedelta

import pytest

from reviews import blobs
from reviews.compliance import record_transcript_version, relay_due
from reviews.compliance.payload import payload_bytes
from reviews.compliance.sinks import s3
from reviews.encryption import generate_key_text, keyring
from reviews.models import OutboxMessage
from tests.fixtures.moto_s3 import BUCKET, object_lock_bucket

pytestmark = pytest.mark.django_db


@pytest.fixture
def s3_server(settings, monkeypatch):
    """A local S3-compatible server (moto in server mode) with an Object Lock bucket."""
    with object_lock_bucket(settings, monkeypatch, mode="COMPLIANCE") as client:
        yield client


def test_it_stores_locked_encrypted_objects_with_a_checksum(s3_server, make_transcript, tmp_path):
    clock_start = datetime.now(UTC)
    transcript = make_transcript(document=b'{"transcripts": [1, 2, 3]}')
    (message,) = record_transcript_version(transcript)

    assert relay_due().delivered == 1

    stem = (
        f"vault/2025/06/15/{transcript.conversation.genesys_id}/{transcript.communication_id}/{transcript.sha256[:16]}"
    )
    document = s3_server.head_object(Bucket=BUCKET, Key=f"{stem}.transcript.json.tvb", ChecksumMode="ENABLED")
    metadata = s3_server.head_object(Bucket=BUCKET, Key=f"{stem}.json", ChecksumMode="ENABLED")
    body = s3_server.get_object(Bucket=BUCKET, Key=f"{stem}.transcript.json.tvb")["Body"].read()
    for head, stored, content in (
        (document, body, b'{"transcripts": [1, 2, 3]}'),
        (metadata, payload_bytes(message.payload), payload_bytes(message.payload)),
    ):
        assert head["ObjectLockMode"] == "COMPLIANCE"
        retain_until = head["ObjectLockRetainUntilDate"]
        assert clock_start + timedelta(days=29) < retain_until < clock_start + timedelta(days=31)
        assert head["ChecksumSHA256"] == base64.b64encode(hashlib.sha256(stored).digest()).decode()
        assert head["Metadata"]["sha256"] == hashlib.sha256(content).hexdigest()  # of the plaintext
        assert head["ServerSideEncryption"] == "AES256"
    # The document is the vault's TVB1 ciphertext: whoever reads the bucket still needs the vault key.
    assert body.startswith(b"TVB1") and b"transcripts" not in body
    assert document["Metadata"]["vault-key-id"] == keyring().active.key_id
    assert document["Metadata"]["vault-encryption"] == "TVB1 (AES-256-GCM-HKDF-SHA256 STREAM)"
    archived = tmp_path / "archived.tvb"
    archived.write_bytes(body)
    with blobs.open_file(archived) as stream:
        assert stream.read() == b'{"transcripts": [1, 2, 3]}'


def test_it_redelivers_without_a_second_locked_version(s3_server, make_transcript):
    (message,) = record_transcript_version(make_transcript())
    message = OutboxMessage.objects.select_related("transcript__conversation").get(pk=message.pk)

    assert s3.deliver(message).result == "delivered"
    assert s3.deliver(message).result == "delivered"

    versions = s3_server.list_object_versions(Bucket=BUCKET)["Versions"]
    assert len(versions) == 2  # metadata + document, once each


def test_it_redelivers_after_rotate_key_without_a_second_locked_version(s3_server, make_transcript, settings):
    (message,) = record_transcript_version(make_transcript())
    message = OutboxMessage.objects.select_related("transcript__conversation").get(pk=message.pk)
    assert s3.deliver(message).result == "delivered"
    settings.VAULT_ENCRYPTION_OLD_KEYS = [settings.VAULT_ENCRYPTION_KEY]
    settings.VAULT_ENCRYPTION_KEY = generate_key_text()
    assert blobs.reseal(blobs.absolute_path(message.transcript.raw_path))

    assert s3.deliver(message).result == "delivered"

    assert len(s3_server.list_object_versions(Bucket=BUCKET)["Versions"]) == 2


def test_it_dead_letters_a_key_that_holds_other_content(s3_server, make_transcript, settings):
    transcript = make_transcript()
    (message,) = record_transcript_version(transcript)
    stem = (
        f"vault/2025/06/15/{transcript.conversation.genesys_id}/{transcript.communication_id}/{transcript.sha256[:16]}"
    )
    s3_server.put_object(Bucket=BUCKET, Key=f"{stem}.json", Body=b"other", Metadata={"sha256": "0" * 64})

    outcome = s3.deliver(message)

    assert outcome.result == "permanent"
    assert f"{stem}.json already holds other content" in outcome.error


def test_it_dead_letters_a_missing_bucket(s3_server, make_transcript, settings):
    settings.COMPLIANCE_S3_BUCKET = "no-such-bucket"
    (message,) = record_transcript_version(make_transcript())

    outcome = s3.deliver(message)

    assert (outcome.result, outcome.status) == ("permanent", 404)
