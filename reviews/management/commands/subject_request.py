"""python manage.py subject_request --phone +1… | --email … [--json] [--export FILE.zip] [--erase --yes]

Finds every call of a data subject (as caller, from analytics `ani`, and where a transcript mentions their number
or address), prints what the vault holds of each, and optionally writes the access package or runs the erasure
(reviews/subject_requests.py). Each run is a recorded, audited request; the identifier itself is never stored or
printed, only its hint ("…0150").
"""

from __future__ import annotations

import json
from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from reviews import subject_requests

DEFAULT_REFERENCE = "requested on the command line"


class Command(BaseCommand):
    help = "Find a data subject's calls by phone number or e-mail address; export them or erase them."

    def add_arguments(self, parser):
        who = parser.add_mutually_exclusive_group(required=True)
        who.add_argument("--phone", help="the subject's phone number, e.g. +13125550150")
        who.add_argument("--email", help="the subject's e-mail address")
        parser.add_argument("--reference", default=DEFAULT_REFERENCE, help="the ticket or case of the request")
        parser.add_argument("--by", default="", help="username of the compliance officer handling it (audited)")
        parser.add_argument("--json", action="store_true", help="print the result as JSON")
        parser.add_argument("--export", metavar="FILE", help="write the access package (a ZIP) to FILE")
        parser.add_argument("--erase", action="store_true", help="erase what may be erased (needs --yes)")
        parser.add_argument("--yes", action="store_true", help="confirm the erasure")

    def handle(self, *args, phone=None, email=None, reference="", by="", json=False, **options):
        if options["erase"] and not options["yes"]:
            raise CommandError("--erase deletes the subject's transcripts and recordings: add --yes to confirm")
        if options["erase"] and reference == DEFAULT_REFERENCE:
            raise CommandError("--erase needs --reference: the ticket or case the erasure request came in")
        export_path = _export_path(options["export"])
        user = _user(by)
        now = timezone.now()
        try:
            subject_request = subject_requests.open_request(
                phone=phone or "", email=email or "", reference=reference, by=user, now=now
            )
        except subject_requests.SubjectRequestError as error:
            raise CommandError(str(error)) from None
        report = subject_requests.lookup(subject_request, now=now, user=user)
        if export_path is not None:
            with export_path.open("wb") as out:
                report["export"] = {
                    "path": str(export_path),
                    "sha256": subject_requests.write_package(subject_request, out, now=now, user=user),
                }
        if options["erase"]:
            report["erasure"] = subject_requests.erase(subject_request, now=now, user=user)
            report["erased_at"] = now.isoformat()
        if json:
            self.stdout.write(_dumps(report))
            return
        self._print(report)

    def _print(self, report: dict) -> None:
        identifier = report["identifier"]
        self.stdout.write(f"subject request {report['request']}: {identifier['kind']} {identifier['hint']}")
        for row in report["conversations"]:
            held = row["held"]
            facts = [row["match"], f"{len(held['transcripts'])} transcripts", f"{len(held['recordings'])} recordings"]
            if row["legal_holds"]:
                facts.append(f"legal holds {', '.join(map(str, row['legal_holds']))}")
            if row["kept_by_law_until"]:
                facts.append(f"kept by law until {row['kept_by_law_until'][:10]}")
            if row["already_deleted"]:
                facts.append(f"{len(row['already_deleted'])} items deleted earlier")
            self.stdout.write(f"  {row['conversation']}  {row['started_at'][:16]}  {'; '.join(facts)}")
        if "export" in report:
            self.stdout.write(f"access package: {report['export']['path']} (sha256 {report['export']['sha256']})")
        erasure = report.get("erasure")
        if erasure and "erased" in erasure:
            for item in erasure["erased"]:
                self.stdout.write(f"erased: {item['conversation']} {item['item']} {item.get('item_id', '')}".rstrip())
            for item in erasure["kept"]:
                self.stdout.write(f"kept: {item['conversation']} {item.get('item', '')} ({item['why']})")
            for note in erasure["notes"]:
                self.stdout.write(f"note: {note}")
        found = len(report["conversations"])
        self.stdout.write(self.style.SUCCESS(f"{found} conversation{'s' if found != 1 else ''} found"))


def _export_path(raw: str | None) -> Path | None:
    if raw is None:
        return None
    path = Path(raw)
    if path.exists():
        raise CommandError(f"--export {raw}: the file exists; give a new file name")
    if not path.parent.is_dir():
        raise CommandError(f"--export {raw}: no such directory {path.parent}")
    return path


def _user(username: str):
    if not username:
        return None
    user = get_user_model().objects.filter(username=username, is_active=True).first()
    if user is None:
        raise CommandError(f"--by {username}: no active user of that name")
    return user


def _dumps(value) -> str:
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False)
