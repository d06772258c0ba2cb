"""TOTP second factor (django-otp) for compliance officers and administrators (ASVS 6.3.2, 6.5.1, 6.5.3).

Who: members of the Compliance group, staff and superusers. They sign in with their password, then reach
nothing but the pages below until a TOTP code from their authenticator verified the session: first the
enrolment (a QR code and the secret for manual entry; the device counts only once a code from it verified),
then, at every later sign-in, the code. A user who joins Compliance or becomes staff mid-session is stopped the
same way at their next request. Everyone else may sign in with a password alone, unless
MFA_REQUIRED_FOR_EVERYONE is set (ASVS 6.3.2 at level 2 asks it of every user).
"""

from __future__ import annotations

from base64 import b32encode
from urllib.parse import urlencode

import segno
from django.conf import settings
from django.http import HttpResponseRedirect
from django.urls import reverse
from django_htmx.http import HttpResponseClientRedirect
from django_otp.plugins.otp_totp.models import TOTPDevice

from reviews.access import COMPLIANCE, group_names, is_signed_in

DEVICE_NAME = "authenticator"
# Pages a signed-in but unverified user may still open. The JSON API authenticates with bearer tokens, never
# the session, and static files carry nothing.
_OPEN_URL_NAMES = ("login", "logout", "mfa-verify", "mfa-enrol")
_OPEN_PREFIXES = ("/api/", "/static/", "/healthz")


def requires_mfa(user) -> bool:
    if not is_signed_in(user):
        return False
    privileged = user.is_staff or user.is_superuser or COMPLIANCE in group_names(user)
    return bool(privileged or settings.MFA_REQUIRED_FOR_EVERYONE)


def confirmed_device(user) -> TOTPDevice | None:
    return TOTPDevice.objects.filter(user=user, confirmed=True).order_by("pk").first()


def pending_device(user) -> TOTPDevice:
    """The unconfirmed device being enrolled (created on first use): reloading the page keeps the same secret."""
    device = TOTPDevice.objects.filter(user=user, confirmed=False).order_by("pk").first()
    if device is None:
        device = TOTPDevice.objects.create(user=user, name=DEVICE_NAME, confirmed=False)
    return device


def secret_for_manual_entry(device: TOTPDevice) -> str:
    """The key as authenticator apps expect it typed: base32, in groups of four."""
    text = b32encode(device.bin_key).decode().rstrip("=")
    return " ".join(text[index : index + 4] for index in range(0, len(text), 4))


def qr_code_svg(device: TOTPDevice) -> str:
    """The otpauth:// URI as an inline SVG (no image request, nothing for a CSP to allow)."""
    return segno.make(device.config_url, error="m").svg_inline(scale=5, border=2, title="Authenticator QR code")


def needs_second_factor(request) -> bool:
    user = getattr(request, "user", None)
    if user is None or not requires_mfa(user):
        return False
    return not (hasattr(user, "is_verified") and user.is_verified())


def second_factor_url(user, next_url: str) -> str:
    name = "mfa-verify" if confirmed_device(user) is not None else "mfa-enrol"
    return f"{reverse(name)}?{urlencode({'next': next_url})}"


def require_second_factor(get_response):
    """Middleware: an unverified compliance officer or admin is sent to enrol or verify, whatever they asked for."""
    open_paths = None

    def middleware(request):
        nonlocal open_paths
        if open_paths is None:
            open_paths = frozenset(reverse(name) for name in _OPEN_URL_NAMES)
        path = request.path_info
        if path in open_paths or path.startswith(_OPEN_PREFIXES) or not needs_second_factor(request):
            return get_response(request)
        target = second_factor_url(request.user, request.get_full_path())
        if request.headers.get("HX-Request") == "true":
            # htmx would swap the verification page into a fragment; make the browser navigate instead.
            return HttpResponseClientRedirect(target)
        return HttpResponseRedirect(target)

    return middleware
