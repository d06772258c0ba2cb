"""Ground-truth checks shared by the end-to-end tests: what the DB must hold for an emulator dataset."""

from __future__ import annotations

from collections import Counter

from reviews import blobs
from reviews.models import AudioRecording, Conversation, RedactionFinding, Transcript, Utterance

STORABLE_KINDS = ("normal", "large")


def expected_state(sim) -> str:
    if sim.transcript is not None and sim.transcript.kind in STORABLE_KINDS:
        return Conversation.State.STORED
    return Conversation.State.AUDIO_FALLBACK


def final_snapshot() -> dict:
    """Everything a repeated run must leave unchanged."""
    return {
        "conversations": sorted(
            Conversation.objects.values_list("genesys_id", "state", "attempts", "last_error", "manual_review_reason")
        ),
        "transcripts": sorted(Transcript.objects.values_list("conversation__genesys_id", "communication_id", "sha256")),
        "utterances": Utterance.objects.count(),
        "findings": RedactionFinding.objects.count(),
        "recordings": sorted(AudioRecording.objects.values_list("conversation__genesys_id", "recording_id", "sha256")),
    }


def assert_matches_ground_truth(dataset) -> None:
    sims = {sim.conversation_id: sim for sim in dataset.conversations}
    rows = {c.genesys_id: c for c in Conversation.objects.all()}
    assert set(rows) == set(sims)
    wrong = {
        gid: (rows[gid].state, expected_state(sim))
        for gid, sim in sims.items()
        if rows[gid].state != expected_state(sim)
    }
    assert not wrong, wrong
    assert not Conversation.objects.exclude(lease_token="").exists()

    for gid, sim in sims.items():
        conversation = rows[gid]
        if conversation.state == Conversation.State.STORED:
            assert_transcript_stored(conversation, sim)
        else:
            assert_audio_kept(conversation, sim)


def assert_transcript_stored(conversation, sim) -> None:
    transcripts = list(conversation.transcripts.all())
    assert len(transcripts) == 1
    transcript = transcripts[0]
    assert transcript.communication_id == sim.transcript.communication_id
    assert transcript.recording_ids == sim.recording_ids
    assert transcript.utterance_count == sim.transcript.phrase_count
    assert transcript.utterances.count() == sim.transcript.phrase_count
    assert blobs.sha256_of(blobs.absolute_path(transcript.raw_path)) == transcript.sha256
    found = Counter(transcript.findings.values_list("kind", "utterance__phrase_index"))
    expected = Counter((leak["kind"], leak["phraseIndex"]) for leak in sim.transcript.leaks)
    if expected:
        assert set(expected) <= set(found), (conversation.genesys_id, expected, found)
        assert transcript.redaction_status == Transcript.RedactionStatus.LEAKS_FOUND
    else:
        assert not found, (conversation.genesys_id, found)
    assert conversation.outbox.count() if hasattr(conversation, "outbox") else True


def assert_audio_kept(conversation, sim) -> None:
    assert conversation.needs_manual_review
    if sim.transcript is None:
        assert conversation.manual_review_reason.startswith("transcript never arrived within")
    elif sim.transcript.kind == "empty":
        assert conversation.manual_review_reason == "transcript empty"
    else:
        assert conversation.manual_review_reason.startswith("transcript unparseable")
    assert not conversation.transcripts.exists()
    recordings = list(conversation.recordings.all())
    assert [r.recording_id for r in recordings] == sim.recording_ids
    wav = sim.wav_bytes()
    for recording in recordings:
        assert blobs.absolute_path(recording.raw_path).read_bytes() == wav
