"""Masking leaked values before a phrase reaches the database.

The scanner reads phrases in order and may recognise a value only some phrases after it began (a card
read over two phrases, a spoken address ending in "dot com"). `PhraseMasker` therefore holds back every
phrase a later detection could still reach (`RedactionScanner.settled_below()`) and releases it masked:
a value is never written in clear, not even briefly, so the database file, its WAL and the search index
never hold it (a later UPDATE would leave it in the WAL and in freed pages).

The original text and words of a masked phrase are kept sealed (AES-GCM, reviews/encryption.py) in
`Utterance.sealed_original`, bound to the conversation, the document's sha256 and the phrase's position,
so a sealed original cannot be moved to another row. Only a compliance officer can reveal it
(reviews/views/reveal.py), and every reveal is audited.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Callable

from reviews import encryption, identifiers
from reviews.models import IdentifierMention, Transcript, Utterance
from reviews.redaction import MaskSpan, RedactionReport, RedactionScanner, UtteranceText, mask_phrase

# Phrases held back at most. A held phrase waits for an open number chain or a spoken address, which
# real speech closes within a few dozen words; past this (a "number" dictated across thousands of empty
# phrases) the scanner decides what it has, so memory stays bounded whatever the document.
MAX_HELD_PHRASES = 2_000


def original_associated_data(*, genesys_id: str, sha256: str, index: int) -> bytes:
    """What a sealed original is bound to: its conversation, its document version and its position."""
    return f"tv-utterance-original:{genesys_id}:{sha256}:{index}".encode()


def associated_data_for(transcript: Transcript) -> Callable[[Utterance], bytes]:
    """The binding of each utterance of `transcript` (for PhraseMasker), without a query per row."""
    genesys_id, sha256 = transcript.conversation.genesys_id, transcript.sha256

    def binding(utterance: Utterance) -> bytes:
        return original_associated_data(genesys_id=genesys_id, sha256=sha256, index=utterance.index)

    return binding


def associated_data_of(utterance: Utterance) -> bytes:
    return original_associated_data(
        genesys_id=utterance.conversation.genesys_id, sha256=utterance.transcript.sha256, index=utterance.index
    )


def open_original(utterance: Utterance) -> dict:
    """{"text", "words"} as Genesys sent them; raises encryption.DecryptionError when it cannot be opened."""
    plaintext = encryption.unseal(utterance.sealed_original, associated_data=associated_data_of(utterance))
    return json.loads(plaintext)


class PhraseMasker:
    """Feeds utterances to the scanner and hands each back only once it is final, masked and sealed if it
    held a leaked value. `add()` and `finish()` return (utterance, was_masked) in document order."""

    def __init__(self, scanner: RedactionScanner, *, associated_data: Callable[[Utterance], bytes]) -> None:
        self._scanner = scanner
        self._associated_data = associated_data
        self._held: deque[Utterance] = deque()
        self._spans: list[MaskSpan] = []
        self._released_below = 0
        # (utterance index, kind, keyed digest) of each phone number and address found: who a call mentions,
        # for data-subject requests. The value itself never leaves the span.
        self.identifiers: list[tuple[int, str, str]] = []

    def add(self, utterance: Utterance) -> list[tuple[Utterance, bool]]:
        self._scanner.feed(
            UtteranceText(
                index=utterance.index,
                start_ms=utterance.start_ms,
                speaker=utterance.speaker,
                text=utterance.text,
                words=[(word[0], word[2]) for word in utterance.words],
            )
        )
        self._held.append(utterance)
        if len(self._held) > MAX_HELD_PHRASES:
            self._scanner.settle()
        return self._release(self._scanner.settled_below())

    def finish(self) -> tuple[RedactionReport, list[tuple[Utterance, bool]]]:
        report = self._scanner.finish()
        return report, self._release(None)

    def _release(self, below: int | None) -> list[tuple[Utterance, bool]]:
        for span in self._scanner.take_spans():
            if span.first[0] < self._released_below:
                # Never expected (settled_below() bounds every detection); refusing keeps the value out of
                # the database: the caller's transaction rolls back.
                raise RuntimeError("a leak detection reached a phrase that was already released")
            self._spans.append(span)
            self._note_identifier(span)
        released = []
        while self._held and (below is None or self._held[0].index < below):
            utterance = self._held.popleft()
            released.append((utterance, self._mask(utterance)))
            self._released_below = utterance.index + 1
        if released:
            self._spans = [span for span in self._spans if span.last[0] >= self._released_below]
        return released

    def _note_identifier(self, span: MaskSpan) -> None:
        if span.kind in identifiers.KINDS:
            digest = identifiers.mention_digest(span.kind, "".join(chars for _, chars in span.value_parts))
            if digest:
                self.identifiers.append((span.first[0], span.kind, digest))

    def _mask(self, utterance: Utterance) -> bool:
        if not self._spans:
            return False
        masked = mask_phrase(
            index=utterance.index,
            speaker=utterance.speaker,
            text=utterance.text,
            words=utterance.words,
            spans=self._spans,
        )
        if masked is None:
            return False
        if not utterance.sealed_original:  # masked before: the sealed original is still the true one
            original = json.dumps({"text": utterance.text, "words": utterance.words}, ensure_ascii=False)
            utterance.sealed_original = encryption.seal(
                original.encode(), associated_data=self._associated_data(utterance)
            )
        utterance.text = masked.text
        utterance.words = masked.words
        return True


def write_identifier_mentions(*, transcript: Transcript, found: list[tuple[int, str, str]]) -> int:
    """The mentions PhraseMasker noted, as rows pointing at their utterances (once each per phrase)."""
    if not found:
        return 0
    unique = sorted(set(found))
    positions = {index for index, _, _ in unique}
    utterance_ids = dict(transcript.utterances.filter(index__in=positions).values_list("index", "pk"))
    IdentifierMention.objects.bulk_create(
        IdentifierMention(
            transcript=transcript,
            conversation_id=transcript.conversation_id,
            utterance_id=utterance_ids.get(index),
            kind=kind,
            digest=digest,
        )
        for index, kind, digest in unique
    )
    return len(unique)


def identifiers_in_originals(transcript: Transcript) -> list[tuple[int, str, str]]:
    """The mentions of a transcript stored before they were noted, found again by the same masker over the
    original phrases (sealed ones opened; nothing is written). For `manage.py index_mentions`."""
    from django.conf import settings

    from reviews.redaction import RedactionScanner

    masker = PhraseMasker(RedactionScanner(phone_regions=settings.PII_PHONE_REGIONS), associated_data=lambda _: b"")
    utterances = transcript.utterances.select_related("conversation", "transcript").order_by("index")
    for utterance in utterances.iterator(chunk_size=500):
        if utterance.sealed_original:  # stays set, so the masker re-masks this copy without sealing anything
            original = open_original(utterance)
            utterance.text, utterance.words = original["text"], original["words"]
        masker.add(utterance)
    masker.finish()
    return masker.identifiers
