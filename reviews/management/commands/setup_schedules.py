from __future__ import annotations

from django.core.management.base import BaseCommand

from reviews.schedules import setup_schedules


class Command(BaseCommand):
    help = "Create or update the django-q2 schedules (discover, advance, relay outbox, reconcile). Idempotent."

    def handle(self, *args, **options) -> None:
        for name, outcome in setup_schedules().items():
            self.stdout.write(f"{outcome:9} {name}")
