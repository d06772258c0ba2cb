"""The signed-in user's own account: second factor (verify, enrol), password change, and the lockout page.

Sign-in itself is Django's LoginView (registration/login.html); django-axes counts its failures and answers
a locked-out username with `locked_out` below. A TOTP code that fails counts as a failed sign-in too, so
the same lockout bounds guessing the second factor (ASVS 6.3.1); django-otp also slows repeated failures.
"""

from __future__ import annotations

import django_otp
from axes.handlers.proxy import AxesProxyHandler
from axes.helpers import get_client_username
from axes.models import AccessAttempt
from django.conf import settings
from django.contrib.auth import logout
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.contrib.auth.signals import user_login_failed
from django.db.models import Max, Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse, reverse_lazy
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods

from reviews import auth_events, mfa
from reviews.audit import client_ip

CODE_FIELD = "otp_token"


def locked_out(request: HttpRequest, original_response=None, credentials: dict | None = None) -> HttpResponse:
    """django-axes' lockout answer (AXES_LOCKOUT_CALLABLE): 429, and when the next try will be accepted."""
    username = get_client_username(request, credentials) or ""
    retry_at = _lockout_ends(username, client_ip(request))
    seconds = max(1, int((retry_at - timezone.now()).total_seconds()))
    response = render(
        request,
        "registration/locked_out.html",
        {"retry_at": retry_at, "minutes": -(-seconds // 60)},
        status=settings.AXES_HTTP_RESPONSE_CODE,
    )
    response["Retry-After"] = str(seconds)
    return response


def _lockout_ends(username: str, ip: str | None):
    # Failures during a lockout do not extend it (AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT is off): it
    # ends one cool-off after the last failure that counted, for the username or from the address.
    attempts = AccessAttempt.objects.filter(Q(username=username) | Q(ip_address=ip))
    last = attempts.aggregate(last=Max("attempt_time"))["last"]
    return (last or timezone.now()) + settings.AXES_COOLOFF_TIME


@never_cache
@sensitive_post_parameters(CODE_FIELD)
@login_required
@require_http_methods(["GET", "POST"])
def verify(request: HttpRequest) -> HttpResponse:
    """Second step of every sign-in for those who need it: a TOTP code from the enrolled authenticator."""
    next_url = _next_url(request)
    if not mfa.needs_second_factor(request):
        return redirect(next_url)
    device = mfa.confirmed_device(request.user)
    if device is None:
        return redirect(mfa.second_factor_url(request.user, next_url))
    error = ""
    if request.method == "POST":
        with auth_events.acting(request):
            outcome = _check_code(request, device)
        if isinstance(outcome, HttpResponse):
            return outcome
        if outcome is None:
            return redirect(next_url)
        error = outcome
    return render(request, "registration/mfa_verify.html", {"next": next_url, "error": error})


@never_cache
@sensitive_post_parameters(CODE_FIELD)
@login_required
@require_http_methods(["GET", "POST"])
def enrol(request: HttpRequest) -> HttpResponse:
    """First sign-in of a compliance officer or admin: pair an authenticator app, then prove it with a code.

    Replacing a device is an administrator's job (delete it in the admin; the next sign-in enrols again), so
    nobody who learnt a password can swap in their own authenticator.
    """
    next_url = _next_url(request)
    if not mfa.needs_second_factor(request):
        return redirect(next_url)
    if mfa.confirmed_device(request.user) is not None:
        return redirect(mfa.second_factor_url(request.user, next_url))  # enrolled already: verify
    device = mfa.pending_device(request.user)
    error = ""
    if request.method == "POST":
        with auth_events.acting(request):
            outcome = _check_code(request, device, confirm=True)
        if isinstance(outcome, HttpResponse):
            return outcome
        if outcome is None:
            return redirect(next_url)
        error = outcome
    context = {
        "next": next_url,
        "error": error,
        "qr_svg": mfa.qr_code_svg(device),
        "secret": mfa.secret_for_manual_entry(device),
        "issuer": settings.OTP_TOTP_ISSUER,
    }
    return render(request, "registration/mfa_enrol.html", context)


def _check_code(request: HttpRequest, device, *, confirm: bool = False):
    """None once the code verified the session; an error message to show; or the lockout response."""
    user = request.user
    credentials = {"username": user.get_username()}
    if not AxesProxyHandler.is_allowed(request, credentials):
        return _end_locked_session(request, credentials)
    allowed, _info = device.verify_is_allowed()
    code = request.POST.get(CODE_FIELD, "").replace(" ", "").strip()
    verified = allowed and code.isdigit() and django_otp.verify_token(user, device.persistent_id, code) is not None
    if verified:
        if confirm:
            device.confirmed = True
            device.save(update_fields=["confirmed"])
            type(device).objects.filter(user=user, confirmed=False).delete()
        request.session.cycle_key()  # a new session id once the sign-in is complete
        django_otp.login(request, device)
        auth_events.record_second_factor(request, user, device)
        return None
    user_login_failed.send(sender=__name__, credentials={**credentials, "factor": "totp"}, request=request)
    if getattr(request, "axes_locked_out", False):
        return _end_locked_session(request, credentials)
    if not allowed:
        return "Too many wrong codes in a row: wait a few seconds, then enter the current code."
    return "That code is not right. Enter the 6-digit code your authenticator shows now."


def _end_locked_session(request: HttpRequest, credentials: dict) -> HttpResponse:
    logout(request)
    request.axes_locked_out = False  # answered here; AxesMiddleware need not answer again
    return locked_out(request, None, credentials)


def _next_url(request: HttpRequest) -> str:
    candidate = request.POST.get("next") or request.GET.get("next") or ""
    if candidate and url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return candidate
    return reverse(settings.LOGIN_REDIRECT_URL)


_password_change = auth_views.PasswordChangeView.as_view(
    template_name="registration/password_change_form.html", success_url=reverse_lazy("password_change_done")
)


def password_change(request: HttpRequest, *args, **kwargs) -> HttpResponse:
    """Django's PasswordChangeView; the change itself is audited and revokes the API tokens (auth_events)."""
    with auth_events.acting(request):
        return _password_change(request, *args, **kwargs)


password_change_done = auth_views.PasswordChangeDoneView.as_view(template_name="registration/password_change_done.html")
