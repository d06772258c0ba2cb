"""Bearer-token authentication and JSON error handling for the JSON API.

The API accepts ONLY `Authorization: Bearer <token>`; session cookies are ignored. That is
why API views may be CSRF-exempt: a cross-site page can make a browser send cookies, but it
cannot make it send our bearer token.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable, Iterable
from functools import wraps

from django.http import Http404, HttpRequest, JsonResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt

from reviews.audit import record_event
from reviews.models import ApiToken, AuditEvent

LAST_USED_RESOLUTION = dt.timedelta(minutes=1)  # at most one UPDATE per token per minute
MAX_BODY_BYTES = 64 * 1024
_TOKEN = re.compile(r"[A-Za-z0-9._~+/=-]{1,200}")
_CHALLENGE = 'Bearer realm="transcript-vault"'


class ApiError(Exception):
    """Raise inside an API view to answer {"error": message} with `status`."""

    def __init__(self, status: int, message: str, *, headers: dict | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


def json_error(status: int, message: str, *, headers: dict | None = None) -> JsonResponse:
    response = JsonResponse({"error": message}, status=status)
    for name, value in (headers or {}).items():
        response[name] = value
    return response


def api_view(*, methods: Iterable[str]) -> Callable:
    """Decorate a JSON API view: method check, bearer authentication, JSON errors for everything."""
    allowed = tuple(method.upper() for method in methods)

    def decorate(view: Callable) -> Callable:
        @csrf_exempt
        @wraps(view)
        def wrapper(request: HttpRequest, *args, **kwargs):
            try:
                if request.method not in allowed:
                    raise ApiError(
                        405,
                        f"method {request.method} not allowed; use {' or '.join(allowed)}",
                        headers={"Allow": ", ".join(allowed)},
                    )
                request.user = authenticate_bearer(request)
                return view(request, *args, **kwargs)
            except ApiError as error:
                return json_error(error.status, error.message, headers=error.headers)
            except Http404 as error:
                return json_error(404, str(error) or "not found")

        return wrapper

    return decorate


def authenticate_bearer(request: HttpRequest):
    """The token's active user; ApiError(401) for a missing, malformed or unknown token."""
    header = request.META.get("HTTP_AUTHORIZATION", "")
    if not header:
        raise _unauthorized("missing Authorization header; send 'Authorization: Bearer <token>'", "invalid_request")
    scheme, _, key = header.strip().partition(" ")
    key = key.strip()
    if scheme.lower() != "bearer" or not _TOKEN.fullmatch(key):
        raise _unauthorized("malformed Authorization header; expected 'Bearer <token>'", "invalid_request")
    # Looking up the sha256 of the key compares hashes in the index, never the secret itself.
    token = ApiToken.objects.select_related("user").filter(key_hash=ApiToken.hash_key(key)).first()
    if token is None or not token.user.is_active:
        _record_rejected_token(request, key)
        raise _unauthorized("invalid or revoked API token", "invalid_token")
    _touch(token)
    return token.user


def _unauthorized(message: str, error_code: str) -> ApiError:
    return ApiError(401, message, headers={"WWW-Authenticate": f'{_CHALLENGE}, error="{error_code}"'})


def _touch(token: ApiToken) -> None:
    now = timezone.now()
    if token.last_used_at is None or now - token.last_used_at >= LAST_USED_RESOLUTION:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now


def _record_rejected_token(request: HttpRequest, key: str) -> None:
    # ASVS 16.3.2: failed authentication is audited; only a short prefix, never the key.
    record_event(
        request=request,
        action=AuditEvent.Action.ACCESS_DENIED,
        object_type="api_token",
        object_id=key[:6],
        detail={"path": request.path[:200], "reason": "invalid API token"},
    )


def read_json_object(request: HttpRequest) -> dict:
    """The request body as a JSON object; ApiError(400/413/415) with a clear message otherwise."""
    content_type = request.META.get("CONTENT_TYPE", "").split(";")[0].strip().lower()
    if content_type and content_type != "application/json":
        raise ApiError(415, "send the request body as JSON with Content-Type: application/json")
    raw = request.body
    if len(raw) > MAX_BODY_BYTES:
        raise ApiError(413, f"request body too large; at most {MAX_BODY_BYTES} bytes")
    try:
        body = json.loads(raw or b"{}")
    except (ValueError, UnicodeDecodeError):
        raise ApiError(400, "request body is not valid JSON") from None
    if not isinstance(body, dict):
        raise ApiError(400, "request body must be a JSON object")
    return body
