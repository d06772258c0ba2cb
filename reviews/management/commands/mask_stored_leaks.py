"""python manage.py mask_stored_leaks [--dry-run]: mask leaked values a vault stored in clear before it masked them.

A vault upgraded from a version that stored transcript text as Genesys sent it still holds the values its leak
detector flagged. This re-scans every transcript's stored utterances in order (the scanner and masking ingest
uses), masks and seals what it finds, and then reclaims the space the clear rows held: SQLite rebuilds the search
index, VACUUMs the file and truncates the WAL, so freed pages no longer hold a value; PostgreSQL runs VACUUM FULL
on the utterance table (rewriting it and its search index; archived WAL segments and backups keep the old rows
until their retention drops them). Running it again changes nothing. It prints counts, never a value.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import connection, transaction

from reviews.models import Transcript, Utterance
from reviews.pipeline.masking import PhraseMasker, associated_data_for
from reviews.redaction import RedactionScanner
from reviews.search.sqlite import TABLE as FTS_TABLE

BATCH = 500


@dataclass
class _Totals:
    transcripts: int = 0
    transcripts_masked: int = 0
    utterances_masked: int = 0


class Command(BaseCommand):
    help = "Mask (and seal the originals of) leaked values stored in clear by an earlier version, then VACUUM."

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="count what would be masked; change nothing")

    def handle(self, *args, dry_run=False, **options):
        totals = _Totals()
        for transcript in Transcript.objects.select_related("conversation").order_by("pk").iterator(chunk_size=100):
            masked = mask_transcript(transcript, dry_run=dry_run)
            totals.transcripts += 1
            totals.transcripts_masked += bool(masked)
            totals.utterances_masked += masked
        verb = "would mask" if dry_run else "masked"
        self.stdout.write(f"transcripts scanned: {totals.transcripts}")
        self.stdout.write(f"transcripts with values to mask: {totals.transcripts_masked}")
        self.stdout.write(f"utterances {verb}: {totals.utterances_masked}")
        if dry_run:
            self.stdout.write("dry run: nothing was changed")
        elif totals.utterances_masked:
            reclaim_space()
            self.stdout.write(f"reclaimed freed space ({connection.vendor}): the clear rows are gone from the file")
        self.stdout.write(self.style.SUCCESS("done"))


def mask_transcript(transcript: Transcript, *, dry_run: bool) -> int:
    """Masks one transcript's utterances in one transaction; returns how many were (or would be) masked."""
    masker = PhraseMasker(
        RedactionScanner(phone_regions=settings.PII_PHONE_REGIONS), associated_data=associated_data_for(transcript)
    )
    masked = 0
    with transaction.atomic():
        changed: list[Utterance] = []
        for utterance in _utterances(transcript):
            changed.extend(ready for ready, was_masked in masker.add(utterance) if was_masked)
            masked += _write(changed, dry_run=dry_run)
        _, rest = masker.finish()
        changed.extend(ready for ready, was_masked in rest if was_masked)
        masked += _write(changed, dry_run=dry_run, final=True)
    return masked


def _utterances(transcript: Transcript):
    """The transcript's utterances in document order, a batch at a time (keyset, never an open cursor while
    this command writes the same table)."""
    after = -1
    while True:
        batch = list(transcript.utterances.filter(index__gt=after).order_by("index")[:BATCH])
        if not batch:
            return
        yield from batch
        after = batch[-1].index


def _write(changed: list[Utterance], *, dry_run: bool, final: bool = False) -> int:
    if not changed or (len(changed) < BATCH and not final):
        return 0
    count = len(changed)
    if not dry_run:
        Utterance.objects.bulk_update(changed, ["text", "words", "sealed_original"], batch_size=BATCH)
    changed.clear()
    return count


def reclaim_space() -> None:
    """Drops what the old rows left behind: index entries, freed pages and WAL frames."""
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            # 'rebuild' re-reads the (now masked) text; deleted entries of the old segments are gone with them.
            cursor.execute(f"INSERT INTO {FTS_TABLE}({FTS_TABLE}) VALUES ('rebuild')")
            cursor.execute("VACUUM")
            cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        else:
            cursor.execute("VACUUM FULL reviews_utterance")
