"""Attack: sign in as a compliance officer or admin with the password alone (phished, reused, guessed).
Refusal: nothing but the second-factor pages until a TOTP code verified the session (ASVS 6.3.3, 6.5.x)."""

from __future__ import annotations

import re
import time

import pytest
from django.contrib import admin
from django.contrib.auth.models import Group, User
from django.test import Client, RequestFactory
from django_otp.plugins.otp_totp.models import TOTPDevice

from reviews import mfa
from reviews.models import AuditEvent
from tests.fixtures.accounts import sign_in, totp_code

pytestmark = pytest.mark.django_db

PASSWORD = "the right password"
Action = AuditEvent.Action


def user_in(name: str, *groups: str, **flags) -> User:
    user = User.objects.create_user(name, password=PASSWORD, **flags)
    for group in groups:
        user.groups.add(Group.objects.get_or_create(name=group)[0])
    return user


@pytest.fixture
def carol(db):
    return user_in("carol", "Compliance")


@pytest.fixture
def enrolled(carol):
    return TOTPDevice.objects.create(user=carol, name="phone", confirmed=True)


def log_in(client: Client, username: str, password: str = PASSWORD, next_url: str = ""):
    return client.post(
        f"/login/{'?next=' + next_url if next_url else ''}", {"username": username, "password": password}
    )


def enter(client: Client, url: str, code: str, next_url: str = "/search/"):
    return client.post(url, {"otp_token": code, "next": next_url})


@pytest.mark.parametrize(
    "path", ["/search/", "/charts/", "/operations/", "/conversations/any/", "/admin/", "/account/password/", "/metrics"]
)
def test_it_sends_an_unenrolled_officer_to_enrol_before_anything(client, carol, path):
    log_in(client, "carol")
    answer = client.get(path)
    assert answer.status_code == 302 and answer["Location"].startswith("/account/enrol/?next=")


def test_it_sends_an_enrolled_officer_to_the_code_page_before_anything(client, enrolled):
    log_in(client, "carol")
    assert client.get("/search/")["Location"] == "/account/verify/?next=%2Fsearch%2F"
    answer = client.get("/operations/", headers={"HX-Request": "true"})
    assert answer["HX-Redirect"].startswith("/account/verify/")  # htmx navigates instead of swapping it in
    assert b"ops-live" not in answer.content


@pytest.mark.parametrize("flags", [{"is_staff": True}, {"is_superuser": True}])
def test_it_requires_the_second_factor_of_admins_too(client, flags):
    user_in("root", **flags)
    log_in(client, "root")
    assert client.get("/admin/")["Location"].startswith("/account/enrol/")


def test_it_protects_the_admin_site_itself_with_the_second_factor(carol):
    carol.is_staff = True
    carol.save()
    request = RequestFactory().get("/admin/")
    request.user = carol
    carol.is_verified = lambda: False  # what OTPMiddleware answers for a session without a verified device
    assert not admin.site.has_permission(request)
    carol.is_verified = lambda: True
    assert admin.site.has_permission(request)


def test_it_does_not_force_a_second_factor_on_reviewers(client):
    user_in("alice", "Reviewer")
    log_in(client, "alice")
    assert client.get("/search/").status_code == 200


def test_it_can_require_a_second_factor_of_everyone(client, settings):
    settings.MFA_REQUIRED_FOR_EVERYONE = True
    user_in("alice", "Reviewer")
    log_in(client, "alice")
    assert client.get("/search/")["Location"].startswith("/account/enrol/")


def test_it_shows_a_qr_code_and_the_key_to_enrol(client, carol):
    log_in(client, "carol")
    page = client.get("/account/enrol/?next=/search/").content.decode()
    device = TOTPDevice.objects.get(user=carol, confirmed=False)
    assert re.search(r"<svg[^>]*>.*<path", page, re.S)  # inline SVG: no image request, nothing for the CSP
    assert mfa.secret_for_manual_entry(device) in page
    assert client.get("/account/enrol/").content.decode().count(mfa.secret_for_manual_entry(device)) == 1
    assert TOTPDevice.objects.filter(user=carol).count() == 1  # a reload keeps the same key


def test_it_enrols_with_a_code_from_the_new_device_and_audits_it(client, carol):
    log_in(client, "carol")
    client.get("/account/enrol/")
    device = TOTPDevice.objects.get(user=carol)
    answer = enter(client, "/account/enrol/", totp_code(device))
    assert answer.status_code == 302 and answer["Location"] == "/search/"
    assert client.get("/search/").status_code == 200
    device.refresh_from_db()
    assert device.confirmed
    event = AuditEvent.objects.get(action=Action.MFA_CHANGE)
    assert event.user == carol and event.detail["operation"] == "enrolled" and event.ip == "127.0.0.1"
    assert AuditEvent.objects.filter(action=Action.LOGIN, detail__factor="totp").exists()


def test_it_refuses_a_wrong_code_and_counts_it_as_a_failed_sign_in(client, enrolled):
    log_in(client, "carol")
    answer = enter(client, "/account/verify/", "000000" if totp_code(enrolled) != "000000" else "111111")
    assert answer.status_code == 200 and b"not right" in answer.content
    assert client.get("/search/").status_code == 302
    event = AuditEvent.objects.get(action=Action.LOGIN_FAILED)
    assert event.detail["factor"] == "totp" and event.user.username == "carol"


def test_it_locks_out_guessing_the_code_and_ends_the_session(client, enrolled, settings):
    settings.OTP_TOTP_THROTTLE_FACTOR = 0  # django-otp's own slow-down aside: the lockout alone is tested here
    log_in(client, "carol")
    wrong = "000000" if totp_code(enrolled) != "000000" else "111111"
    answers = [enter(client, "/account/verify/", wrong) for _ in range(settings.AXES_FAILURE_LIMIT)]
    assert answers[-1].status_code == 429
    assert "_auth_user_id" not in client.session  # signed out
    assert log_in(client, "carol").status_code == 429  # and the password no longer opens a session either


def test_it_slows_down_repeated_wrong_codes(client, enrolled, settings):
    settings.OTP_TOTP_THROTTLE_FACTOR = 3600  # the first delay lasts an hour: no race with a slow machine
    log_in(client, "carol")
    wrong = "000000" if totp_code(enrolled) != "000000" else "111111"
    enter(client, "/account/verify/", wrong)
    # The next try comes within django-otp's delay: refused even with the right code, and said so.
    answer = enter(client, "/account/verify/", totp_code(enrolled))
    assert b"wait a few seconds" in answer.content and client.get("/search/").status_code == 302


def test_it_asks_for_a_code_at_every_sign_in(client, enrolled):
    log_in(client, "carol")
    assert enter(client, "/account/verify/", totp_code(enrolled))["Location"] == "/search/"
    client.post("/logout/")
    log_in(client, "carol")
    assert client.get("/search/")["Location"].startswith("/account/verify/")


def test_it_refuses_a_code_used_once_already(client, enrolled):
    code = totp_code(enrolled)
    log_in(client, "carol")
    enter(client, "/account/verify/", code)
    client.post("/logout/")
    enrolled.refresh_from_db()
    enrolled.throttling_failure_count = 0
    enrolled.save()
    log_in(client, "carol")
    assert b"not right" in enter(client, "/account/verify/", code).content


def test_it_refuses_a_code_from_another_time_window(client, enrolled):
    log_in(client, "carol")
    stale = totp_code(enrolled, at=time.time() - 10 * enrolled.step)
    assert b"not right" in enter(client, "/account/verify/", stale).content


def test_it_issues_a_new_session_id_once_the_code_verified(client, enrolled):
    log_in(client, "carol")
    before = client.cookies["sessionid"].value
    enter(client, "/account/verify/", totp_code(enrolled))
    assert client.cookies["sessionid"].value != before


def test_it_stops_a_user_who_joins_compliance_mid_session(client):
    alice = user_in("alice", "Reviewer")
    log_in(client, "alice")
    assert client.get("/search/").status_code == 200
    alice.groups.add(Group.objects.get_or_create(name="Compliance")[0])
    assert client.get("/search/")["Location"].startswith("/account/enrol/")


def test_it_does_not_let_an_enrolled_user_pair_another_device(client, enrolled):
    log_in(client, "carol")
    answer = client.get("/account/enrol/")
    assert answer["Location"].startswith("/account/verify/")
    assert TOTPDevice.objects.filter(user=enrolled.user).count() == 1


def test_it_ignores_a_next_url_pointing_elsewhere(client, enrolled):
    log_in(client, "carol")
    answer = enter(client, "/account/verify/", totp_code(enrolled), next_url="https://evil.example/")
    assert answer["Location"] == "/"  # home, which sends each role to its landing page


def test_it_lists_devices_in_the_admin_without_their_keys(enrolled):
    root = user_in("root", "Compliance", is_staff=True, is_superuser=True)
    admin_client = sign_in(root)
    page = admin_client.get(f"/admin/otp_totp/totpdevice/{enrolled.pk}/change/").content.decode()
    assert "phone" in page and enrolled.key not in page and mfa.secret_for_manual_entry(enrolled) not in page
    assert admin_client.get("/admin/otp_totp/totpdevice/add/").status_code == 403
    qr_view = admin_client.get(f"/admin/otp_totp/totpdevice/{enrolled.pk}/qrcode/")
    assert qr_view["Content-Type"].startswith("text/html")  # django-otp's device admin serves the QR; ours not


def test_it_audits_a_device_removed_by_an_admin_and_asks_its_owner_to_enrol_again(client, enrolled):
    root = user_in("root", is_staff=True, is_superuser=True)
    sign_in(root).post(f"/admin/otp_totp/totpdevice/{enrolled.pk}/delete/", {"post": "yes"})
    assert not TOTPDevice.objects.filter(pk=enrolled.pk).exists()
    event = AuditEvent.objects.get(action=Action.MFA_CHANGE, detail__operation="removed")
    assert event.user == root and event.detail["target"] == "carol"
    log_in(client, "carol")
    assert client.get("/search/")["Location"].startswith("/account/enrol/")
