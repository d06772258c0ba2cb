"""S3 delivery with Object Lock retention and a SHA-256 checksum on every PUT.

Keys: <COMPLIANCE_S3_PREFIX>YYYY/MM/DD/<conversationId>/<communicationId>/<sha256[:16]>.json and
.transcript.json.tvb (recordings and facts versions as in the filesystem archive). A key that already holds
the same content is left alone (no second locked version); a key holding other content is a permanent error.

The document goes up in the vault's TVB1 format (encrypted with the vault key), and S3 is asked to encrypt
both objects again (SSE): the bucket never holds a leaked PAN readable, whoever can read the bucket.
x-amz-meta-sha256 is the plaintext's sha256 (what Genesys served), so a redelivery after `rotate_key`
(other ciphertext, same document) is still recognised; ChecksumSHA256 covers the bytes uploaded.
"""

from __future__ import annotations

import base64
import hashlib
import tempfile
from datetime import timedelta
from functools import lru_cache
from pathlib import Path

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError
from django.conf import settings

from genesys.clock import SYSTEM_CLOCK, Clock
from reviews import blobs
from reviews.compliance.outbox import clock_now
from reviews.compliance.sinks import DeliveryOutcome, archive_plan
from reviews.encryption import STREAM_FORMAT, DecryptionError

SHA256_METADATA = "sha256"  # x-amz-meta-sha256: lets a redelivery compare content without a download
ENCRYPTION_METADATA = "vault-encryption"
KEY_ID_METADATA = "vault-key-id"
SERVER_SIDE_ENCRYPTION = "AES256"
NOT_FOUND_CODES = ("404", "NoSuchKey", "NotFound")
RETRYABLE_CODES = ("RequestTimeout", "SlowDown", "Throttling", "ThrottlingException", "InternalError")


class ObjectConflict(Exception):
    pass


def deliver(message, *, clock: Clock = SYSTEM_CLOCK) -> DeliveryOutcome:
    if not settings.COMPLIANCE_S3_BUCKET:
        return DeliveryOutcome.permanent("COMPLIANCE_S3_BUCKET is not set")
    plan = archive_plan(message)
    if isinstance(plan, DeliveryOutcome):
        return plan
    key_stem = f"{settings.COMPLIANCE_S3_PREFIX}{plan.stem}"
    retain_until = clock_now(clock) + timedelta(days=settings.COMPLIANCE_S3_RETENTION_DAYS)
    try:
        put_once(f"{key_stem}.json", plan.metadata, sha256_hex=plan.metadata_sha256, retain_until=retain_until)
        if plan.document is not None:  # a facts version is metadata only
            put_once(
                f"{key_stem}{plan.document_suffix}",
                plan.document,
                sha256_hex=plan.document_sha256,
                retain_until=retain_until,
            )
    except (ObjectConflict, DecryptionError) as exc:
        return DeliveryOutcome.permanent(str(exc))
    except NoCredentialsError as exc:
        return DeliveryOutcome.permanent(f"S3 credentials are not configured: {exc}")
    except ClientError as exc:
        return _client_error_outcome(exc)
    except BotoCoreError as exc:  # connection errors, timeouts
        return DeliveryOutcome.retry(f"S3 request failed: {type(exc).__name__}: {exc}")
    return DeliveryOutcome.delivered()


def put_once(key: str, content: bytes | Path, *, sha256_hex: str, retain_until) -> None:
    """PUT `content` (metadata bytes, or the blob at a Path, sent encrypted) unless the key holds it already."""
    client = s3_client(settings.COMPLIANCE_S3_REGION, settings.COMPLIANCE_S3_ENDPOINT_URL)
    bucket = settings.COMPLIANCE_S3_BUCKET
    existing = _existing_sha256(client, bucket, key)
    if existing == sha256_hex:
        return
    if existing is not None:
        raise ObjectConflict(
            f"s3://{bucket}/{key} already holds other content (sha256 {existing}, expected {sha256_hex})"
        )
    arguments = {
        "Bucket": bucket,
        "Key": key,
        "ObjectLockMode": settings.COMPLIANCE_S3_MODE,
        "ObjectLockRetainUntilDate": retain_until,
        "ServerSideEncryption": SERVER_SIDE_ENCRYPTION,
        "ChecksumAlgorithm": "SHA256",
    }
    if not isinstance(content, Path):
        # Precomputed from the archived hash: S3 rejects the PUT if the bytes it received differ.
        client.put_object(
            Body=content,
            ContentType="application/json",
            Metadata={SHA256_METADATA: sha256_hex},
            ChecksumSHA256=_base64(sha256_hex),
            **arguments,
        )
        return
    copy = blobs.SealedCopy(content)
    # The upload needs its checksum up front: spool the ciphertext (never plaintext) to the blob store's tmp.
    with tempfile.TemporaryFile(dir=blobs.private_directory(blobs.blob_root() / "tmp")) as spool:
        digest = hashlib.sha256()
        for chunk in copy:
            spool.write(chunk)
            digest.update(chunk)
        if copy.plaintext_sha256 != sha256_hex:
            raise ObjectConflict(
                f"source for s3://{bucket}/{key} has sha256 {copy.plaintext_sha256}, expected {sha256_hex}; not archived"
            )
        spool.seek(0)
        client.put_object(
            Body=spool,
            ContentType="application/octet-stream",
            Metadata={SHA256_METADATA: sha256_hex, ENCRYPTION_METADATA: STREAM_FORMAT, KEY_ID_METADATA: copy.key_id},
            ChecksumSHA256=_base64(digest.hexdigest()),
            **arguments,
        )


def _base64(sha256_hex: str) -> str:
    return base64.b64encode(bytes.fromhex(sha256_hex)).decode()


@lru_cache(maxsize=4)
def s3_client(region: str, endpoint_url: str):
    return boto3.client(
        "s3",
        region_name=region,
        endpoint_url=endpoint_url or None,
        # The relay owns retries (backoff, dead letters); botocore only smooths over blips.
        config=Config(retries={"max_attempts": 2, "mode": "standard"}, connect_timeout=10, read_timeout=60),
    )


def _existing_sha256(client, bucket: str, key: str) -> str | None:
    try:
        head = client.head_object(Bucket=bucket, Key=key)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in NOT_FOUND_CODES:
            return None
        raise
    return head.get("Metadata", {}).get(SHA256_METADATA, "<unknown>")


def _client_error_outcome(exc: ClientError) -> DeliveryOutcome:
    error = exc.response.get("Error", {})
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    message = f"S3 {error.get('Code', 'error')}: {error.get('Message', exc)}"
    if (status is not None and status >= 500) or status in (408, 429) or error.get("Code") in RETRYABLE_CODES:
        return DeliveryOutcome.retry(message, status)
    return DeliveryOutcome.permanent(message, status)


# --- Legal hold (issue 12 §3): separate from delivery; called by reviews/retention.py -----------------------------
class LegalHoldError(Exception):
    pass


def set_legal_hold(*, conversation_id: str, days, on: bool) -> int:
    """S3 Object Lock legal hold ON (or OFF) on every archived object of a conversation; returns how many changed.

    Objects live under <prefix>YYYY/MM/DD/<conversationId>/ (payload.partition_path), so each UTC start date the
    conversation was archived under is listed. A legal hold has no expiry: it stays until released here, on top of
    (never instead of) the retention period set at delivery.
    """
    from datetime import UTC  # local: this section stays apart from the delivery code above

    client = s3_client(settings.COMPLIANCE_S3_REGION, settings.COMPLIANCE_S3_ENDPOINT_URL)
    bucket = settings.COMPLIANCE_S3_BUCKET
    wanted = "ON" if on else "OFF"
    changed = 0
    try:
        for day in sorted({f"{d.astimezone(UTC):%Y/%m/%d}" for d in days}):
            prefix = f"{settings.COMPLIANCE_S3_PREFIX}{day}/{conversation_id}/"
            for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
                for entry in page.get("Contents", []):
                    if _legal_hold_status(client, bucket, entry["Key"]) != wanted:
                        client.put_object_legal_hold(Bucket=bucket, Key=entry["Key"], LegalHold={"Status": wanted})
                        changed += 1
    except (ClientError, BotoCoreError) as exc:
        raise LegalHoldError(f"S3 legal hold {wanted} failed: {type(exc).__name__}: {exc}") from exc
    return changed


def _legal_hold_status(client, bucket: str, key: str) -> str:
    try:
        return client.get_object_legal_hold(Bucket=bucket, Key=key).get("LegalHold", {}).get("Status") or "OFF"
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("NoSuchObjectLockConfiguration", "InvalidRequest"):
            return "OFF"
        raise
