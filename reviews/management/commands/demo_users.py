"""Create the demo personas with scopes over the ingested data and print their logins.

admin and compliance need a second factor (reviews/mfa.py). They are not pre-enrolled: a TOTP key printed
here would sit in terminal scroll-back and logs, and the first sign-in shows the real enrolment (a QR code
and the key) that every compliance officer and administrator goes through.
"""

from __future__ import annotations

import json
import secrets

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand

from reviews.models import AccessScope, Division, Queue

PERSONAS = (
    ("admin", "administrator: Django admin only, no transcripts (least privilege); TOTP"),
    ("supervisor", "Supervisor of every division"),
    ("reviewer", "Reviewer of two queues"),
    ("compliance", "Compliance officer (read-only, findings, audit); TOTP"),
)


class Command(BaseCommand):
    help = "Create demo users (admin, supervisor, reviewer, compliance) and print their logins."

    def handle(self, *args, **options) -> None:
        logins = self._load_or_create_passwords()
        for username, role in PERSONAS:
            user = self._ensure_user(username, logins[username])
            self._apply_role(user, username)
            self.stdout.write(f"  {username:<11} {logins[username]:<24} {role}")
        self.stdout.write(
            "  TOTP: admin and compliance enrol an authenticator app at their first sign-in (scan the QR code or\n"
            "  type the key shown), then enter its 6-digit code at every sign-in. A lost device: delete it in the\n"
            "  admin (TOTP devices); the next sign-in enrols again."
        )

    def _load_or_create_passwords(self) -> dict[str, str]:
        path = settings.DATA_DIR / "demo-logins.json"
        logins = json.loads(path.read_text()) if path.exists() else {}
        for username, _role in PERSONAS:
            logins.setdefault(username, secrets.token_urlsafe(12))
        path.write_text(json.dumps(logins, indent=2))
        path.chmod(0o600)
        return logins

    def _ensure_user(self, username: str, password: str):
        user_model = get_user_model()
        user = user_model.objects.filter(username=username).first() or user_model(username=username)
        # Only a new or different password is set: setting it again would count as a change (and revoke the
        # user's API tokens) at every `make demo`.
        if user.pk is None or not user.check_password(password):
            user.set_password(password)
        user.is_staff = user.is_superuser = username == "admin"
        user.save()
        return user

    def _apply_role(self, user, username: str) -> None:
        group_name = {"supervisor": "Supervisor", "reviewer": "Reviewer", "compliance": "Compliance"}.get(username)
        if group_name is None:
            return
        user.groups.add(Group.objects.get_or_create(name=group_name)[0])
        scope, _ = AccessScope.objects.get_or_create(user=user)
        if username == "supervisor":
            scope.divisions.set(Division.objects.all())
        elif username == "reviewer":
            scope.queues.set(Queue.objects.order_by("name")[:2])
