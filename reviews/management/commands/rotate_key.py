"""python manage.py rotate_key [--generate] [--dry-run]: rotate the vault key (reviews/encryption.py).

--generate prints a new key and how to install it. Without it, everything the vault holds encrypted that is not
under the active key is re-encrypted under it: every blob (transcript documents, audio; blobs stored before
encryption are encrypted now), every sealed original of a masked phrase and the shared Genesys OAuth token.
Content addresses do not change (they are the plaintext's sha256). Each item is replaced on its own (atomic rename,
conditional UPDATE), so the command is idempotent and resumable: run it again after an interruption.

The compliance archive is write-once and is not re-encrypted: the command says which keys its documents need.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db.models import QuerySet

from reviews import blobs, encryption
from reviews.compliance.verify import archive_key_ids
from reviews.models import OAuthToken, Utterance
from reviews.pipeline.masking import associated_data_of
from reviews.token_cache import seal_token, unseal_token

BATCH = 500
PROBLEMS_SHOWN = 20


class Command(BaseCommand):
    help = "Re-encrypt blobs and sealed values under the active VAULT_ENCRYPTION_KEY, or --generate a new key."

    def add_arguments(self, parser):
        parser.add_argument("--generate", action="store_true", help="print a new key and how to install it")
        parser.add_argument("--dry-run", action="store_true", help="count what would be re-encrypted; change nothing")

    def handle(self, *args, generate=False, dry_run=False, **options):
        if generate:
            self.print_new_key()
            return
        ring = encryption.keyring()
        retired = sorted(key_id for key_id in ring.by_id if key_id != ring.active.key_id)
        self.stdout.write(f"active key: {ring.active.key_id}; retired keys: {', '.join(retired) or 'none'}")
        problems: list[str] = []
        verb = "would re-encrypt" if dry_run else "re-encrypted"
        counts = self.rotate_blobs(dry_run=dry_run, problems=problems)
        self.stdout.write(
            f"blobs: {counts['current']} under the active key, {verb} {counts['retired']} sealed by a retired key "
            f"and {counts['plaintext']} stored in clear"
        )
        current, resealed = self.rotate_originals(dry_run=dry_run, problems=problems)
        verb = "would re-seal" if dry_run else "re-sealed"
        self.stdout.write(f"masked phrase originals: {current} under the active key, {verb} {resealed}")
        resealed, dropped = self.rotate_tokens(dry_run=dry_run)
        self.stdout.write(f"Genesys OAuth tokens: {verb} {resealed}, dropped {dropped} that no key opens")
        self.report_archive(ring)
        if problems:
            shown = "\n".join(f"  - {problem}" for problem in problems[:PROBLEMS_SHOWN])
            more = f"\n  … and {len(problems) - PROBLEMS_SHOWN} more" if len(problems) > PROBLEMS_SHOWN else ""
            raise CommandError(f"rotate_key: {len(problems)} items could not be re-encrypted:\n{shown}{more}")
        if not dry_run:
            self.stdout.write(self.style.SUCCESS("everything the vault holds is under the active key"))

    def print_new_key(self) -> None:
        text = encryption.generate_key_text()
        key_id = encryption.parse_key(text, name="the new key").key_id
        self.stdout.write(text)
        self.stderr.write(
            f"\nA new vault key (id {key_id}). Keep it secret, like SECRET_KEY. To rotate to it:\n"
            "  1. set VAULT_ENCRYPTION_KEY (or VAULT_ENCRYPTION_KEY_FILE) to the new key;\n"
            "  2. append the key in use now to VAULT_ENCRYPTION_OLD_KEYS (comma or space separated);\n"
            "  3. restart every web and worker process with the same two values;\n"
            "  4. run `python manage.py rotate_key` (safe to re-run; --dry-run counts first).\n"
            "Keep a retired key in VAULT_ENCRYPTION_OLD_KEYS as long as the compliance archive retains documents "
            "it sealed (rotate_key and compliance_verify name them); drop it only after that.\n"
        )

    def rotate_blobs(self, *, dry_run: bool, problems: list[str]) -> Counter:
        counts: Counter = Counter(current=0, retired=0, plaintext=0)
        active = encryption.keyring().active.key_id
        for path in blobs.stored_blobs():
            try:
                key_id = blobs.key_id_of(path)
                if key_id == active:
                    counts["current"] += 1
                    continue
                if not dry_run:
                    blobs.reseal(path)
                counts["retired" if key_id else "plaintext"] += 1
            except encryption.DecryptionError as exc:  # unknown key id, tampered, not its address
                problems.append(f"blob {path.relative_to(blobs.blob_root())}: {exc}")
        return counts

    def rotate_originals(self, *, dry_run: bool, problems: list[str]) -> tuple[int, int]:
        active_prefix = _sealed_prefix(encryption.keyring().active.key_id)
        sealed = Utterance.objects.exclude(sealed_original="")
        current = sealed.filter(sealed_original__startswith=active_prefix).count()
        stale = sealed.exclude(sealed_original__startswith=active_prefix).select_related("conversation", "transcript")
        resealed = 0
        for utterance in _in_batches(stale):
            binding = associated_data_of(utterance)
            try:
                plaintext = encryption.unseal(utterance.sealed_original, associated_data=binding)
            except encryption.DecryptionError as exc:
                problems.append(f"utterance {utterance.pk} (conversation {utterance.conversation.genesys_id}): {exc}")
                continue
            if not dry_run:
                # Conditional on the value read: an original re-sealed meanwhile (another run) is left alone.
                Utterance.objects.filter(pk=utterance.pk, sealed_original=utterance.sealed_original).update(
                    sealed_original=encryption.seal(plaintext, associated_data=binding)
                )
            resealed += 1
        return current, resealed

    def rotate_tokens(self, *, dry_run: bool) -> tuple[int, int]:
        """The cached Genesys token: re-sealed, or (sealed by a key no longer held) dropped: it is a cache, the next
        caller fetches a new one. A token stored before sealing existed is sealed. The Redis copy expires in a
        day by itself and is read as a miss once no key opens it."""
        active_prefix = _sealed_prefix(encryption.keyring().active.key_id)
        resealed = dropped = 0
        for row in OAuthToken.objects.exclude(token="").exclude(token__startswith=active_prefix):
            is_sealed = row.token.startswith(f"{encryption.SEALED_PREFIX}:")
            token = unseal_token(row.key, row.token) if is_sealed else row.token
            if not dry_run:
                OAuthToken.objects.filter(pk=row.pk, token=row.token).update(
                    token=seal_token(row.key, token) if token is not None else ""
                )
            resealed, dropped = (resealed + 1, dropped) if token is not None else (resealed, dropped + 1)
        return resealed, dropped

    def report_archive(self, ring: encryption.Keyring) -> None:
        needed = archive_key_ids(Path(settings.COMPLIANCE_ARCHIVE_DIR))
        for key_id, documents in sorted(needed.items()):
            if key_id == ring.active.key_id:
                state = "the active key"
            elif key_id in ring.by_id:
                state = "retired: keep it in VAULT_ENCRYPTION_OLD_KEYS while the archive retains them"
            else:
                state = "MISSING from the keyring: these archived documents cannot be read"
            self.stdout.write(f"compliance archive: {documents} documents sealed by {key_id} ({state})")


def _sealed_prefix(key_id: str) -> str:
    return f"{encryption.SEALED_PREFIX}:{key_id}:"


def _in_batches(queryset: QuerySet) -> Iterator:
    """Rows in primary-key order, BATCH at a time: no long-running cursor, and rows updated meanwhile are fine."""
    last = 0
    while True:
        rows = list(queryset.filter(pk__gt=last).order_by("pk")[:BATCH])
        if not rows:
            return
        yield from rows
        last = rows[-1].pk
