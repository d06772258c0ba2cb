"""JSON representations of the emulated API resources (analytics conversations, recordings, directory).

A shaped conversation (shape.py) adds what real orgs show: a consult agent's participant, a customer
"callback" session beside the voice one, agent-first outbound legs, purpose "user", recordings in other
file states and screen recordings. Plain conversations render exactly as they always did.
"""

from __future__ import annotations

import random
import uuid
from datetime import datetime, timedelta

from .data import Dataset, SimConversation, SimRecording, iso_ms

API_PREFIX = "/api/v2"


def _participant_id(conv: SimConversation, role: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"{conv.conversation_id}/{role}"))


def _segment(start: datetime, end: datetime, now: datetime, segment_type: str, **extra) -> dict | None:
    """A segment as analytics shows it at `now`: open segments have no segmentEnd; future ones do not exist."""
    if start > now:
        return None
    segment = {"segmentStart": iso_ms(start), "segmentType": segment_type, **extra}
    if end <= now:
        segment["segmentEnd"] = iso_ms(end)
    else:
        segment.pop("disconnectType", None)
    return segment


def _session(
    session_id: str, conv: SimConversation, recording: bool, segments: list, media_type: str = "voice", **extra
) -> dict:
    return {
        "sessionId": session_id,
        "mediaType": media_type,
        "direction": conv.direction,
        "recording": recording,
        "provider": "Edge",
        **extra,
        "segments": [s for s in segments if s is not None],
    }


def analytics_conversation(dataset: Dataset, conv: SimConversation, now: datetime) -> dict:
    """AnalyticsConversationWithoutAttributes as the details query returns it at `now`."""
    agent_join = conv.start + timedelta(milliseconds=conv.agent_join_ms)
    interact = agent_join + timedelta(seconds=3)
    queue = dataset.queue(conv.queue_id) or {"name": ""}
    user = dataset.user(conv.user_id) or {"name": ""}
    customer_start = conv.start + timedelta(milliseconds=conv.external_join_ms)
    customer_sessions = [
        _session(
            conv.communication_ids[0],
            conv,
            True,
            [_segment(customer_start, conv.end, now, "interact", disconnectType="peer")],
            ani=conv.customer_ani,
            dnis=conv.dnis,
        )
    ]
    if conv.callback_session_id:
        # The callback request is its own, unrecorded session; the call back is the voice session after it.
        callback = _session(
            conv.callback_session_id,
            conv,
            False,
            [_segment(conv.start, agent_join, now, "callback", disconnectType="transfer")],
            media_type="callback",
        )
        customer_sessions.insert(0, callback)
    customer = {
        "participantId": _participant_id(conv, "customer"),
        "participantName": "Customer",
        "purpose": conv.customer_purpose,
        "sessions": customer_sessions,
    }
    if conv.agent_first:  # the agent dials first; the dialled party answers at agent_join
        agent_segments = [
            _segment(conv.start, agent_join, now, "dialing", queueId=conv.queue_id),
            _segment(agent_join, conv.end, now, "interact", queueId=conv.queue_id, disconnectType="client"),
        ]
    else:
        agent_segments = [
            _segment(agent_join, interact, now, "alert", queueId=conv.queue_id),
            _segment(interact, conv.end, now, "interact", queueId=conv.queue_id, disconnectType="client"),
        ]
    agent = {
        "participantId": _participant_id(conv, "agent"),
        "participantName": user["name"],
        "purpose": conv.agent_purpose,
        "userId": conv.user_id,
        "sessions": [_session(conv.communication_ids[1], conv, True, agent_segments)],
    }
    participants = [customer, agent] if conv.direction == "inbound" else [agent, customer]
    if conv.direction == "inbound":
        ivr_end = conv.start + timedelta(milliseconds=conv.ivr_end_ms)
        ivr = {
            "participantId": _participant_id(conv, "ivr"),
            "participantName": "Northwind Main IVR",
            "purpose": "ivr",
            "sessions": [
                _session(
                    conv.ivr_session_id,
                    conv,
                    False,
                    [_segment(conv.start, ivr_end, now, "ivr", disconnectType="transfer")],
                    flow={"flowName": "Northwind Main IVR", "flowType": "INBOUNDCALL"},
                )
            ],
        }
        acd = {
            "participantId": _participant_id(conv, "acd"),
            "participantName": queue["name"],
            "purpose": "acd",
            "sessions": [
                _session(
                    conv.acd_session_id,
                    conv,
                    False,
                    [_segment(ivr_end, agent_join, now, "interact", queueId=conv.queue_id, disconnectType="transfer")],
                )
            ],
        }
        participants = [customer, ivr, acd, agent]
    if conv.consult is not None:
        participants.append(_consult_participant(dataset, conv, now))
    rng = random.Random(conv.seed + ":mos")
    body = {
        "conversationId": conv.conversation_id,
        "conversationStart": iso_ms(conv.start),
        "originatingDirection": conv.direction,
        "conversationInitiator": "customer" if conv.direction == "inbound" else "agent",
        "customerParticipation": True,
        "divisionIds": conv.division_ids,
        "mediaStatsMinConversationMos": round(rng.uniform(4.1, 4.9), 4),
        "participants": participants,
    }
    if conv.end <= now:
        body["conversationEnd"] = iso_ms(conv.end)
    return body


def _consult_participant(dataset: Dataset, conv: SimConversation, now: datetime) -> dict:
    consult = conv.consult
    user = dataset.user(consult.user_id) or {"name": ""}
    alert = conv.start + timedelta(milliseconds=consult.join_ms)
    talk = alert + timedelta(seconds=3)
    leaves = conv.start + timedelta(milliseconds=consult.end_ms)
    segments = [
        _segment(alert, talk, now, "alert", queueId=consult.queue_id),
        _segment(talk, leaves, now, "interact", queueId=consult.queue_id, disconnectType="client"),
    ]
    return {
        "participantId": _participant_id(conv, "consult"),
        "participantName": user["name"],
        "purpose": conv.agent_purpose,
        "userId": consult.user_id,
        "sessions": [_session(consult.session_id, conv, True, segments)],
    }


def recording_base(
    dataset: Dataset,
    conv: SimConversation,
    recording_id: str,
    recording: SimRecording | None = None,
    file_state: str | None = None,
) -> dict:
    recording = recording or conv.recording(recording_id)
    start, end = conv.start, conv.end
    if recording is not None:
        start = conv.start + timedelta(milliseconds=recording.start_offset_ms)
        if recording.end_offset_ms is not None:
            end = conv.start + timedelta(milliseconds=recording.end_offset_ms)
    return {
        "id": recording_id,
        "conversationId": conv.conversation_id,
        "path": f"{dataset.organization_id}/{conv.conversation_id}/{recording_id}",
        "startTime": iso_ms(start),
        "endTime": iso_ms(end),
        "media": recording.media if recording else "audio",
        "mediaSubtype": recording.media_subtype if recording else "Trunk",
        "fileState": file_state or (recording.file_state if recording else "AVAILABLE"),
        "sessionId": recording.session_id if recording else conv.communication_ids[0],
        "recordingFileRole": "CUSTOMER_EXPERIENCE",
        "maxAllowedRestorationsForOrg": 10000,
        "remainingRestorationsAllowedForOrg": 10000,
        "selfUri": f"{API_PREFIX}/conversations/{conv.conversation_id}/recordings/{recording_id}",
    }


def recording_json(
    dataset: Dataset,
    conv: SimConversation,
    recording_id: str,
    media_uri: str | None,
    transcode_ms: int,
    *,
    file_state: str | None = None,
    dates: dict[str, str] | None = None,
    output_size: int | None = None,
) -> dict:
    """A Recording; `file_state`/`dates` (archiveDate, deleteDate, ...) describe a non-available one."""
    body = recording_base(dataset, conv, recording_id, file_state=file_state)
    body.update(dates or {})
    body.update(
        {
            "annotations": [],
            "estimatedTranscodeTimeMs": transcode_ms,
            "actualTranscodeTimeMs": transcode_ms,
            "creationTime": iso_ms(conv.end),
            "outputDurationMs": min(conv.duration_ms, 90_000),
            "outputSizeInBytes": (conv.wav_size() if output_size is None else output_size) if media_uri else 0,
        }
    )
    if media_uri:
        body["mediaUris"] = {"S": {"mediaUri": media_uri, "waveformData": []}}
    return body


def recording_metadata_json(
    dataset: Dataset, conv: SimConversation, recording_id: str, *, file_state: str | None = None, dates=None
) -> dict:
    body = recording_base(dataset, conv, recording_id, file_state=file_state)
    body.update(dates or {})
    body["region"] = "us-east-1"
    return body


def division_ref(dataset: Dataset, division_id: str) -> dict:
    division = dataset.division(division_id) or {"id": division_id, "name": ""}
    return {
        "id": division["id"],
        "name": division["name"],
        "selfUri": f"{API_PREFIX}/authorization/divisions/{division['id']}",
    }


def queue_json(dataset: Dataset, queue: dict) -> dict:
    body = {
        "id": queue["id"],
        "name": queue["name"],
        "division": division_ref(dataset, queue["division_id"]),
        "memberCount": sum(1 for u in dataset.users if u["queue_id"] == queue["id"]),
    }
    if dataset.untranscribed_queue_id is not None:
        # Only an org that transcribes per queue makes the flag worth reading; plain datasets omit it.
        body["enableTranscription"] = queue["id"] != dataset.untranscribed_queue_id
    body["selfUri"] = f"{API_PREFIX}/routing/queues/{queue['id']}"
    return body


def user_json(dataset: Dataset, user: dict) -> dict:
    return {
        "id": user["id"],
        "name": user["name"],
        "division": division_ref(dataset, user["division_id"]),
        "state": "active",
        "selfUri": f"{API_PREFIX}/users/{user['id']}",
    }


def listing(entities: list[dict], page_size: int, page_number: int) -> dict:
    total = len(entities)
    start = (page_number - 1) * page_size
    return {
        "entities": entities[start : start + page_size],
        "pageSize": page_size,
        "pageNumber": page_number,
        "total": total,
        "pageCount": max(1, -(-total // page_size)),
    }
