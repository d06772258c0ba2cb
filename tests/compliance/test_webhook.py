from __future__ import annotations

import base64
import hashlib
import hmac

import pytest

from reviews.compliance.sinks.webhook import InvalidSignature, outcome_for_status, signed_headers, verify_signature

SECRET = "whsec_" + base64.b64encode(b"0123456789abcdef0123456789abcdef").decode()
BODY = b'{"schema":"transcript-vault.compliance/v1"}'


def test_it_signs_like_standard_webhooks():
    headers = signed_headers(secret=SECRET, message_id="tv_abc", timestamp=1_750_000_000, body=BODY)

    expected = hmac.new(b"0123456789abcdef0123456789abcdef", b"tv_abc.1750000000." + BODY, hashlib.sha256).digest()
    assert headers == {
        "webhook-id": "tv_abc",
        "webhook-timestamp": "1750000000",
        "webhook-signature": "v1," + base64.b64encode(expected).decode(),
    }


def test_it_verifies_a_fresh_signature_with_any_header_case():
    headers = signed_headers(secret=SECRET, message_id="tv_abc", timestamp=1_750_000_000, body=BODY)
    upper = {name.title(): value for name, value in headers.items()}

    assert verify_signature(SECRET, upper, BODY.decode(), now=1_750_000_299)


def test_it_accepts_any_of_several_signatures_during_rotation():
    headers = signed_headers(secret=SECRET, message_id="tv_abc", timestamp=1_750_000_000, body=BODY)
    headers["webhook-signature"] = "v1,bm90IGl0 " + headers["webhook-signature"]

    assert verify_signature(SECRET, headers, BODY, now=1_750_000_000)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"body": BODY + b" "}, "no webhook-signature matches"),
        ({"now": 1_750_000_301}, "more than 300s"),
        ({"now": 1_749_999_699}, "more than 300s"),
        ({"secret": "whsec_" + base64.b64encode(b"another secret").decode()}, "no webhook-signature matches"),
        ({"headers": {}}, "missing or malformed"),
    ],
)
def test_it_rejects_tampered_stale_or_unsigned_requests(change, reason):
    arguments = {
        "secret": SECRET,
        "headers": signed_headers(secret=SECRET, message_id="tv_abc", timestamp=1_750_000_000, body=BODY),
        "body": BODY,
        "now": 1_750_000_000,
        **change,
    }

    with pytest.raises(InvalidSignature, match=reason):
        verify_signature(**arguments)


@pytest.mark.parametrize(
    ("status", "result"),
    [
        (200, "delivered"),
        (204, "delivered"),
        (301, "permanent"),
        (400, "permanent"),
        (401, "permanent"),
        (404, "permanent"),
        (408, "retry"),
        (413, "permanent"),
        (429, "retry"),
        (500, "retry"),
        (503, "retry"),
    ],
)
def test_it_classifies_receiver_answers(status, result):
    outcome = outcome_for_status(status)

    assert (outcome.result, outcome.status) == (result, status)


def test_it_passes_the_receivers_retry_after_on_with_a_retry():
    assert outcome_for_status(503, retry_after=120.0).retry_after == 120.0
    assert outcome_for_status(400, retry_after=120.0).retry_after is None
