"""Create the demo personas with scopes over the ingested data and print their logins."""

from __future__ import annotations

import json
import secrets

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand

from reviews.models import AccessScope, Division, Queue

PERSONAS = (
    ("admin", "staff administrator (everything, Django admin)"),
    ("supervisor", "Supervisor of every division"),
    ("reviewer", "Reviewer of two queues"),
    ("compliance", "Compliance officer (read-only, findings, audit)"),
)


class Command(BaseCommand):
    help = "Create demo users (admin, supervisor, reviewer, compliance) and print their logins."

    def handle(self, *args, **options) -> None:
        logins = self._load_or_create_passwords()
        for username, role in PERSONAS:
            user = self._ensure_user(username, logins[username])
            self._apply_role(user, username)
            self.stdout.write(f"  {username:<11} {logins[username]:<24} {role}")

    def _load_or_create_passwords(self) -> dict[str, str]:
        path = settings.DATA_DIR / "demo-logins.json"
        logins = json.loads(path.read_text()) if path.exists() else {}
        for username, _role in PERSONAS:
            logins.setdefault(username, secrets.token_urlsafe(12))
        path.write_text(json.dumps(logins, indent=2))
        path.chmod(0o600)
        return logins

    def _ensure_user(self, username: str, password: str):
        user, _ = get_user_model().objects.get_or_create(username=username)
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
