"""Ingest masks a leaked value before its phrase is written, and seals the original."""

from __future__ import annotations

import gc
import hashlib
import io
import json
import tracemalloc
from datetime import UTC, datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from genesys.clock import FakeClock
from genesys.transcript import parse_transcript
from reviews import encryption, identifiers
from reviews.models import Conversation, IdentifierMention, RedactionFinding, Transcript, Utterance
from reviews.pipeline import masking
from reviews.pipeline.ingest import UTTERANCE_BATCH, Downloaded, store_transcript
from reviews.pipeline.masking import PhraseMasker, open_original, original_associated_data

pytestmark = pytest.mark.django_db

START_MS = 1_749_243_600_000
CARD = "4111111111111111"
SPOKEN_CARD = " ".join(["four"] + ["one"] * 15)
LEASE = "lease-1"
STARTED = datetime.fromtimestamp(START_MS / 1000, tz=UTC)


def phrase(index: int, speaker: str, text: str, *, decorated: str | None = None, words: bool = True) -> dict:
    start = START_MS + index * 4_000
    item = {
        "phraseIndex": index,
        "participantPurpose": speaker,
        "text": text,
        "confidence": 0.9,
        "startTimeMs": start,
        "duration": {"milliseconds": 3_500},
        "words": [
            {
                "word": word,
                "confidence": 0.9 - position * 0.001,
                "startTimeMs": start + position * 100,
                "durationMs": 90,
            }
            for position, word in enumerate(text.split())
        ]
        if words
        else [],
    }
    if decorated is not None:
        item["decoratedText"] = decorated
    return item


def document(phrases: list[dict]) -> bytes:
    return json.dumps(
        {
            "conversationId": "conv-mask",
            "communicationId": "comm-1",
            "mediaType": "call",
            "conversationStartTime": START_MS,
            "transcripts": [{"transcriptId": "t-1", "language": "en-US", "phrases": phrases}],
            "participants": [],
        }
    ).encode()


def store(data: bytes) -> Transcript:
    conversation, _ = Conversation.objects.get_or_create(
        genesys_id="conv-mask",
        defaults={"state": Conversation.State.DOWNLOADING, "lease_token": LEASE, "started_at": STARTED},
    )
    sha256 = hashlib.sha256(data).hexdigest()
    return store_transcript(
        clock=FakeClock(datetime(2026, 5, 4, 12, tzinfo=UTC).timestamp()),
        conversation=conversation,
        token=LEASE,
        communication_id="comm-1",
        document=parse_transcript(io.BytesIO(data)),
        downloaded=Downloaded(
            raw_path="transcripts/x.json", sha256=sha256, size=len(data), etag="", seconds=0.1, recording_id="r-1"
        ),
        available_at=datetime(2026, 5, 4, 11, 59, tzinfo=UTC),
    )


def texts(transcript: Transcript) -> list[str]:
    return list(transcript.utterances.order_by("index").values_list("text", flat=True))


def test_it_never_sends_a_value_to_the_database():
    data = document(
        [
            phrase(0, "internal", "what is your card number"),
            phrase(
                1,
                "external",
                f"it is {CARD} thanks",
                decorated=f"It is {CARD[:4]}-{CARD[4:8]}-{CARD[8:12]}-{CARD[12:]}, thanks.",
            ),
            phrase(2, "internal", "and your email"),
            phrase(3, "external", "jane dot doe at example dot com", decorated="jane.doe@example.com"),
        ]
    )
    with CaptureQueriesContext(connection) as queries:
        transcript = store(data)
    sql = "\n".join(query["sql"] for query in queries.captured_queries)
    assert "[card number*]" in sql  # the statements are captured with their values
    assert "1111" not in sql and "jane" not in sql and "example" not in sql
    assert texts(transcript)[1:] == ["It is [card number*], thanks.", "and your email", "[email*]"]
    assert transcript.mask_counts == {} and transcript.leak_count == 2  # vault masks are not Genesys masks
    assert sorted(RedactionFinding.objects.values_list("kind", flat=True)) == ["card_number", "email"]


def test_it_notes_each_phone_number_and_address_found_as_a_keyed_digest_only():
    transcript = store(
        document(
            [
                phrase(0, "internal", "a number to call you back"),
                phrase(1, "external", "three one two five five five zero one five zero"),
                phrase(2, "internal", "and your email"),
                phrase(3, "external", "jane dot doe at example dot com", decorated="jane.doe@example.com"),
                phrase(4, "external", f"card {CARD}"),
            ]
        )
    )
    mentions = IdentifierMention.objects.filter(transcript=transcript).order_by("utterance__index")
    assert [(m.kind, m.utterance.index) for m in mentions] == [("phone", 1), ("email", 3)]
    # The same digests a subject request computes from what an officer types (and discovery from the ani).
    assert [m.digest for m in mentions] == [
        identifiers.phone_digest("+1 (312) 555-0150"),
        identifiers.email_digest("Jane.Doe@example.com"),
    ]
    stored = json.dumps(list(IdentifierMention.objects.values()), default=str)
    assert "3125550150" not in stored and "jane" not in stored


def test_it_seals_the_original_bound_to_its_row():
    transcript = store(document([phrase(0, "external", f"card {CARD} ok", decorated=f"Card {CARD}, ok.")]))
    utterance = Utterance.objects.select_related("conversation", "transcript").get(transcript=transcript)
    assert utterance.words[1][0] == "[card number*]" and CARD not in json.dumps(utterance.words)
    original = open_original(utterance)
    assert original["text"] == f"Card {CARD}, ok."
    assert [word[0] for word in original["words"]] == ["card", CARD, "ok"]
    other_row = original_associated_data(genesys_id="conv-mask", sha256=transcript.sha256, index=1)
    with pytest.raises(encryption.DecryptionError):
        encryption.unseal(utterance.sealed_original, associated_data=other_row)


def test_it_leaves_clean_phrases_unsealed_and_unchanged():
    transcript = store(
        document([phrase(0, "internal", "thanks for calling"), phrase(1, "external", "my order is 482913")])
    )
    assert texts(transcript) == ["thanks for calling", "my order is 482913"]
    assert not transcript.utterances.exclude(sealed_original="").exists()


def test_it_masks_a_value_read_over_two_phrases_across_a_batch_boundary():
    first, second = SPOKEN_CARD.split()[:8], SPOKEN_CARD.split()[8:]
    phrases = [phrase(i, "internal" if i % 2 else "external", "filler words here") for i in range(UTTERANCE_BATCH - 1)]
    phrases.append(phrase(UTTERANCE_BATCH - 1, "external", "my card is " + " ".join(first)))
    phrases.append(phrase(UTTERANCE_BATCH, "external", " ".join(second) + " thanks"))
    transcript = store(document(phrases))
    assert texts(transcript)[-2:] == ["my card is [card number*]", "[card number*] thanks"]
    assert transcript.utterances.exclude(sealed_original="").count() == 2


def test_it_masks_the_text_of_a_phrase_without_words():
    transcript = store(document([phrase(0, "external", "My SSN is 212-34-5678.", words=False)]))
    utterance = transcript.utterances.get()
    assert (utterance.text, utterance.words) == ("My SSN is [national id*].", [])


def test_it_rebuilds_text_it_cannot_line_up_with_the_words():
    spoken = "my card is " + SPOKEN_CARD
    transcript = store(document([phrase(0, "external", spoken, decorated="Visa: 4111111111111111 (exp. soon)")]))
    assert texts(transcript) == ["my card is [card number*]"]


def test_it_stores_a_changed_document_masked_too():
    store(document([phrase(0, "external", "nothing to see")]))
    transcript = store(document([phrase(0, "external", f"card {CARD}")]))
    assert texts(transcript) == ["card [card number*]"]
    assert Utterance.objects.count() == 1


@pytest.fixture
def held(monkeypatch) -> list[int]:
    """How many phrases the masker holds back after each one it is given."""
    sizes: list[int] = []
    real_add = PhraseMasker.add

    def watching_add(self, utterance):
        released = real_add(self, utterance)
        sizes.append(len(self._held))
        return released

    monkeypatch.setattr(PhraseMasker, "add", watching_add)
    return sizes


def test_it_holds_back_only_a_few_phrases(held):
    phrases = [
        phrase(i, "internal" if i % 2 else "external", f"card {CARD} thanks" if i % 97 == 0 else "a few plain words")
        for i in range(3_000)
    ]
    transcript = store(document(phrases))
    assert max(held) <= 2 and transcript.leak_count == len(range(0, 3_000, 97))


def test_it_decides_early_when_a_number_never_ends(monkeypatch, held):
    # Hesitations at one instant never end the number being read, so only the cap stops the hold-back.
    monkeypatch.setattr(masking, "MAX_HELD_PHRASES", 50)
    phrases = [phrase(0, "external", "four one one one")]
    phrases += [{**phrase(i, "external", "uh"), "startTimeMs": START_MS} for i in range(1, 300)]
    transcript = store(document(phrases))
    assert transcript.utterances.count() == 300
    assert max(held) <= 51


@pytest.mark.slow  # about a minute: 50 MB through parse, scan, mask and insert, half of it with tracemalloc on
def test_it_ingests_a_50_mb_document_with_flat_memory(tmp_path, monkeypatch):
    # Python allocations made while the second half of the phrases streams through and still held at the end of
    # each phrase: memory that grew with the document would grow here by half of it. The first half runs
    # untraced, which costs a quarter of the time (tracemalloc makes this path about four times slower), and the
    # warm-up (connection, caches, first batches) is out of the figure. The in-memory test database grows with what
    # is stored, and the metrics keep one float per word for the median, by design: both are outside, or bounded.
    words = " ".join(f"word{n}" for n in range(12))
    size, index = 0, 0
    path = tmp_path / "big.json"
    head, tail = document([{"marker": 1}]).decode().split('{"marker": 1}')
    with open(path, "w", encoding="utf-8") as out:
        out.write(head)
        while size < 50 * 1024 * 1024:
            text = f"card {CARD} please" if index % 1_000 == 0 else words
            item = json.dumps(phrase(index, "internal" if index % 2 else "external", text))
            out.write((", " if index else "") + item)
            size += len(item) + 2
            index += 1
        out.write(tail)
    conversation = Conversation.objects.create(
        genesys_id="conv-big", state=Conversation.State.DOWNLOADING, lease_token=LEASE, started_at=STARTED
    )
    halfway = index // 2
    streaming = []
    real_add = PhraseMasker.add

    def measuring_add(self, utterance):
        if utterance.index == halfway:
            gc.collect()
            tracemalloc.start()
        if tracemalloc.is_tracing():
            streaming.append(tracemalloc.get_traced_memory()[0])
        return real_add(self, utterance)

    monkeypatch.setattr(PhraseMasker, "add", measuring_add)
    try:
        with open(path, "rb") as stream:
            transcript = store_transcript(
                clock=FakeClock(datetime(2026, 5, 4, 12, tzinfo=UTC).timestamp()),
                conversation=conversation,
                token=LEASE,
                communication_id="comm-1",
                document=parse_transcript(stream),
                downloaded=Downloaded(
                    raw_path="transcripts/big.json", sha256="0" * 64, size=size, etag="", seconds=1.0, recording_id=""
                ),
                available_at=datetime(2026, 5, 4, 11, 59, tzinfo=UTC),
            )
    finally:
        tracemalloc.stop()
    most_mb = max(streaming) / (1024 * 1024)
    print(f"50 MB ingest: {index} phrases, at most {most_mb:.1f} MB more Python objects over the second half")
    assert len(streaming) == index - halfway  # traced from the halfway phrase to the last
    assert transcript.utterances.count() == index
    assert transcript.leak_count == len(range(0, index, 1_000))
    assert not Utterance.objects.filter(text__contains=CARD).exists()
    assert transcript.utterances.get(index=1_000).text == "card [card number*] please"
    assert most_mb < 6, most_mb


def test_it_indexes_the_mentions_of_a_transcript_stored_before_they_were_noted():
    from django.core.management import call_command

    transcript = store(
        document(
            [
                phrase(0, "internal", "a number to call you back"),
                phrase(1, "external", "three one two five five five zero one five zero"),
                phrase(2, "external", "jane dot doe at example dot com", decorated="jane.doe@example.com"),
            ]
        )
    )
    noted = sorted(IdentifierMention.objects.values_list("utterance_id", "kind", "digest"))
    IdentifierMention.objects.all().delete()  # as a vault upgraded from a version that did not note them

    call_command("index_mentions", stdout=io.StringIO())
    call_command("index_mentions", stdout=io.StringIO())  # again: nothing doubles

    assert sorted(IdentifierMention.objects.values_list("utterance_id", "kind", "digest")) == noted
    assert len(noted) == 2 and transcript.utterances.exclude(sealed_original="").count() == 2
