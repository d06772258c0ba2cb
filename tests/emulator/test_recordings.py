"""Recording file states by the clock, the restore PUT's edges, and metadata (recordings.py)."""

from __future__ import annotations

from datetime import timedelta

from genesys.clock import FakeClock
from genesys.emulator import DatasetShape, OrgBehaviour, generate_dataset
from tests.emulator.support import VARIANT_END, VARIANT_START, api_session, make_emulator

SHAPE = DatasetShape(archived_share=0.5, uploading_share=0.5, uploading_seconds=120, screen_recording_share=0.5)
DATASET = generate_dataset(21, 40, VARIANT_START, VARIANT_END, shape=SHAPE)


def first_with(state: str):
    return next(
        c
        for c in DATASET.conversations
        if c.transcript is None and c.audio_recording_ids and c.recording(c.audio_recording_ids[0]).file_state == state
    )


def test_it_turns_uploading_into_available_exactly_after_the_upload_time():
    conv = first_with("UPLOADING")
    clock = FakeClock(conv.end.timestamp())
    emulator = make_emulator(DATASET, clock)
    audio = conv.audio_recording_ids[0]
    clock.advance(119.9)
    assert emulator.recording_file_state(conv, audio) == "UPLOADING"
    clock.advance(0.1)
    assert emulator.recording_file_state(conv, audio) == "AVAILABLE"


def test_it_restores_on_its_own_clock_and_reports_the_new_archive_date():
    conv = first_with("ARCHIVED")
    clock = FakeClock((VARIANT_END + timedelta(hours=2)).timestamp())
    emulator = make_emulator(DATASET, clock, behaviour=OrgBehaviour(restore=True, restore_seconds=60))
    audio = conv.audio_recording_ids[0]
    path = f"/api/v2/conversations/{conv.conversation_id}/recordings/{audio}"
    with emulator.serve() as base_url:
        api = api_session(base_url)
        assert (
            api.put(base_url + path, data=b"{not json", headers={"Content-Type": "application/json"}).status_code == 400
        )
        assert api.put(base_url + path, json=["archiveDate"]).status_code == 400
        assert api.put(base_url + path.replace(audio, "unknown"), json={}).status_code == 404
        restoring = api.put(base_url + path, json={"archiveDate": "2030-01-01T00:00:00Z"}).json()
        assert restoring["fileState"] == "RESTORING" and restoring["archiveDate"] == "2030-01-01T00:00:00.000Z"
        again = api.put(base_url + path, json={"archiveDate": "2031-01-01T00:00:00Z"}).json()
        assert again["archiveDate"] == "2030-01-01T00:00:00.000Z"  # not archived any more: unchanged
        clock.advance(59)
        assert emulator.recording_file_state(conv, audio) == "RESTORING"
        clock.advance(1)
        metadata = api.get(f"{base_url}/api/v2/conversations/{conv.conversation_id}/recordingmetadata").json()
    audio_meta = next(m for m in metadata if m["id"] == audio)
    assert audio_meta["fileState"] == "RESTORED" and audio_meta["restoreExpirationTime"] == "2030-01-01T00:00:00.000Z"
    assert all("mediaUris" not in m for m in metadata)


def test_it_lists_metadata_for_every_recording_with_its_state_and_leg():
    conv = next(c for c in DATASET.conversations if len(c.recordings) == 2 and c.transcript is None)
    emulator = make_emulator(DATASET, FakeClock((VARIANT_END + timedelta(hours=2)).timestamp()))
    with emulator.serve() as base_url:
        metadata = (
            api_session(base_url)
            .get(f"{base_url}/api/v2/conversations/{conv.conversation_id}/recordingmetadata")
            .json()
        )
    assert [(m["id"], m["media"], m["sessionId"], m["fileState"]) for m in metadata] == [
        (r.recording_id, r.media, r.session_id, emulator.recording_file_state(conv, r.recording_id))
        for r in conv.recordings
    ]
    assert metadata[1]["fileState"] != "UPLOADING"  # uploading calls have long finished by now


def test_it_serves_every_recorded_call_a_recording_as_long_as_the_call(dataset, api, base_url):
    import io
    import wave

    import requests

    for conv in dataset.conversations:
        listed = api.get(
            f"{base_url}/api/v2/conversations/{conv.conversation_id}/recordings",
            params={"formatId": "WAV", "maxWaitMs": 600_000},  # past any transcode time
        ).json()
        audio = [r for r in listed if r["media"] == "audio"]
        assert [r["id"] for r in audio] == conv.recording_ids, conv.conversation_id
        assert audio[0]["outputDurationMs"] == conv.duration_ms
        assert audio[0]["outputSizeInBytes"] == conv.wav_size()
    # Download the longest ordinary call (not the hours-long large document) and check what the file says.
    longest = max(
        (c for c in dataset.conversations if c.transcript and c.transcript.kind == "normal"),
        key=lambda c: c.duration_ms,
    )
    assert longest.duration_ms > 90_000  # longer than the old 90 s cap
    listed = api.get(
        f"{base_url}/api/v2/conversations/{longest.conversation_id}/recordings", params={"formatId": "WAV"}
    )
    served = requests.get(listed.json()[0]["mediaUris"]["S"]["mediaUri"], timeout=10).content
    with wave.open(io.BytesIO(served)) as wav:
        assert round(wav.getnframes() * 1000 / wav.getframerate()) == longest.duration_ms
    assert served == longest.wav_bytes()  # deterministic: the same bytes every time
