"""Signed webhook delivery (Standard Webhooks: webhook-id / webhook-timestamp / webhook-signature).

Receivers verify with `verify_signature` (or any Standard Webhooks library) and deduplicate on
`webhook-id`, which is the transcript version's idempotency key and never changes between retries.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping

import requests
from django.conf import settings

from genesys.client import retry_after_seconds
from genesys.clock import SYSTEM_CLOCK, Clock
from reviews.compliance.payload import payload_bytes
from reviews.compliance.sinks import DeliveryOutcome

SECRET_PREFIX = "whsec_"
DEFAULT_TOLERANCE_SECONDS = 300
# 408 and 429 say "later", not "never"; every other 4xx means the request itself is refused.
RETRYABLE_CLIENT_ERRORS = (408, 429)


class InvalidSignature(ValueError):
    """The webhook headers do not prove the body came from us, recently."""


def deliver(message, *, clock: Clock = SYSTEM_CLOCK) -> DeliveryOutcome:
    url = settings.COMPLIANCE_WEBHOOK_URL
    if not url:
        return DeliveryOutcome.permanent("COMPLIANCE_WEBHOOK_URL is not set")
    body = payload_bytes(message.payload)
    headers = signed_headers(
        secret=settings.COMPLIANCE_WEBHOOK_SECRET,
        message_id=message.idempotency_key,
        timestamp=int(clock.time()),
        body=body,
    )
    try:
        response = requests.post(
            url,
            data=body,
            headers={**headers, "content-type": "application/json", "user-agent": "transcript-vault-compliance/1"},
            timeout=settings.COMPLIANCE_WEBHOOK_TIMEOUT_SECONDS,
            allow_redirects=False,
        )
    except requests.RequestException as exc:  # timeouts, refused and dropped connections
        return DeliveryOutcome.retry(f"webhook request failed: {type(exc).__name__}: {exc}")
    retry_after = retry_after_seconds(response.headers, now=clock.time())
    return outcome_for_status(response.status_code, response.text[:200], retry_after=retry_after)


def outcome_for_status(status: int, detail: str = "", *, retry_after: float | None = None) -> DeliveryOutcome:
    if 200 <= status < 300:
        return DeliveryOutcome.delivered(status)
    error = f"webhook answered HTTP {status}" + (f": {detail}" if detail else "")
    if status >= 500 or status in RETRYABLE_CLIENT_ERRORS:
        return DeliveryOutcome.retry(error, status, retry_after=retry_after)
    # 3xx (redirects are not followed) and the remaining 4xx: retrying the same request cannot help.
    return DeliveryOutcome.permanent(error, status)


def signed_headers(*, secret: str, message_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(secret=secret, message_id=message_id, timestamp=timestamp, body=body),
    }


def sign(*, secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def secret_key(secret: str) -> bytes:
    """The HMAC key: the base64 part of a "whsec_<base64>" secret."""
    if not secret.startswith(SECRET_PREFIX):
        raise ValueError("webhook secrets look like whsec_<base64>")
    return base64.b64decode(secret.removeprefix(SECRET_PREFIX))


def verify_signature(
    secret: str,
    headers: Mapping[str, str],
    body: bytes | str,
    tolerance: int = DEFAULT_TOLERANCE_SECONDS,
    now: float | None = None,
) -> bool:
    """Receiver side: True when the body is signed with `secret` and the timestamp is fresh.

    Raises InvalidSignature otherwise. `webhook-signature` may list several space-separated
    "v1,<base64>" values (secret rotation); any one matching is enough.
    """
    lowered = {name.lower(): value for name, value in headers.items()}
    try:
        message_id = lowered["webhook-id"]
        timestamp = int(lowered["webhook-timestamp"])
        offered = lowered["webhook-signature"].split()
    except (KeyError, ValueError) as exc:
        raise InvalidSignature(f"missing or malformed webhook header: {exc}") from None
    current = now if now is not None else SYSTEM_CLOCK.time()
    if abs(current - timestamp) > tolerance:
        raise InvalidSignature(f"webhook-timestamp {timestamp} is more than {tolerance}s from now")
    raw = body.encode() if isinstance(body, str) else body
    expected = sign(secret=secret, message_id=message_id, timestamp=timestamp, body=raw)
    if not any(hmac.compare_digest(expected, candidate) for candidate in offered):
        raise InvalidSignature("no webhook-signature matches the body")
    return True
