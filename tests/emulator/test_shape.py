"""Dataset shapes: the ground truth of reshaped calls, and that a shape never moves anything it does not reshape."""

from __future__ import annotations

import json
from collections import Counter
from datetime import timedelta

import pytest

from genesys.emulator import DatasetShape, generate_dataset
from genesys.emulator.documents import iter_document, iter_part_document
from genesys.emulator.resources import analytics_conversation
from tests.emulator.support import END, START, VARIANT_END, VARIANT_MIDNIGHT, VARIANT_START

N = 60


def shaped(**fields):
    return generate_dataset(21, N, VARIANT_START, VARIANT_END, shape=DatasetShape(**fields))


@pytest.fixture(scope="module")
def plain():
    return generate_dataset(21, N, VARIANT_START, VARIANT_END)


def document(dataset, conv, part) -> dict:
    return json.loads(b"".join(iter_part_document(dataset, conv, part)))


def test_it_leaves_the_dataset_untouched_with_a_default_shape(plain):
    same = generate_dataset(21, N, VARIANT_START, VARIANT_END, shape=DatasetShape())
    for conv, twin in zip(plain.conversations, same.conversations, strict=True):
        assert (conv.conversation_id, conv.start, conv.recording_ids, conv.communication_ids) == (
            twin.conversation_id,
            twin.start,
            twin.recording_ids,
            twin.communication_ids,
        )
        assert conv.parts == twin.parts and conv.recordings == twin.recordings
        if conv.transcript and conv.transcript.kind == "normal":
            assert b"".join(iter_document(plain, conv)) == b"".join(iter_document(same, twin))


def test_it_gives_a_plain_transcribed_call_one_part_equal_to_its_document(plain):
    conv = next(c for c in plain.conversations if c.transcript and c.transcript.kind == "normal")
    (part,) = conv.parts
    assert (part.communication_id, part.recording_id, part.leg) == (
        conv.communication_ids[0],
        conv.recording_ids[0],
        "customer",
    )
    assert (
        part.key
        == f"transcriptsCache/{plain.organization_id}/{conv.conversation_id}/{conv.communication_ids[0]}-transcripts"
    )
    assert part.phrase_count == conv.transcript.phrase_count and part.leaks == conv.transcript.leaks
    assert (part.media_type, part.start_offset_ms, part.kind) == ("call", 120, "normal")
    assert b"".join(iter_part_document(plain, conv, part)) == b"".join(iter_document(plain, conv))
    assert conv.division_ids == [conv.division_id] and conv.agent_user_ids == [conv.user_id]
    assert conv.audio_recording_ids == conv.recording_ids and conv.media_type == "call"
    assert all(c.parts == [] for c in plain.conversations if c.transcript is None)


@pytest.mark.parametrize(
    "fields",
    [
        {"multi_segment_share": 0.3},
        {"consult_share": 0.25},
        {"callback_share": 0.25},
        {"screen_recording_share": 0.2, "archived_share": 0.5},
        {"midnight_crossers": 3},
    ],
)
def test_it_reshapes_only_the_chosen_calls_and_keeps_every_other_byte(plain, fields):
    dataset = shaped(**fields)
    plain_by_id = {c.conversation_id: c for c in plain.conversations}
    untouched = 0
    now = VARIANT_END + timedelta(hours=2)
    for conv in dataset.conversations:
        twin = plain_by_id[conv.conversation_id]
        if conv.parts != twin.parts or conv.recordings != twin.recordings or conv.start != twin.start:
            continue
        untouched += 1
        assert analytics_conversation(dataset, conv, now) == analytics_conversation(plain, twin, now)
        if conv.transcript and conv.transcript.kind == "normal":
            assert b"".join(iter_document(dataset, conv)) == b"".join(iter_document(plain, twin))
    assert 0 < untouched < N


def test_it_splits_multi_segment_calls_into_two_or_three_contiguous_segments(plain):
    dataset = shaped(multi_segment_share=0.3)
    transcribed = sum(1 for c in dataset.conversations if c.transcript)
    multi = [c for c in dataset.conversations if len(c.parts) > 1]
    assert len(multi) == round(transcribed * 0.3) and {len(c.parts) for c in multi} <= {2, 3}
    for conv in multi:
        segments = conv.recordings
        assert [r.session_id for r in segments] == [conv.communication_ids[0]] * len(segments)
        assert segments[0].start_offset_ms == 0 and segments[-1].end_offset_ms is None
        assert all(a.end_offset_ms == b.start_offset_ms for a, b in zip(segments, segments[1:], strict=False))
        assert [p.recording_id for p in conv.parts] == conv.recording_ids == conv.audio_recording_ids
        assert (
            conv.recording_ids[0]
            == next(c for c in plain.conversations if c.conversation_id == conv.conversation_id).recording_ids[0]
        )
        assert all(p.phrase_count > 0 for p in conv.parts)
        assert len({p.transcript_id for p in conv.parts}) == len(conv.parts)
        for part, segment in zip(conv.parts, segments, strict=True):
            doc = document(dataset, conv, part)
            phrases = doc["transcripts"][0]["phrases"]
            assert doc["startTime"] == doc["conversationStartTime"] + part.start_offset_ms
            assert part.start_offset_ms == max(segment.start_offset_ms, 120)
            for phrase in phrases:
                relative = phrase["startTimeMs"] - doc["conversationStartTime"]
                assert segment.start_offset_ms <= relative < (segment.end_offset_ms or conv.duration_ms)
                assert phrase["offset"]["milliseconds"] == phrase["startTimeMs"] - doc["startTime"]
            indexes = {p["phraseIndex"] for p in phrases}
            assert all(s["phraseIndex"] in indexes for s in doc["transcripts"][0]["analytics"]["sentiment"])


def test_it_adds_consult_legs_from_another_division():
    dataset = shaped(consult_share=0.25)
    consulted = [c for c in dataset.conversations if c.consult]
    assert len(consulted) == round(N * 0.25)
    for conv in consulted:
        consult = conv.consult
        assert consult.user_id != conv.user_id and consult.division_id != conv.division_id
        assert dataset.user(consult.user_id)["queue_id"] == consult.queue_id
        assert conv.division_ids == [conv.division_id, consult.division_id]
        assert conv.communication_ids[2] == consult.session_id and conv.recording_ids[-1] == consult.recording_id
        part = next(p for p in conv.parts if p.leg == "consult")
        assert part.communication_id == consult.session_id and part.phrase_indexes == tuple(range(part.phrase_count))
        assert conv.agent_join_ms <= consult.join_ms < part.start_offset_ms < part.end_offset_ms <= conv.duration_ms
        doc = document(dataset, conv, part)
        assert doc["communicationId"] == consult.session_id
        starts = [p["startTimeMs"] - doc["conversationStartTime"] for p in doc["transcripts"][0]["phrases"]]
        assert part.start_offset_ms <= starts[0] and starts[-1] < part.end_offset_ms
        assert any(p.get("userId") == consult.user_id for p in doc["participants"])


def test_it_makes_callbacks_with_their_own_session_and_media_type():
    dataset = shaped(callback_share=0.25)
    callbacks = [c for c in dataset.conversations if c.media_type == "callback"]
    assert len(callbacks) == round(N * 0.25) and all(c.transcript for c in callbacks)
    conv = next(c for c in callbacks if c.transcript.kind == "normal")
    assert conv.callback_session_id not in conv.communication_ids
    assert [p.media_type for p in conv.parts] == ["callback"]
    assert document(dataset, conv, conv.parts[0])["mediaType"] == "callback"


def test_it_puts_the_agent_first_on_outbound_calls_only():
    dataset = shaped(outbound_agent_first=True, agent_purpose="user")
    assert {c.agent_first for c in dataset.conversations if c.direction == "outbound"} == {True}
    assert {c.agent_first for c in dataset.conversations if c.direction == "inbound"} == {False}
    assert {c.agent_purpose for c in dataset.conversations} == {"user"}
    conv = next(c for c in dataset.conversations if c.agent_first and c.parts)
    participants = document(dataset, conv, conv.parts[0])["participants"]
    assert [p["participantPurpose"] for p in participants] == ["agent", "external"]
    assert participants[1]["startTimeMs"] - participants[0]["startTimeMs"] == conv.agent_join_ms > 0


def test_it_assigns_recording_states_as_exact_counts_of_the_never_transcribed_calls():
    shape = {"archived_share": 0.25, "deleted_share": 0.25, "error_share": 0.25, "uploading_share": 0.25}
    dataset = shaped(**shape, extra_never_transcribed_share=0.1)
    never = [c for c in dataset.conversations if c.transcript is None]
    assert len(never) == round(N * 0.08) + round(N * 0.1)
    states = Counter(c.recordings[0].file_state for c in never)
    assert set(states) == {"ARCHIVED", "DELETED", "ERROR", "UPLOADING"} and sum(states.values()) == len(never)
    assert max(states.values()) - min(states.values()) <= 1
    assert all(r.file_state == "AVAILABLE" for c in dataset.conversations if c.transcript for r in c.recordings)
    small = generate_dataset(21, 20, VARIANT_START, VARIANT_END, shape=DatasetShape(**shape))
    assert len([c for c in small.conversations if c.transcript is None]) == 2  # two calls for four states
    assert Counter(c.recordings[0].file_state for c in small.conversations if c.transcript is None) == {
        "ARCHIVED": 1,
        "DELETED": 1,
    }


def test_it_adds_screen_recordings_of_the_agent_leg_listed_first():
    dataset = shaped(screen_recording_share=0.2)
    screened = [c for c in dataset.conversations if c.recordings[0].media == "screen"]
    assert len(screened) == round(N * 0.2)
    for conv in screened:
        screen, audio = conv.recordings
        assert (screen.session_id, screen.media_subtype) == (conv.communication_ids[1], "Screen")
        assert conv.recording_ids == [screen.recording_id, audio.recording_id]
        assert conv.audio_recording_ids == [audio.recording_id]
        assert all(p.recording_id == audio.recording_id for p in conv.parts)


def test_it_silences_one_queue_deterministically():
    dataset = shaped(untranscribed_queue=True)
    again = shaped(untranscribed_queue=True)
    silent = dataset.untranscribed_queue_id
    assert silent == again.untranscribed_queue_id and silent in {q["id"] for q in dataset.queues}
    in_queue = [c for c in dataset.conversations if c.queue_id == silent]
    assert in_queue and all(c.transcript is None for c in in_queue)
    assert any(c.transcript for c in dataset.conversations if c.queue_id != silent)


def test_it_moves_midnight_crossers_over_the_first_midnight_of_the_window():
    dataset = shaped(midnight_crossers=3)
    crossers = [
        c
        for c in dataset.conversations
        if c.start < VARIANT_MIDNIGHT and c.end >= VARIANT_MIDNIGHT + timedelta(hours=2)
    ]
    assert len(crossers) == 3
    for conv in crossers:
        assert conv.start >= VARIANT_START and conv.end <= VARIANT_MIDNIGHT + timedelta(hours=4)
        assert conv.transcript.kind == "normal" and conv.parts[0].end_offset_ms == conv.duration_ms
        last = conv.transcript.phrases[-1]
        assert conv.duration_ms - (last.offset_ms + last.duration_ms) < 10_000  # the goodbye is at the end
    assert dataset.conversations == sorted(dataset.conversations, key=lambda c: (c.start, c.conversation_id))
    with pytest.raises(ValueError, match="midnight"):
        generate_dataset(21, N, START, END, shape=DatasetShape(midnight_crossers=1))  # the window starts at midnight
    with pytest.raises(ValueError, match="crossing|cross midnight"):
        shaped(midnight_crossers=N)


def test_it_is_deterministic_for_a_seed_and_shape():
    fields = {"multi_segment_share": 0.3, "consult_share": 0.2, "callback_share": 0.2, "screen_recording_share": 0.2}
    first, second = shaped(**fields), shaped(**fields)
    assert [c.parts for c in first.conversations] == [c.parts for c in second.conversations]
    assert [c.recordings for c in first.conversations] == [c.recordings for c in second.conversations]
    conv = next(c for c in first.conversations if len(c.parts) > 1)
    twin = second.conversation(conv.conversation_id)
    assert [document(first, conv, p) for p in conv.parts] == [document(second, twin, p) for p in twin.parts]
    combined = {
        c.conversation_id for c in first.conversations if c.consult or c.callback_session_id or len(c.parts) > 1
    }
    assert len(combined) == sum(1 for c in first.conversations if c.consult) + sum(
        1 for c in first.conversations if c.callback_session_id
    ) + sum(1 for c in first.conversations if len([p for p in c.parts if p.leg == "customer"]) > 1)


@pytest.mark.parametrize(
    "fields",
    [{"consult_share": 1.5}, {"archived_share": -0.1}, {"agent_purpose": "robot"}, {"midnight_crossers": -1}],
)
def test_it_rejects_impossible_shapes(fields):
    with pytest.raises(ValueError):
        DatasetShape(**fields)
