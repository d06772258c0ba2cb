"""python manage.py create_api_token USERNAME [--name NAME]: issue a bearer token for the JSON API."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from reviews.models import ApiToken


class Command(BaseCommand):
    help = "Create an API token for a user and print it once (only its sha256 is stored)."

    def add_arguments(self, parser):
        parser.add_argument("username", help="existing user the token acts as (same scope and groups)")
        parser.add_argument("--name", default="", help="label shown in the admin, e.g. 'crm integration'")

    def handle(self, *args, username: str, name: str, **options):
        user_model = get_user_model()
        try:
            user = user_model._default_manager.get_by_natural_key(username)
        except user_model.DoesNotExist:
            raise CommandError(
                f"no user named {username!r}; create the user first (createsuperuser or admin)"
            ) from None
        if not user.is_active:
            raise CommandError(f"user {username!r} is inactive; activate it before issuing a token")
        _token, key = ApiToken.issue(user=user, name=name[:100])
        # The key goes alone to stdout so scripts can capture it; the reminder goes to stderr.
        self.stdout.write(key)
        self.stderr.write(f"Token for {username} created. It is shown only this once; store it now.")
