from __future__ import annotations

import io
import re

import pytest
from django.core.management import call_command
from django.db import connection

from reviews.models import Division, Utterance
from reviews.pipeline.masking import open_original
from tests.fixtures.leaky_transcripts import ingest_leaky

# VACUUM cannot run inside the transaction a plain django_db test wraps around itself.
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def legacy_vault(db):
    """The leaky transcripts as an earlier version stored them: values in clear, nothing sealed."""
    stored = ingest_leaky(division=Division.objects.create(genesys_id="div-old", name="Old"))
    for utterance in Utterance.objects.exclude(sealed_original="").select_related("conversation", "transcript"):
        original = open_original(utterance)
        Utterance.objects.filter(pk=utterance.pk).update(
            text=original["text"], words=original["words"], sealed_original=""
        )
    return [leak for _, leaks in stored for leak in leaks]


def run(*args) -> str:
    out = io.StringIO()
    call_command("mask_stored_leaks", *args, stdout=out)
    return out.getvalue()


def stored_text() -> str:
    return " ".join(text + " " + str(words) for text, words in Utterance.objects.values_list("text", "words"))


def index_terms() -> set[str]:
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute(
                "CREATE VIRTUAL TABLE IF NOT EXISTS temp.terms USING fts5vocab(main, 'reviews_utterance_fts', 'row')"
            )
            cursor.execute("SELECT term FROM temp.terms")
        else:
            cursor.execute("SELECT DISTINCT unnest(tsvector_to_array(search_vector)) FROM reviews_utterance")
        return {row[0] for row in cursor.fetchall()}


def typed_digits(leaks) -> list[str]:
    return [re.sub(r"\D", "", leak.value) for leak in leaks if re.search(r"\d{4}", leak.value)]


def value_terms(leaks) -> set[str]:
    """The index terms a typed value becomes: its groups of four or more letters and digits with a digit."""
    return {
        term.lower()
        for leak in leaks
        if not leak.value.isdigit()  # the digits of a card read out as words were never typed
        for term in re.findall(r"[0-9A-Za-z]+", leak.value)
        if len(term) >= 4 and re.search(r"\d", term)
    }


def test_it_counts_without_changing_anything_on_a_dry_run(legacy_vault):
    before = stored_text()
    output = run("--dry-run")
    assert "utterances would mask: 8" in output and "transcripts with values to mask: 7" in output
    assert "nothing was changed" in output
    assert stored_text() == before and not Utterance.objects.exclude(sealed_original="").exists()


def test_it_masks_seals_and_reclaims_the_space(legacy_vault):
    assert value_terms(legacy_vault) <= index_terms()  # the old index holds the values
    output = run()
    assert "utterances masked: 8" in output and "reclaimed freed space" in output
    text = stored_text()
    for leak in legacy_vault:
        assert leak.value not in text
    assert "[card number*]" in text and "[bank account*]" in text and "[email*]" in text
    assert not value_terms(legacy_vault) & index_terms()
    masked = Utterance.objects.exclude(sealed_original="").select_related("conversation", "transcript")
    assert masked.count() == 8
    originals = " ".join(open_original(utterance)["text"] for utterance in masked)
    assert all(leak.value in originals for leak in legacy_vault if leak.value[0].isalpha() or " " in leak.value)
    if connection.vendor == "sqlite":
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA freelist_count")
            assert cursor.fetchone()[0] == 0  # VACUUM left no freed page holding old rows
            # The index's own segments, not just what it answers: deleted entries must be gone from them too.
            cursor.execute("SELECT block FROM reviews_utterance_fts_data")
            segments = b"".join(row[0] or b"" for row in cursor.fetchall())
        assert not [term for term in value_terms(legacy_vault) if term.encode() in segments]


def test_it_never_prints_a_value(legacy_vault):
    output = run() + run("--dry-run")
    squeezed = re.sub(r"\D", "", output)
    for leak in legacy_vault:
        assert leak.value not in output
    for digits in typed_digits(legacy_vault):
        assert digits not in squeezed


def test_it_changes_nothing_the_second_time(legacy_vault):
    run()
    masked = dict(Utterance.objects.exclude(sealed_original="").values_list("pk", "sealed_original"))
    output = run()
    assert "utterances masked: 0" in output and "reclaimed" not in output
    assert dict(Utterance.objects.exclude(sealed_original="").values_list("pk", "sealed_original")) == masked
