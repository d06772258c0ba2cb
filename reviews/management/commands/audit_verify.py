"""python manage.py audit_verify [--json] [--seal-legacy]: check the audit trail's hash chain (reviews/audit_chain.py)."""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError

from reviews import audit_chain


class Command(BaseCommand):
    help = (
        "Check that no audit event was changed, deleted or inserted: walks the hash chain and names the first broken "
        "row (exit 1). Records the verdict for the operations page and /metrics."
    )

    def add_arguments(self, parser):
        parser.add_argument("--json", action="store_true", help="print the verdict as one JSON object")
        parser.add_argument(
            "--seal-legacy",
            action="store_true",
            help="first chain the events written before the chain existed (only if the rest of the chain is intact)",
        )

    def handle(self, *args, **options):
        verdict = audit_chain.seal_legacy() if options["seal_legacy"] else audit_chain.check_and_record()
        if options["json"]:
            self.stdout.write(json.dumps(verdict.as_dict(), sort_keys=True))
        else:
            self._describe(verdict)
        if not verdict.ok:
            raise CommandError(f"audit chain broken at event {verdict.broken_id}: {verdict.reason}")

    def _describe(self, verdict) -> None:
        self.stdout.write(f"chained events checked: {verdict.checked}")
        if verdict.legacy:
            self.stdout.write(
                self.style.WARNING(
                    f"warning: {verdict.legacy} events written before the chain existed are not chained "
                    "(run with --seal-legacy to chain them)"
                )
            )
        if verdict.ok and verdict.head_id is None:
            self.stdout.write(self.style.SUCCESS("audit chain OK: no chained event yet"))
        elif verdict.ok:
            self.stdout.write(self.style.SUCCESS(f"audit chain OK up to event {verdict.head_id} ({verdict.head_hash})"))
