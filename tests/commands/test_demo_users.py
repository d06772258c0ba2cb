from __future__ import annotations

import io

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command

from reviews import access, mfa
from reviews.models import ApiToken, AuditEvent

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _data_dir(settings):
    settings.DATA_DIR.mkdir(parents=True, exist_ok=True)  # demo-logins.json lives there


def run() -> str:
    out = io.StringIO()
    call_command("demo_users", stdout=out)
    return out.getvalue()


def test_it_creates_the_personas_and_says_how_the_second_factor_is_set_up():
    output = run()
    admin, compliance = User.objects.get(username="admin"), User.objects.get(username="compliance")
    assert admin.is_staff and not access.sees_everything(admin)  # the admin persona reads no transcript
    assert mfa.requires_mfa(admin) and mfa.requires_mfa(compliance)
    assert not mfa.requires_mfa(User.objects.get(username="reviewer"))
    assert "enrol an authenticator app at their first sign-in" in output


def test_it_does_not_change_the_passwords_when_run_again():
    run()
    ApiToken.issue(user=User.objects.get(username="supervisor"))
    AuditEvent.objects.all().delete()
    run()
    assert not AuditEvent.objects.filter(action=AuditEvent.Action.PASSWORD_CHANGE).exists()
    assert not ApiToken.objects.filter(revoked_at__isnull=False).exists()
