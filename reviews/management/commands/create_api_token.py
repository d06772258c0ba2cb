"""python manage.py create_api_token USERNAME [--name NAME] [--scope read|process] [--expires-in-days N]:
issue a bearer token for the JSON API. Issuing it is a TOKEN_ISSUED audit event (reviews/auth_events.py)."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from reviews.models import ApiToken


class Command(BaseCommand):
    help = "Create an API token for a user and print it once (only its sha256 is stored)."

    def add_arguments(self, parser):
        parser.add_argument("username", help="existing user the token acts as (same scope and groups)")
        parser.add_argument("--name", default="", help="label shown in the admin, e.g. 'crm integration'")
        parser.add_argument(
            "--scope",
            choices=ApiToken.Scope.values,
            default=ApiToken.Scope.READ,
            help="read: search and transcripts (default); process: also POST /api/transcripts/process",
        )
        parser.add_argument(
            "--expires-in-days",
            type=int,
            default=settings.API_TOKEN_LIFETIME_DAYS,
            help=f"lifetime in days, 1 to {settings.API_TOKEN_MAX_LIFETIME_DAYS} "
            f"(default {settings.API_TOKEN_LIFETIME_DAYS}, API_TOKEN_LIFETIME_DAYS)",
        )

    def handle(self, *args, username: str, name: str, scope: str, expires_in_days: int, **options):
        if not 1 <= expires_in_days <= settings.API_TOKEN_MAX_LIFETIME_DAYS:
            raise CommandError(
                f"--expires-in-days must be from 1 to {settings.API_TOKEN_MAX_LIFETIME_DAYS}, got {expires_in_days}"
            )
        user_model = get_user_model()
        try:
            user = user_model._default_manager.get_by_natural_key(username)
        except user_model.DoesNotExist:
            raise CommandError(
                f"no user named {username!r}; create the user first (createsuperuser or admin)"
            ) from None
        if not user.is_active:
            raise CommandError(f"user {username!r} is inactive; activate it before issuing a token")
        token, key = ApiToken.issue(user=user, name=name[:100], scope=scope, lifetime=timedelta(days=expires_in_days))
        # The key goes alone to stdout so scripts can capture it; the reminder goes to stderr.
        self.stdout.write(key)
        self.stderr.write(
            f"Token for {username} created (scope {scope}, expires {token.expires_at:%Y-%m-%d %H:%M} UTC). "
            "It is shown only this once; store it now."
        )
