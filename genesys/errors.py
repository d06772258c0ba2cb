"""Typed Genesys errors. Every message says what to fix and never contains a secret or transcript text."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

# A Genesys permission looks like domain:entity:action, e.g. recording:recording:view.
_PERMISSION = re.compile(r"\b[A-Za-z][\w-]*:[A-Za-z*][\w-]*:[A-Za-z*][\w-]*\b")
_BRACKETED = re.compile(r"\[([^\]]*)\]")
# Genesys entity ids (divisions, conversations, users) are RFC 4122 UUIDs.
_UUID = re.compile(r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b")


class GenesysError(Exception):
    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        context_id: str | None = None,
        details: list | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        self.context_id = context_id
        self.details = list(details or [])

    def __str__(self) -> str:
        suffix = f" (contextId {self.context_id})" if self.context_id else ""
        return f"{self.message}{suffix}"


class AuthenticationError(GenesysError):
    """invalid_client / 401: the client id or secret is wrong, or the region/login URL points at another org."""


class PermissionDeniedError(GenesysError):
    """403. `missing_permissions` and `division_ids` are what the body named (either may be empty).

    Roles are granted per division (genesys-api.md §12), so a 403 naming a division is usually about that one
    conversation's division, not the endpoint as a whole.
    """

    def __init__(
        self,
        message: str,
        *,
        missing_permissions: list[str] | None = None,
        division_ids: list[str] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(message, **kwargs)
        self.missing_permissions = list(missing_permissions or [])
        self.division_ids = list(division_ids or [])


class NotFoundError(GenesysError):
    pass


class RateLimitedError(GenesysError):
    def __init__(self, message: str, *, retry_after: float = 0.0, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class ServerError(GenesysError):
    pass


class MalformedResponseError(GenesysError):
    """A 2xx answer whose body does not have the documented shape; the message names what, never the body."""


class TransportError(GenesysError):
    pass


class DownloadError(GenesysError):
    pass


class UrlExpiredError(DownloadError):
    pass


class TranscriptFormatError(GenesysError):
    pass


AUTH_FIX = (
    "check GENESYS_CLIENT_ID / GENESYS_CLIENT_SECRET, and that GENESYS_REGION (the login URL) is the region "
    "of the org where the OAuth client was created"
)


def parse_error_body(text: str) -> dict:
    """The JSON error body, or {} when the body is empty, not JSON, or not an object."""
    if not text:
        return {}
    try:
        body = json.loads(text)
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _unique_from_body(
    body: Mapping[str, Any], texts: Callable[[Mapping[str, Any]], Iterable[object]], pattern
) -> list[str]:
    """Every `pattern` match in the texts `texts(body)` picks, then in nested `errors[]`, in order, once each."""
    found: list[str] = []
    for text in texts(body):
        if isinstance(text, str):
            for match in pattern.findall(text):
                value = match.lower() if pattern is _UUID else match
                if value not in found:
                    found.append(value)
    for nested in body.get("errors") or []:
        if isinstance(nested, Mapping):
            found.extend(v for v in _unique_from_body(nested, texts, pattern) if v not in found)
    return found


def _permission_texts(body: Mapping[str, Any]) -> Iterator[object]:
    message = body.get("message")
    if isinstance(message, str):
        # Prefer the bracketed list ("...the following permissions assigned: [a:b:c, d:e:f]").
        bracketed = [text for text in _BRACKETED.findall(message) if _PERMISSION.search(text)]
        yield from bracketed or [message]
    params = body.get("messageParams")
    if isinstance(params, Mapping):
        yield from params.values()
    for detail in body.get("details") or []:
        yield from detail.values() if isinstance(detail, Mapping) else [detail]


def _division_texts(body: Mapping[str, Any]) -> Iterator[object]:
    params = body.get("messageParams")
    if isinstance(params, Mapping):
        yield from params.values()
    for detail in body.get("details") or []:
        if isinstance(detail, Mapping):
            yield detail.get("entityId")
    message = body.get("message")
    if isinstance(message, str):
        yield from _BRACKETED.findall(message)


def missing_permissions_from(body: Mapping[str, Any]) -> list[str]:
    """Permission names from a 403 body: the bracketed list in `message`, then `details` / `messageParams`."""
    return _unique_from_body(body, _permission_texts, _PERMISSION)


def division_ids_from(body: Mapping[str, Any]) -> list[str]:
    """Division ids a 403 body names: UUIDs in `messageParams` values, `details[].entityId`, bracketed in `message`.

    The exact shape of a division denial is unconfirmed (genesys-api.md §12), so every place Genesys puts
    entity ids in an error body is read; nested `errors[]` are searched too. Order of first appearance.
    """
    return _unique_from_body(body, _division_texts, _UUID)


def _permission_denied_message(*, described: str, code: str | None, missing: list[str], divisions: list[str]) -> str:
    where = ""
    if divisions:
        where = f" in division{'s' if len(divisions) > 1 else ''} {', '.join(divisions)}"
    if missing:
        fix = f"add permission {', '.join(missing)} to a role of the OAuth client"
        if divisions:
            fix += " and grant that role in this division"
    elif divisions:
        fix = "grant the OAuth client's role in this division (roles are assigned per division)"
    elif code == "not.authorized":
        fix = (
            "the OAuth client's roles do not allow this; usually the role lacks the permission this endpoint "
            "needs, or is not granted in the division of this conversation"
        )
    else:
        fix = "add the permission this endpoint needs to a role of the OAuth client (body named none)"
    return f"{described}: permission denied{where}; {fix}"


def error_for_status(
    *, status: int, body_text: str, headers: Mapping[str, str], endpoint: str, retry_after: float = 0.0
) -> GenesysError:
    """The typed error for a non-success API response."""
    body = parse_error_body(body_text)
    code = body.get("code") if isinstance(body.get("code"), str) else None
    context_id = body.get("contextId") or headers.get("ININ-Correlation-Id") or headers.get("inin-correlation-id")
    details = body.get("details") if isinstance(body.get("details"), list) else []
    genesys_message = body.get("message") if isinstance(body.get("message"), str) else ""
    common = {"status": status, "code": code, "context_id": context_id, "details": details}
    described = f"{endpoint}: HTTP {status}" + (f" {code}" if code else "")

    if status == 401:
        return AuthenticationError(f"{described}: Genesys rejected the access token; {AUTH_FIX}", **common)
    if status == 403:
        missing = missing_permissions_from(body)
        divisions = division_ids_from(body)
        message = _permission_denied_message(described=described, code=code, missing=missing, divisions=divisions)
        return PermissionDeniedError(message, missing_permissions=missing, division_ids=divisions, **common)
    if status == 404:
        return NotFoundError(f"{described}: not found", **common)
    if status == 429:
        return RateLimitedError(
            f"{described}: still rate limited after retries (Retry-After {retry_after:g}s)",
            retry_after=retry_after,
            **common,
        )
    if status >= 500:
        return ServerError(f"{described}: Genesys server error after retries", **common)
    # Other 4xx: the request itself is wrong; Genesys's message explains which field (it holds no secrets).
    return GenesysError(f"{described}: {genesys_message or 'request rejected'}", **common)
