"""The shared answer helpers (protocol.py): error bodies, ranges, S3 errors."""

from __future__ import annotations

import json

from genesys.emulator.protocol import ApiError, error_body, json_response, parse_range, s3_error


def test_it_writes_error_bodies_in_the_platform_shape_with_optional_extra_fields():
    plain = error_body(ApiError(404, "not.found", "Nope"), "ctx")
    assert list(plain) == ["message", "code", "status", "contextId", "details", "errors"]
    extra = error_body(ApiError(403, "missing.division.permissions", "No", extra={"messageParams": {"d": 1}}), "ctx")
    assert extra["messageParams"] == {"d": 1} and extra["contextId"] == "ctx" and extra["errors"] == []
    response = json_response(201, {"a": 1}, {"X": "y"})
    assert response.headers == {"Content-Type": "application/json", "X": "y"} and json.loads(response.body) == {"a": 1}


def test_it_reads_byte_ranges_like_s3():
    assert parse_range("bytes=0-9", 100) == (0, 9)
    assert parse_range("bytes=90-", 100) == (90, 99)
    assert parse_range("bytes=-5", 100) == (95, 99)
    assert parse_range("bytes=100-", 100) == "unsatisfiable"
    assert parse_range("bytes=9-1", 100) is None and parse_range("items=0-1", 100) is None


def test_it_writes_s3_errors_as_xml_with_extra_elements():
    response = s3_error(400, "ExpiredToken", "The provided token has expired.", **{"Token-0": "abc"})
    assert response.status == 400 and response.headers["Content-Type"] == "application/xml"
    assert (
        b"<Code>ExpiredToken</Code><Message>The provided token has expired.</Message><Token-0>abc</Token-0>"
        in response.body
    )
