"""What the emulated services answer with, and how they read requests: shared by server.py and the endpoints.

API errors follow genesys-api.md §3 (`message`, `code`, `status`, `contextId`, `details`, `errors`); S3 errors
are S3's XML. Request parsing raises `ApiError` with the 400 bodies Genesys sends for bad input.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from xml.sax.saxutils import escape as xml_escape

from .documents import Blob

MALFORMED_SYNTAX = "The request could not be understood by the server due to malformed syntax."
NOT_FOUND = "The requested resource was not found."


@dataclass
class Response:
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    blob: Blob | None = None  # streamed instead of `body`
    range: tuple[int, int] | None = None  # inclusive byte range of `blob` to send
    drop_after: int | None = None  # cut the connection after this many body bytes
    on_drop: Callable[[], None] | None = None

    @property
    def content_length(self) -> int:
        if self.blob is not None and self.range is not None:
            return self.range[1] - self.range[0] + 1
        return len(self.body)


class ApiError(Exception):
    """An error answer of the platform API; `extra` adds body fields such as `messageParams`."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        details: list | None = None,
        headers=None,
        extra: dict | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.details = details or []
        self.headers = headers or {}
        self.extra = extra or {}


def not_found() -> ApiError:
    return ApiError(404, "not.found", NOT_FOUND)


def json_response(status: int, payload, headers: dict | None = None) -> Response:
    body = json.dumps(payload, separators=(",", ":")).encode()
    return Response(status, {"Content-Type": "application/json", **(headers or {})}, body)


def error_body(error: ApiError, correlation: str) -> dict:
    return {
        "message": error.message,
        "code": error.code,
        "status": error.status,
        **error.extra,
        "contextId": correlation,
        "details": error.details,
        "errors": [],
    }


def parse_json(body: bytes):
    if not body:
        return None
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise ApiError(400, "bad.request", MALFORMED_SYNTAX) from None


def require_object(body) -> dict:
    if not isinstance(body, dict):
        raise ApiError(400, "bad.request", MALFORMED_SYNTAX)
    return body


def parse_datetime(value) -> datetime:
    if not isinstance(value, str) or "T" not in value:
        raise ValueError(value)
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)  # Genesys reads zone-less interval bounds as UTC
    return parsed


def invalid_date(field_name: str) -> ApiError:
    return ApiError(
        400,
        "invalid.date",
        "Dates must be specified as ISO-8601 strings. For example: yyyy-MM-ddTHH:mm:ss.SSSZ",
        [{"errorCode": "invalid.date", "fieldName": field_name}],
    )


def parse_interval(interval) -> tuple[datetime, datetime]:
    try:
        start_text, end_text = str(interval).split("/")
        start, end = parse_datetime(start_text), parse_datetime(end_text)
    except ValueError:
        raise invalid_date("interval") from None
    if end <= start:
        raise ApiError(400, "bad.request", "The interval end must be after its start.")
    return start, end


def int_field(container: dict, name: str, default: int, low: int, high: int) -> int:
    value = container.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ApiError(
            400,
            "invalid.value",
            f"Value [{value}] is not valid for field [{name}]. It must be between {low} and {high}.",
            [{"errorCode": "invalid.value", "fieldName": name}],
        )
    return value


def int_query(query: dict, name: str, default: int, low: int, high: int) -> int:
    raw = query.get(name, [str(default)])[0]
    try:
        return int_field({name: int(raw)}, name, default, low, high)
    except ValueError:
        raise ApiError(400, "invalid.value", f"Value [{raw}] is not valid for field [{name}].") from None


def multi_ids(query: dict) -> set[str]:
    # The SDK joins list parameters with commas; browsers and requests repeat the parameter.
    return {part for value in query.get("id", []) for part in value.split(",") if part}


# ---------------------------------------------------------------------------------------------- "S3"


def parse_range(header: str, size: int) -> tuple[int, int] | str | None:
    """Single byte range -> (first, last); "unsatisfiable"; None when the header is ignored (as S3 does)."""
    match = re.fullmatch(r"\s*bytes=(\d*)-(\d*)\s*", header)
    if not match or (not match.group(1) and not match.group(2)):
        return None
    first_text, last_text = match.groups()
    if not first_text:  # suffix range: the last N bytes
        suffix = int(last_text)
        if suffix == 0 or size == 0:
            return "unsatisfiable"
        return max(0, size - suffix), size - 1
    first = int(first_text)
    last = int(last_text) if last_text else size - 1
    if first >= size:
        return "unsatisfiable"
    if last < first:
        return None  # syntactically invalid: S3 ignores the header
    return first, min(last, size - 1)


def s3_time(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


def s3_error(status: int, code: str, message: str, **extra: str) -> Response:
    request_id = secrets.token_hex(8).upper()
    fields = "".join(f"<{k}>{xml_escape(str(v))}</{k}>" for k, v in extra.items())
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{code}</Code><Message>{xml_escape(message)}</Message>{fields}"
        f"<RequestId>{request_id}</RequestId><HostId>{secrets.token_hex(16)}</HostId></Error>"
    ).encode()
    return Response(
        status, {"Content-Type": "application/xml", "x-amz-request-id": request_id, "Server": "AmazonS3"}, body
    )
