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

from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.core.cache import cache
from django.http import Http404, HttpRequest, JsonResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt

from reviews.audit import client_ip, record_folded
from reviews.models import ApiToken, AuditEvent

LAST_USED_RESOLUTION = dt.timedelta(minutes=1)  # at most one UPDATE per token per minute
MAX_BODY_BYTES = 64 * 1024
# No API request needs more than a few levels; a deep body would only cost stack and CPU.
MAX_JSON_DEPTH = 16
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


def api_view(*, methods: Iterable[str], scope: str = ApiToken.Scope.READ) -> Callable:
    """Decorate a JSON API view: method check, bearer authentication with `scope`, JSON errors for everything."""
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
                request.api_token = authenticate_bearer(request, scope=scope)
                request.user = request.api_token.user
                return view(request, *args, **kwargs)
            except ApiError as error:
                return json_error(error.status, error.message, headers=error.headers)
            except Http404 as error:
                return json_error(404, str(error) or "not found")

        return wrapper

    return decorate


def authenticate_bearer(request: HttpRequest, *, scope: str = ApiToken.Scope.READ) -> ApiToken:
    """The presented token, if it is valid now and grants `scope`.

    ApiError(401) for a missing, malformed, unknown, revoked or expired token or an inactive owner; 403 for a
    token whose scope does not cover the endpoint (RFC 6750 insufficient_scope). Every refusal is audited.
    """
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
    now = timezone.now()
    if token.revoked_at is not None:
        _record_refused_token(request, token, "revoked API token")
        raise _unauthorized(
            f"API token revoked on {token.revoked_at:%Y-%m-%d} ({token.revoked_reason or 'by an administrator'}); "
            "ask for a new one",
            "invalid_token",
        )
    if token.expiry() <= now:
        _record_refused_token(request, token, "expired API token")
        raise _unauthorized(f"API token expired on {token.expiry():%Y-%m-%d}; ask for a new one", "invalid_token")
    if not _grants(token.scope, scope):
        _record_refused_token(
            request, token, f"API token scope '{token.scope}' does not grant '{scope}'", authenticated=True
        )
        raise ApiError(
            403,
            f"this API token has scope '{token.scope}'; {request.method} {request.path} needs a '{scope}' token",
            headers={"WWW-Authenticate": f'{_CHALLENGE}, error="insufficient_scope", scope="{scope}"'},
        )
    _touch(token)
    return token


# What each token scope allows: "process" includes everything "read" does.
_SCOPE_GRANTS = {
    ApiToken.Scope.READ: frozenset({ApiToken.Scope.READ}),
    ApiToken.Scope.PROCESS: frozenset({ApiToken.Scope.READ, ApiToken.Scope.PROCESS}),
}


def _grants(token_scope: str, needed: str) -> bool:
    return needed in _SCOPE_GRANTS.get(token_scope, frozenset())


def _record_refused_token(request: HttpRequest, token: ApiToken, reason: str, *, authenticated: bool = False) -> None:
    """A real token refused (revoked, expired, wrong scope): folded per address like junk tokens."""
    # The API ignores sessions: the row names the token's owner as the actor only if the token authenticated.
    request.user = token.user if authenticated else AnonymousUser()
    record_folded(
        request=request,
        action=AuditEvent.Action.ACCESS_DENIED,
        object_type="api_token",
        object_id=str(token.pk),
        detail={"path": request.path[:200], "reason": reason, "owner": token.user.get_username()},
    )


def _unauthorized(message: str, error_code: str) -> ApiError:
    return ApiError(401, message, headers={"WWW-Authenticate": f'{_CHALLENGE}, error="{error_code}"'})


def _touch(token: ApiToken) -> None:
    now = timezone.now()
    if token.last_used_at is None or now - token.last_used_at >= LAST_USED_RESOLUTION:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now


# Rejected tokens are counted per client address for this long from the first one (the Django cache:
# Redis, shared by every process, in production).
TOKEN_FAILURE_WINDOW_SECONDS = 60


def _record_rejected_token(request: HttpRequest, key: str) -> None:
    """Audit a rejected token; ApiError(429) once the address sent too many of them (ASVS 16.3.2, 4.1.x).

    Only a short prefix of the key is kept, never the key. Rejections from one address are folded into one
    row per audit.FOLD_WINDOW (count, last_at), so a flood of junk tokens can neither fill the audit table
    nor try tokens at speed: past API_TOKEN_FAILURES_PER_MINUTE the answer is 429 with Retry-After.
    """
    counter = f"api-token-failures:{client_ip(request) or 'unknown'}"
    cache.add(counter, 0, timeout=TOKEN_FAILURE_WINDOW_SECONDS)
    try:
        failures = cache.incr(counter)
    except ValueError:  # the window ended between add and incr
        cache.set(counter, failures := 1, timeout=TOKEN_FAILURE_WINDOW_SECONDS)
    throttled = failures > settings.API_TOKEN_FAILURES_PER_MINUTE
    record_folded(
        request=request,
        action=AuditEvent.Action.ACCESS_DENIED,
        object_type="api_token",
        object_id=key[:6],
        detail={
            "path": request.path[:200],
            "reason": "too many invalid API tokens" if throttled else "invalid API token",
        },
    )
    if throttled:
        raise ApiError(
            429,
            "too many requests with invalid API tokens from this address; retry later",
            headers={"Retry-After": str(TOKEN_FAILURE_WINDOW_SECONDS)},
        )


def read_json_object(request: HttpRequest) -> dict:
    """The request body as a JSON object; ApiError(400/413/415) with a clear message otherwise."""
    content_type = request.META.get("CONTENT_TYPE", "").split(";")[0].strip().lower()
    if content_type and content_type != "application/json":
        raise ApiError(415, "send the request body as JSON with Content-Type: application/json")
    raw = request.body
    if len(raw) > MAX_BODY_BYTES:
        raise ApiError(413, f"request body too large; at most {MAX_BODY_BYTES} bytes")
    too_deep = f"request body is nested too deeply; at most {MAX_JSON_DEPTH} levels of objects and arrays"
    try:
        body = json.loads(raw or b"{}")
    except RecursionError:  # thousands of "[" exhaust the parser's stack before any depth check could run
        raise ApiError(400, too_deep) from None
    except (ValueError, UnicodeDecodeError):
        raise ApiError(400, "request body is not valid JSON") from None
    if not isinstance(body, dict):
        raise ApiError(400, "request body must be a JSON object")
    if _json_depth(body) > MAX_JSON_DEPTH:
        raise ApiError(400, too_deep)
    return body


def _json_depth(value) -> int:
    """How deeply objects and arrays nest in a parsed JSON value, counted without recursion."""
    deepest, pending = 0, [(value, 1)]
    while pending:
        item, level = pending.pop()
        if isinstance(item, dict):
            children = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        deepest = max(deepest, level)
        pending.extend((child, level + 1) for child in children)
    return deepest
