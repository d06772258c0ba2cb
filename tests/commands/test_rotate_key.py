from __future__ import annotations

import hashlib
import io
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from reviews import blobs, encryption
from reviews.compliance import relay_due
from reviews.models import Division, OAuthToken, Transcript, Utterance
from reviews.pipeline.masking import open_original
from reviews.token_cache import DatabaseTokenCache
from tests.fixtures.leaky_transcripts import ingest_leaky

pytestmark = pytest.mark.django_db


def rotate(*args: str) -> str:
    out = io.StringIO()
    call_command("rotate_key", *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def store(content: bytes, kind: str) -> Path:
    with blobs.staging_file(kind) as (stream, path):
        stream.write(content)
        return blobs.absolute_path(blobs.promote(path, kind=kind, sha256=hashlib.sha256(content).hexdigest()))


def plant_plaintext_blob(content: bytes) -> Path:
    """A blob as stored before encryption existed."""
    path = blobs.absolute_path(blobs.relative_path("audio", hashlib.sha256(content).hexdigest()))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return path


def new_active_key(settings) -> tuple[str, str]:
    """Install a new key, the current one retired: step 1-3 of `rotate_key --generate`'s instructions."""
    retired = settings.VAULT_ENCRYPTION_KEY
    settings.VAULT_ENCRYPTION_KEY = encryption.generate_key_text()
    settings.VAULT_ENCRYPTION_OLD_KEYS = [retired]
    return encryption.parse_key(retired, name="x").key_id, encryption.keyring().active.key_id


@pytest.fixture
def vault(settings):
    """Leaky transcripts stored by the real store path (sealed originals), audio, a cached OAuth token."""
    stored = ingest_leaky(division=Division.objects.create(genesys_id="div-rotate", name="Rotate"))
    audio = store(b"RIFF audio bytes", kind="audio")
    DatabaseTokenCache().set("genesys:rotate", "bearer-token", 1e12)
    return stored, audio


def test_it_generates_a_key_and_says_how_to_install_it():
    out, err = io.StringIO(), io.StringIO()

    call_command("rotate_key", "--generate", stdout=out, stderr=err)

    key = encryption.parse_key(out.getvalue().strip(), name="generated")
    assert key.key_id in err.getvalue()
    assert "VAULT_ENCRYPTION_KEY" in err.getvalue() and "VAULT_ENCRYPTION_OLD_KEYS" in err.getvalue()


def test_it_re_encrypts_every_blob_and_sealed_value_under_the_new_key(vault, settings):
    stored, audio = vault
    transcripts = list(Transcript.objects.all())
    originals = Utterance.objects.exclude(sealed_original="")
    assert originals.exists()
    before = {t.pk: blobs.sha256_of(blobs.absolute_path(t.raw_path)) for t in transcripts}
    retired, active = new_active_key(settings)

    output = rotate()

    assert f"active key: {active}; retired keys: {retired}" in output
    assert f"re-encrypted {len(transcripts) + 1} sealed by a retired key" in output
    assert f"masked phrase originals: 0 under the active key, re-sealed {originals.count()}" in output
    assert "Genesys OAuth tokens: re-sealed 1" in output
    settings.VAULT_ENCRYPTION_OLD_KEYS = []  # the retired key is gone: everything must open with the new one
    for transcript in transcripts:
        path = blobs.absolute_path(transcript.raw_path)
        assert blobs.key_id_of(path) == active
        assert blobs.sha256_of(path) == before[transcript.pk] == transcript.sha256 == path.name  # same address
        assert oct(path.stat().st_mode & 0o777) == "0o400"
    assert blobs.key_id_of(audio) == active
    for utterance in originals.select_related("conversation", "transcript"):
        assert encryption.sealed_key_id(utterance.sealed_original) == active
        assert open_original(utterance)["text"] != utterance.text  # the original, not the masked text
    assert DatabaseTokenCache().get("genesys:rotate") == ("bearer-token", 1e12)


def test_it_changes_nothing_on_a_dry_run(vault, settings):
    _, audio = vault
    sealed = dict(Utterance.objects.exclude(sealed_original="").values_list("pk", "sealed_original"))
    on_disk = audio.read_bytes()
    new_active_key(settings)

    output = rotate("--dry-run")

    assert "would re-encrypt" in output and "would re-seal" in output
    assert audio.read_bytes() == on_disk
    assert dict(Utterance.objects.exclude(sealed_original="").values_list("pk", "sealed_original")) == sealed


def test_it_is_idempotent_and_resumes_where_it_stopped(vault, settings):
    new_active_key(settings)
    rotate()

    output = rotate()

    assert "re-encrypted 0 sealed by a retired key and 0 stored in clear" in output
    assert "re-sealed 0" in output


def test_it_encrypts_blobs_stored_before_encryption(settings):
    legacy = plant_plaintext_blob(b"a card number 4111 1111 1111 1111")
    OAuthToken.objects.create(key="genesys:legacy", token="plain-bearer-token", refresh_at=1e12)

    output = rotate()

    assert "0 sealed by a retired key and 1 stored in clear" in output
    assert b"4111" not in legacy.read_bytes()
    with blobs.open_file(legacy) as stream:
        assert stream.read() == b"a card number 4111 1111 1111 1111"
    assert "plain-bearer-token" not in OAuthToken.objects.get().token
    assert DatabaseTokenCache().get("genesys:legacy") == ("plain-bearer-token", 1e12)


def test_it_fails_clearly_on_an_unknown_key_id_and_still_rotates_the_rest(settings):
    lost = store(b"sealed by a key nobody kept", kind="audio")
    lost_key = encryption.keyring().active.key_id
    settings.VAULT_ENCRYPTION_KEY = encryption.generate_key_text()  # the old key was NOT kept
    other = plant_plaintext_blob(b"stored in clear")

    with pytest.raises(CommandError) as failure:
        rotate()

    message = str(failure.value)
    assert "1 items could not be re-encrypted" in message
    assert f"blob audio/{lost.parent.name}/{lost.name}: no vault key with id '{lost_key}'" in message
    assert "VAULT_ENCRYPTION_OLD_KEYS" in message
    assert blobs.key_id_of(other) == encryption.keyring().active.key_id


def test_it_names_the_retired_keys_the_compliance_archive_still_needs(vault, settings):
    delivered = relay_due().delivered  # the store path queued one outbox row per transcript
    assert delivered == Transcript.objects.count()
    retired, _ = new_active_key(settings)

    output = rotate()

    assert (
        f"compliance archive: {delivered} documents sealed by {retired} "
        "(retired: keep it in VAULT_ENCRYPTION_OLD_KEYS while the archive retains them)"
    ) in output
