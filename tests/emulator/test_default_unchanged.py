"""With no shape and no behaviour, the dataset, its documents and the HTTP answers are what they were before
variants existed: these digests were computed from the emulator before variants.py was added."""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta

import pytest
import requests

from genesys.clock import FakeClock
from genesys.emulator import DatasetShape, generate_dataset
from genesys.emulator.documents import iter_document
from genesys.emulator.resources import (
    analytics_conversation,
    queue_json,
    recording_json,
    recording_metadata_json,
    user_json,
)
from tests.emulator.support import END, START, api_session, make_emulator

# Computed from the emulator as it was before dataset shapes and org behaviours existed (commit de828e8). The
# recording pins (resources_*: outputSizeInBytes; the WAV; the HTTP answers) were recomputed when recordings became
# as long as their calls, 8 kHz 8-bit (issue 13 §1); `truth` and `documents`, the transcripts, did not change. The WAV
# was recomputed again when recordings began to carry synthesized speech instead of tones (issue 15).
PINNED = {
    "conftest": {
        "truth": "ee107ea5be1d139885b16773f24b1ed25e88067f19dca1240c32c56dc1e538e5",
        "documents": "48fe69a42600ec199450ca86b874743a8191273b30569420a382e0420d5d1b10",
        "resources_mid": "9f2daad47a185fc668c22182396d6608195c5b75b3bf8a7ebeb1ab7534dab68c",
        "resources_after": "7f25324b3aa13df7d4c9665239a516adff22a681eb3462efb2f6566f0ef9496a",
    },
    "big": {
        "truth": "8986c2e9193f6c31cd953536e09ae57208a874c9b648b31410c20e078dcfd456",
        "documents": "ae044c5c683c5abcddff425449ac35b966a449273006a702d2227be0ac306bc4",
        "resources_mid": "e61ea7f6d73cc71228c5343aba0eba065fb4abaced102fe75e708f5d46d91483",
        "resources_after": "d104f71e5ad71714a74e2f38419a4e8d1c01da923499e4702ace542f07658fab",
    },
    "live": {
        "truth": "f31e350efbd09231fc3c073e95d1cbb515020fa7fe5fd227b7ac48689a673911",
        "documents": "95189376439febcc878fa746e6da456cc8d1d5e01dc3c1e5419817efba2292e2",
        "resources_mid": "f01c68b2998d0df7a84643fa47852a29f26a9bd1686519e8cc0f1d03ca3dd080",
        "resources_after": "d5d6cea504625ba4096cfdb08312b0ec4e5de33ee28063f11b46f25729757356",
    },
}
PINNED_HTTP = "d08d1e19b17ddbef5f33919c620d0a9454c8e91ba86c800f1d75f9a9b96b3620"
PINNED_LARGE_DOCUMENT = "d38e7291cb192d44fca436be2612789fb19ada628b8a3fac67985dc34d55673b"
PINNED_WAV = (
    "fc0f40ea-7048-4de0-9c5f-a9e5ddbb1068",
    "46f0099416e0110e1075ab0f4db85172d5e32455ad7c279132d1f3274ab33f60",
)


def _sha(value) -> str:
    data = value if isinstance(value, bytes) else json.dumps(value, sort_keys=True).encode()
    return hashlib.sha256(data).hexdigest()


def ground_truth_digest(dataset) -> str:
    rows = []
    for c in dataset.conversations:
        t = c.transcript
        transcript = None
        if t is not None:
            transcript = [t.transcript_id, t.communication_id, t.kind, t.ready_delay_s, t.delayed, t.phrase_count]
            transcript += [t.leaks, t.mask_counts, t.seed, t.hostile, t.program_id, t.engine_id, len(t.phrases)]
        rows.append(
            [c.conversation_id, c.start.isoformat(), c.end.isoformat(), c.queue_id, c.user_id, c.division_id]
            + [c.direction, c.communication_ids, c.recording_ids, c.ivr_session_id, c.acd_session_id]
            + [c.agent_join_ms, c.ivr_end_ms, c.customer_ani, c.dnis, c.seed, transcript]
        )
    return _sha([dataset.organization_id, dataset.divisions, dataset.queues, dataset.users, rows, dataset.summary()])


def documents_digest(dataset) -> str:
    digest = hashlib.sha256()
    for conv in dataset.conversations:
        if conv.transcript and conv.transcript.kind != "large":
            digest.update(b"".join(iter_document(dataset, conv)))
    return digest.hexdigest()


def resources_digest(dataset, now) -> str:
    digest = hashlib.sha256()
    for conv in dataset.conversations:
        digest.update(json.dumps(analytics_conversation(dataset, conv, now)).encode())
        for rid in conv.recording_ids:
            digest.update(json.dumps(recording_json(dataset, conv, rid, "URI", 1234)).encode())
            digest.update(json.dumps(recording_metadata_json(dataset, conv, rid)).encode())
    for queue in dataset.queues:
        digest.update(json.dumps(queue_json(dataset, queue)).encode())
    for user in dataset.users:
        digest.update(json.dumps(user_json(dataset, user)).encode())
    return digest.hexdigest()


SEARCH = "/api/v2/speechandtextanalytics/transcripts/search"
QUERY = "/api/v2/analytics/conversations/details/query"


def _normalised(response, base_url: str, job_ids: list[str]) -> list:
    """Status, the deterministic headers and the body with the random parts (port, correlation, job ids) removed."""
    text = response.content
    if "ININ-Correlation-Id" in response.headers and text:  # API JSON; S3 bodies are hashed as bytes
        body = response.json()
        if isinstance(body, dict):
            body.pop("contextId", None)
        text = json.dumps(body, sort_keys=True).encode()
    text = text.replace(base_url.encode(), b"BASE")
    for index, job_id in enumerate(job_ids):
        text = text.replace(job_id.encode(), f"JOB{index}".encode())
    headers = {k.lower(): v for k, v in response.headers.items()}
    kept = [headers.get(h) for h in ("content-type", "etag", "content-length", "last-modified")]
    kept += [headers.get(h) for h in ("inin-ratelimit-count", "inin-ratelimit-allowed", "inin-ratelimit-reset")]
    return [response.status_code, kept, _sha(text)]


def http_transcript(dataset, **emulator_kwargs) -> list:
    """A fixed conversation with the emulator over HTTP, every answer normalised."""
    clock = FakeClock((END + timedelta(hours=2)).timestamp())
    emulator = make_emulator(dataset, clock, **emulator_kwargs)
    answers: list = []
    job_ids: list[str] = []
    with emulator.serve() as base_url:
        api = api_session(base_url)

        def record(response):
            answers.append(_normalised(response, base_url, job_ids))
            return response

        interval = f"{START.isoformat()}/{END.isoformat()}"
        for page in (1, 2, 3):
            record(
                api.post(base_url + QUERY, json={"interval": interval, "paging": {"pageSize": 25, "pageNumber": page}})
            )
        ordered = {"interval": interval, "order": "desc", "orderBy": "conversationEnd", "paging": {"pageSize": 50}}
        record(api.post(base_url + QUERY, json=ordered))
        record(api.post(base_url + QUERY, json={"interval": interval, "order": "desc"}))
        date_range = {
            "type": "DATE_RANGE",
            "fields": ["conversationStartTime"],
            "startValue": START.isoformat(),
            "endValue": END.isoformat(),
        }
        ready = [c for c in dataset.conversations if c.transcript and emulator.transcript_ready_at(c) <= clock.time()]
        searches = [
            [date_range],
            [date_range, {"type": "EXACT", "fields": ["mediaType"], "value": "call"}],
            [date_range, {"type": "EXACT", "fields": ["mediaType"], "values": ["callback"]}],
            [date_range, {"type": "EXACT", "fields": ["language"], "value": "en-US"}],
            [{"type": "EXACT", "fields": ["conversationId"], "values": [ready[0].conversation_id]}],
        ]
        for criteria in searches:
            record(api.post(base_url + SEARCH, json={"types": ["transcripts"], "pageSize": 100, "query": criteria}))
        for conv in ready[:3]:
            sta = f"{base_url}/api/v2/speechandtextanalytics/conversations/{conv.conversation_id}/communications"
            url = record(api.get(f"{sta}/{conv.communication_ids[0]}/transcripturl")).json()["url"]
            record(requests.get(url, timeout=5))
            record(requests.get(url, headers={"Range": "bytes=5-50"}, timeout=5))
            record(api.get(f"{sta}/{conv.communication_ids[0]}/transcripturls"))
            record(api.get(f"{sta}/{conv.communication_ids[1]}/transcripturl"))
            recordings = f"{base_url}/api/v2/conversations/{conv.conversation_id}/recordings"
            record(api.get(recordings, params={"formatId": "WAV", "maxWaitMs": 0}))
            record(api.get(recordings, params={"formatId": "WAV", "maxWaitMs": 10_000}))
            record(api.get(f"{recordings}/{conv.recording_ids[0]}", params={"formatId": "WAV"}))
            record(api.get(f"{base_url}/api/v2/conversations/{conv.conversation_id}/recordingmetadata"))
        never = next(c for c in dataset.conversations if c.transcript is None)
        items = [{"conversationId": c.conversation_id} for c in [*ready[:3], never]]
        job = api.post(f"{base_url}/api/v2/recording/batchrequests", json={"batchDownloadRequestList": items})
        job_ids.append(job.json()["id"])
        record(job)
        clock.advance(5)
        record(api.get(f"{base_url}/api/v2/recording/batchrequests/{job_ids[0]}"))
        record(api.get(f"{base_url}/api/v2/routing/queues", params={"pageSize": 100}))
        record(api.get(f"{base_url}/api/v2/users", params={"pageSize": 100}))
        record(api.get(f"{base_url}/api/v2/nothing-here"))
    return answers


def datasets(**shape) -> dict:
    return {
        "conftest": generate_dataset(11, 60, START, END, large=1, large_mb=3, malformed=2, **shape),
        "big": generate_dataset(5, 200, START, END, malformed=2, hostile_text=True, **shape),
        "live": generate_dataset(3, 100, START, END, live_until=END + timedelta(minutes=30), **shape),
    }


@pytest.mark.parametrize("shape", [{}, {"shape": DatasetShape()}], ids=["no-shape", "default-shape"])
def test_it_keeps_default_datasets_documents_and_resources_byte_identical(shape):
    built = datasets(**shape)
    for name, dataset in built.items():
        digests = {
            "truth": ground_truth_digest(dataset),
            "documents": documents_digest(dataset),
            "resources_mid": resources_digest(dataset, START + timedelta(hours=3)),
            "resources_after": resources_digest(dataset, END + timedelta(hours=2)),
        }
        assert digests == PINNED[name], name


def test_it_keeps_the_large_document_and_the_audio_byte_identical(dataset):
    large = next(c for c in dataset.conversations if c.transcript and c.transcript.kind == "large")
    assert _sha(b"".join(iter_document(dataset, large))) == PINNED_LARGE_DOCUMENT
    conversation_id, wav_digest = PINNED_WAV
    assert _sha(dataset.conversation(conversation_id).wav_bytes()) == wav_digest


def test_it_answers_the_same_http_conversation_byte_for_byte(dataset):
    assert _sha(http_transcript(dataset)) == PINNED_HTTP
