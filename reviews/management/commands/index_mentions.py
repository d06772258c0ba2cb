"""python manage.py index_mentions: note the phone numbers and addresses of transcripts stored before the vault
noted them (IdentifierMention), so a data-subject request finds every call that mentions someone.

Only transcripts with a phone or e-mail finding are read (the detector found nothing in the others); their sealed
originals are opened in memory, nothing but the keyed digests is written. Running it again changes nothing.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand
from django.db import transaction

from reviews import identifiers
from reviews.models import IdentifierMention, Transcript
from reviews.pipeline.masking import identifiers_in_originals, write_identifier_mentions


class Command(BaseCommand):
    help = "Index the phone numbers and e-mail addresses found in stored transcripts (as keyed digests)."

    def handle(self, *args, **options):
        transcripts = Transcript.objects.filter(findings__kind__in=identifiers.KINDS).distinct().order_by("pk")
        scanned = noted = 0
        for transcript in transcripts.iterator(chunk_size=100):
            found = identifiers_in_originals(transcript)
            with transaction.atomic():
                IdentifierMention.objects.filter(transcript=transcript).delete()
                noted += write_identifier_mentions(transcript=transcript, found=found)
            scanned += 1
        self.stdout.write(f"transcripts scanned: {scanned}")
        self.stdout.write(self.style.SUCCESS(f"mentions indexed: {noted}"))
