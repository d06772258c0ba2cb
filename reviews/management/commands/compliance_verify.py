"""python manage.py compliance_verify: prove the filesystem compliance archive is intact."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from reviews.compliance.verify import verify_archive
from reviews.models import OutboxMessage


class Command(BaseCommand):
    help = (
        "Check the compliance archive's manifest hash chain, every archived file's sha256, and delivered outbox rows."
    )

    def add_arguments(self, parser):
        parser.add_argument("--archive-dir", default=None, help="defaults to COMPLIANCE_ARCHIVE_DIR")
        parser.add_argument(
            "--no-outbox", action="store_true", help="skip the check that delivered filesystem rows are in the manifest"
        )

    def handle(self, *args, archive_dir=None, no_outbox=False, **options):
        root = Path(archive_dir or settings.COMPLIANCE_ARCHIVE_DIR)
        delivered = () if no_outbox else self._delivered_keys()
        report = verify_archive(root, delivered_keys=delivered)
        self.stdout.write(f"archive: {root}")
        self.stdout.write(f"manifest lines checked: {report.lines}")
        self.stdout.write(f"archived files checked: {report.files}")
        self.stdout.write(f"delivered outbox rows checked: {report.delivered_keys}")
        for warning in report.warnings:
            self.stdout.write(self.style.WARNING(f"warning: {warning}"))
        if not report.ok:
            problems = "\n".join(f"  - {problem}" for problem in report.problems)
            raise CommandError(f"compliance archive verification failed ({len(report.problems)} problems):\n{problems}")
        self.stdout.write(self.style.SUCCESS("compliance archive OK: chain intact, every file matches its sha256"))

    def _delivered_keys(self):
        return OutboxMessage.objects.filter(sink="filesystem", state=OutboxMessage.State.DELIVERED).values_list(
            "idempotency_key", flat=True
        )
