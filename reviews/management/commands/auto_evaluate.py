"""python manage.py auto_evaluate [--all] [--limit N] [--install-starter-form]: automatic answers for stored calls."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from reviews.evaluations import starter
from reviews.evaluations.auto import current_versions, score_pending


class Command(BaseCommand):
    help = (
        "Score the automatic questions of every current evaluation form for calls not scored yet "
        "(with --all: re-score every call with a transcript, e.g. after publishing a new form version)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--all", action="store_true", dest="everything", help="re-score every stored call")
        parser.add_argument("--limit", type=int, default=None, help="most calls to score in this run (default: all)")
        parser.add_argument(
            "--install-starter-form",
            action="store_true",
            dest="starter_form",
            help="first create and publish the starter scorecard (once; an existing one is left as it is)",
        )

    def handle(self, *args, everything=False, limit=None, starter_form=False, **options):
        if limit is not None and limit < 1:
            raise CommandError("--limit must be at least 1")
        if starter_form:
            version, created = starter.install_starter_form(now=timezone.now())
            self.stdout.write(f"{'Installed' if created else 'Kept the existing'} {version}.")
        versions = current_versions()
        if not versions:
            self.stdout.write("No published evaluation form has automatic questions: nothing to score.")
            return
        scored = score_pending(everything=everything, limit=limit)
        names = ", ".join(str(version) for version in versions)
        self.stdout.write(self.style.SUCCESS(f"Scored {scored} conversation(s) with {names}."))
