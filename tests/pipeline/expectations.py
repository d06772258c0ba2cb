"""Ground-truth checks shared by the end-to-end tests: what the DB must hold for an emulator dataset.

The emulator knows what a correct client must end with (genesys/emulator/variants.py): every transcript
part (communication × recording segment) stored byte for byte, restricted conversations restricted, and
each recording state ending where it must. These checks compare the database with that truth.
"""

from __future__ import annotations

import hashlib
from collections import Counter

from reviews import blobs
from reviews.models import AudioRecording, BatchJob, Conversation, RedactionFinding, Transcript, Utterance

STORABLE_KINDS = ("normal", "large")
State = Conversation.State
AVAILABLE_AUDIO = frozenset({"AVAILABLE", "RESTORED", "UPLOADING"})  # uploading turns available within the wait


def expected_state(sim, emulator=None) -> str:
    if emulator is not None and emulator.is_restricted(sim):
        return State.RESTRICTED
    if sim.parts and sim.parts[0].kind in STORABLE_KINDS:
        return State.STORED
    audio_states = {r.file_state for r in sim.recordings if r.media == "audio"}
    if audio_states & AVAILABLE_AUDIO:
        return State.AUDIO_FALLBACK
    if "ARCHIVED" in audio_states:
        return State.ARCHIVED if emulator is not None and emulator.behaviour.deny_restore else State.AUDIO_FALLBACK
    return State.AUDIO_UNAVAILABLE


def final_snapshot() -> dict:
    """Everything a repeated run must leave unchanged."""
    return {
        "conversations": sorted(
            Conversation.objects.values_list("genesys_id", "state", "attempts", "last_error", "manual_review_reason")
        ),
        "transcripts": sorted(
            Transcript.objects.values_list("conversation__genesys_id", "communication_id", "recording_id", "sha256")
        ),
        "utterances": Utterance.objects.count(),
        "findings": RedactionFinding.objects.count(),
        "recordings": sorted(AudioRecording.objects.values_list("conversation__genesys_id", "recording_id", "sha256")),
    }


def assert_nothing_wedged() -> None:
    """Every conversation final, no lease held, no batch job left pending: nothing is polled forever."""
    active = Conversation.objects.filter(state__in=Conversation.ACTIVE_STATES)
    assert not active.exists(), list(active.values_list("genesys_id", "state", "last_error"))
    assert not Conversation.objects.exclude(lease_token="").exists()
    assert not BatchJob.objects.filter(state=BatchJob.State.PENDING).exists()


def assert_matches_ground_truth(dataset, emulator=None) -> None:
    sims = {sim.conversation_id: sim for sim in dataset.conversations}
    rows = {c.genesys_id: c for c in Conversation.objects.all()}
    assert set(rows) == set(sims)
    wrong = {
        gid: (rows[gid].state, expected_state(sim, emulator), rows[gid].outcome or rows[gid].last_error)
        for gid, sim in sims.items()
        if rows[gid].state != expected_state(sim, emulator)
    }
    assert not wrong, wrong
    assert not Conversation.objects.exclude(lease_token="").exists()

    for gid, sim in sims.items():
        conversation = rows[gid]
        if conversation.state == State.STORED:
            assert_transcript_stored(conversation, sim, emulator)
        elif conversation.state == State.AUDIO_FALLBACK:
            assert_audio_kept(conversation, sim)
        elif conversation.state == State.RESTRICTED:
            assert_restricted(conversation, sim, emulator)
        else:
            assert_nothing_kept(conversation)


def assert_transcript_stored(conversation, sim, emulator=None) -> None:
    stored = {(t.communication_id, t.recording_id): t for t in conversation.transcripts.all()}
    expected = {(part.communication_id, part.recording_id): part for part in sim.parts}
    assert set(stored) == set(expected), (conversation.genesys_id, sorted(stored), sorted(expected))
    for key, part in expected.items():
        transcript = stored[key]
        assert transcript.utterance_count == part.phrase_count
        assert transcript.utterances.count() == part.phrase_count
        assert blobs.sha256_of(blobs.absolute_path(transcript.raw_path)) == transcript.sha256
        if emulator is not None:
            assert transcript.sha256 == hashlib.sha256(emulator.served_bytes(sim, part)).hexdigest()
            assert transcript.content_encoding == ("gzip" if emulator.behaviour.gzip_transcripts else "")
        assert transcript.media_type == part.media_type
        found = Counter(transcript.findings.values_list("kind", "utterance__phrase_index"))
        leaks = Counter((leak["kind"], leak["phraseIndex"]) for leak in part.leaks)
        if leaks:
            assert set(leaks) <= set(found), (conversation.genesys_id, leaks, found)
            assert transcript.redaction_status == Transcript.RedactionStatus.LEAKS_FOUND
        else:
            assert not found, (conversation.genesys_id, found)
        assert transcript.outbox.exists()
    assert_speakers(conversation, sim)
    order = list(conversation.transcripts.values_list("communication_id", "recording_id"))
    assert order == [(p.communication_id, p.recording_id) for p in sim.parts], "parts are kept in time order"


def assert_speakers(conversation, sim) -> None:
    """Who spoke comes from participantPurpose and who was connected, never from join order."""
    if sim.transcript is None:
        return
    roles = {p.index: role for p, role in zip(sim.transcript.phrases, speech_roles(sim), strict=True)}
    customer_leg = sim.parts[0].communication_id
    rows = Utterance.objects.filter(conversation=conversation, transcript__communication_id=customer_leg)
    mismatched = [
        (phrase_index, purpose, roles[phrase_index])
        for phrase_index, purpose in rows.values_list("phrase_index", "participant_purpose")
        if phrase_index in roles and purpose != roles[phrase_index]
    ]
    assert not mismatched, (conversation.genesys_id, sim.direction, mismatched[:5])


def speech_roles(sim) -> list[str]:
    return [speaker for _, _, speaker in sim.speech_turns()]


def assert_audio_kept(conversation, sim) -> None:
    assert conversation.needs_manual_review
    if not sim.parts:
        assert conversation.manual_review_reason.startswith(
            ("transcript never arrived within", "queue ", "transcription is disabled")
        ), conversation.manual_review_reason
    elif sim.parts[0].kind == "empty":
        assert conversation.manual_review_reason == "transcript empty"
    else:
        assert conversation.manual_review_reason.startswith("transcript unparseable")
    assert not conversation.transcripts.exists()
    recordings = list(conversation.recordings.order_by("pk"))
    audio = [r for r in sim.recordings if r.media == "audio" and r.file_state not in ("DELETED", "ERROR")]
    assert sorted(r.recording_id for r in recordings) == sorted(r.recording_id for r in audio)
    wav = sim.wav_bytes()
    for recording in recordings:
        with blobs.open_blob(recording.raw_path) as stored:  # encrypted at rest
            assert stored.read() == wav
        # The audio-only call is archived like a transcript: one outbox row per sink for each kept recording.
        assert recording.outbox.filter(kind="audio").exists(), (conversation.genesys_id, recording.recording_id)


def assert_nothing_kept(conversation) -> None:
    """Recording archived (restore refused) or no transcript and no audio: nothing stored, and the outcome says
    which recording state (or missing recording) ended it, as the operations page and the API show it."""
    assert not conversation.transcripts.exists() and not conversation.recordings.exists()
    assert not conversation.outbox_messages.exists(), conversation.genesys_id
    assert not conversation.needs_manual_review or conversation.manual_review_reason, conversation.genesys_id
    outcome = conversation.outcome.lower()
    if conversation.state == State.ARCHIVED:
        assert "archived" in outcome or "restore" in outcome, conversation.outcome
    else:
        assert conversation.state == State.AUDIO_UNAVAILABLE, (conversation.genesys_id, conversation.state)
        assert "recording" in outcome, conversation.outcome


def assert_restricted(conversation, sim, emulator) -> None:
    assert not conversation.transcripts.exists() and not conversation.recordings.exists()
    assert "403" in conversation.outcome
    if emulator.behaviour.division_denial_code == "missing.division.permissions":
        names = [emulator.dataset.division(d)["name"] for d in sim.division_ids]
        assert "recording:recording:view" in conversation.outcome
        assert any(name in conversation.outcome for name in names), conversation.outcome
