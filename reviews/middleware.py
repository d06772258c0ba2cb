"""Headers every response gets, and the idle session timeout (settings "# Security").

Transcripts, search results, exports, API answers, turn fragments and audio are all sensitive, and a
list of URL names would have to be kept in step with urls.py: every response Django renders is therefore
`no-store` (WhiteNoise serves static files above this middleware, so they keep their long cache).
"""

from __future__ import annotations

from urllib.parse import urlencode, urlsplit

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.shortcuts import resolve_url
from django.utils.cache import add_never_cache_headers
from django_htmx.http import HttpResponseClientRedirect

from genesys.clock import SYSTEM_CLOCK

LAST_ACTIVITY_KEY = "vault_last_activity"
# The session is written at most once a minute, not on every request (audio chunks, fragments): a session
# therefore ends between SESSION_IDLE_TIMEOUT_SECONDS and a minute less after the user's last request.
ACTIVITY_RESOLUTION_SECONDS = 60
# Sent by static/js/poll.js on automatic refreshes: a page that polls by itself is not a user being active.
BACKGROUND_HEADER = "X-Vault-Background"
# Tests replace it with genesys.clock.FakeClock.
CLOCK = SYSTEM_CLOCK


class SecurityHeadersMiddleware:
    """Cache-Control: no-store and a Permissions-Policy that turns off every device API, on every response."""

    def __init__(self, get_response):
        self.get_response = get_response
        self.permissions_policy = ", ".join(f"{feature}=()" for feature in settings.PERMISSIONS_POLICY_DISABLED)

    def __call__(self, request):
        response = self.get_response(request)
        add_never_cache_headers(response)
        response.setdefault("Permissions-Policy", self.permissions_policy)
        return response


class IdleSessionTimeoutMiddleware:
    """Sign out a session that made no request for SESSION_IDLE_TIMEOUT_SECONDS (ASVS 7.3.1).

    SESSION_COOKIE_AGE stays the absolute limit. The sign-out is audited (LOGOUT, reason "idle"); the
    request then goes on signed out, so a page sends the browser to the login form as for any anonymous
    visitor, and an htmx request gets HX-Redirect so the login form replaces the page, not a fragment.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.user.is_authenticated:
            now = CLOCK.time()
            last = request.session.get(LAST_ACTIVITY_KEY)
            if last is not None and now - last > settings.SESSION_IDLE_TIMEOUT_SECONDS:
                return self._sign_out(request, idle_seconds=now - last)
            if not request.headers.get(BACKGROUND_HEADER) and (
                last is None or now - last >= ACTIVITY_RESOLUTION_SECONDS
            ):
                request.session[LAST_ACTIVITY_KEY] = now
        return self.get_response(request)

    def _sign_out(self, request, *, idle_seconds: float):
        # reviews/auth_events.py records the LOGOUT (user_logged_out) with this as its detail.
        request.logout_detail = {"reason": "idle", "idle_seconds": int(idle_seconds)}
        logout(request)
        minutes = settings.SESSION_IDLE_TIMEOUT_SECONDS // 60
        messages.info(request, f"You were signed out after {minutes} minutes without activity.")
        if request.headers.get("HX-Request"):
            page = urlsplit(request.headers.get("HX-Current-URL", "")).path or request.path
            return HttpResponseClientRedirect(f"{resolve_url(settings.LOGIN_URL)}?{urlencode({'next': page})}")
        return self.get_response(request)
