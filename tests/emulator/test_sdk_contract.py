"""The official SDK (PureCloudPlatformClientV2 269.0.0) logs in and deserializes every endpoint we use."""

from __future__ import annotations

import PureCloudPlatformClientV2 as sdk
import pytest
from PureCloudPlatformClientV2.rest import ApiException

from tests.emulator.support import CLIENT_ID, CLIENT_SECRET, END, START, ready_conversation


@pytest.fixture
def api_client(base_url):
    # No "api." prefix in the host, so the SDK posts to {host}/oauth/token (genesys-api.md §1.1).
    client = sdk.api_client.ApiClient(base_url)
    return client.get_client_credentials_token(CLIENT_ID, CLIENT_SECRET)


def test_it_logs_in_and_fails_with_wrong_credentials(base_url):
    assert sdk.api_client.ApiClient(base_url).get_client_credentials_token(CLIENT_ID, CLIENT_SECRET).access_token
    with pytest.raises((ApiException, KeyError)):
        sdk.api_client.ApiClient(base_url).get_client_credentials_token(CLIENT_ID, "wrong")


def test_it_deserializes_the_analytics_details_query(api_client, dataset):
    body = sdk.ConversationQuery()
    body.interval = f"{START.isoformat().replace('+00:00', 'Z')}/{END.isoformat().replace('+00:00', 'Z')}"
    body.paging = sdk.PagingSpec()
    body.paging.page_size, body.paging.page_number = 10, 1
    response = sdk.AnalyticsApi(api_client).post_analytics_conversations_details_query(body)
    assert response.total_hits == len(dataset.conversations)
    conversation = response.conversations[0]
    sim = dataset.conversation(conversation.conversation_id)
    assert conversation.participants[0].sessions[0].session_id == sim.communication_ids[0]
    assert conversation.participants[0].sessions[0].media_type == "voice"
    assert conversation.conversation_end is not None


def test_it_deserializes_transcript_search_and_urls(api_client, dataset, emulator):
    sta = sdk.SpeechTextAnalyticsApi(api_client)
    criterion = sdk.TranscriptSearchCriteria()
    criterion.type, criterion.fields, criterion.value = "EXACT", ["mediaType"], "call"
    request = sdk.TranscriptSearchRequest()
    request.types, request.page_size, request.page_number, request.query = ["transcripts"], 5, 1, [criterion]
    found = sta.post_speechandtextanalytics_transcripts_search(request)
    assert found.total > 0 and found.results[0]["communicationId"]
    conv = ready_conversation(dataset, emulator)
    url = sta.get_speechandtextanalytics_conversation_communication_transcripturl(
        conv.conversation_id, conv.communication_ids[0]
    )
    assert url.url.startswith(emulator.base_url + "/s3/")
    urls = sta.get_speechandtextanalytics_conversation_communication_transcripturls(
        conv.conversation_id, conv.communication_ids[0]
    )
    assert urls.communication_id == conv.communication_ids[0] and urls.urls[0].recording.id == conv.recording_ids[0]
    with pytest.raises(ApiException) as missing:
        sta.get_speechandtextanalytics_conversation_communication_transcripturl(
            conv.conversation_id, conv.communication_ids[1]
        )
    assert missing.value.status == 404


def test_it_deserializes_recordings_metadata_and_batches(api_client, dataset, emulator, clock):
    recordings = sdk.RecordingApi(api_client)
    conv = ready_conversation(dataset, emulator)
    assert recordings.get_conversation_recordings(conv.conversation_id, max_wait_ms=0, format_id="WAV") == []
    assert api_client.last_response.status == 202
    clock.advance(10)
    listed = recordings.get_conversation_recordings(conv.conversation_id, max_wait_ms=0, format_id="WAV")
    assert listed[0].media_uris["S"].media_uri and listed[0].session_id == conv.communication_ids[0]
    single = recordings.get_conversation_recording(conv.conversation_id, conv.recording_ids[0], format_id="WAV")
    assert single.file_state == "AVAILABLE" and single.media_uris["S"].media_uri
    metadata = recordings.get_conversation_recordingmetadata(conv.conversation_id)
    assert metadata[0].session_id == conv.communication_ids[0]
    item = sdk.BatchDownloadRequest()
    item.conversation_id, item.recording_id = conv.conversation_id, conv.recording_ids[0]
    submission = sdk.BatchDownloadJobSubmission()
    submission.batch_download_request_list = [item]
    job = recordings.post_recording_batchrequests(submission)
    clock.advance(5)
    status = recordings.get_recording_batchrequest(job.id)
    assert status.status == "Completed" and status.results[0].result_url


def test_it_looks_up_queues_and_users_through_the_sdk(api_client, dataset):
    queues = sdk.RoutingApi(api_client).get_routing_queues(id=[q["id"] for q in dataset.queues[:2]])
    assert {q.name for q in queues.entities} == {q["name"] for q in dataset.queues[:2]}
    users = sdk.UsersApi(api_client).get_users(id=[u["id"] for u in dataset.users[:2]])
    assert {u.name for u in users.entities} == {u["name"] for u in dataset.users[:2]}


def test_it_deserializes_reshaped_conversations_and_the_variant_endpoints():
    """Consult legs, callbacks, agent-first calls, screen and archived recordings, restores and settings."""
    from datetime import UTC, datetime, timedelta

    from genesys.emulator import DatasetShape, OrgBehaviour, generate_dataset
    from tests.emulator.support import VARIANT_END, VARIANT_START, make_emulator, variant_clock

    shape = DatasetShape(
        consult_share=0.2,
        callback_share=0.2,
        multi_segment_share=0.2,
        outbound_agent_first=True,
        agent_purpose="user",
        archived_share=1.0,
        screen_recording_share=0.3,
        untranscribed_queue=True,
    )
    dataset = generate_dataset(21, 40, VARIANT_START, VARIANT_END, shape=shape)
    emulator = make_emulator(dataset, variant_clock(), behaviour=OrgBehaviour(restore=True))
    with emulator.serve() as base_url:
        client = sdk.api_client.ApiClient(base_url).get_client_credentials_token(CLIENT_ID, CLIENT_SECRET)
        body = sdk.ConversationQuery()
        body.interval = f"{VARIANT_START.isoformat()}/{VARIANT_END.isoformat()}"
        body.paging = sdk.PagingSpec()
        body.paging.page_size, body.paging.page_number = 100, 1
        found = sdk.AnalyticsApi(client).post_analytics_conversations_details_query(body).conversations
        purposes = {p.purpose for c in found for p in c.participants}
        media = {s.media_type for c in found for p in c.participants for s in p.sessions}
        segment_types = {g.segment_type for c in found for p in c.participants for s in p.sessions for g in s.segments}
        assert "user" in purposes and "agent" not in purposes and media == {"voice", "callback"}
        assert "outdated_sdk_version" not in purposes | media | segment_types
        assert max(len(c.division_ids) for c in found) == 2

        multi = next(
            c
            for c in dataset.conversations
            if len([p for p in c.parts if p.leg == "customer"]) > 1 and not c.transcript.delayed
        )
        urls = sdk.SpeechTextAnalyticsApi(client).get_speechandtextanalytics_conversation_communication_transcripturls(
            multi.conversation_id, multi.communication_ids[0]
        )
        assert [u.recording.id for u in urls.urls] == [p.recording_id for p in multi.parts if p.leg == "customer"]

        recordings = sdk.RecordingApi(client)
        screened = next(c for c in dataset.conversations if c.recordings[0].media == "screen" and c.transcript is None)
        listed = recordings.get_conversation_recordings(screened.conversation_id, max_wait_ms=60_000, format_id="WAV")
        assert [(r.media, r.file_state) for r in listed] == [("screen", "AVAILABLE"), ("audio", "ARCHIVED")]
        assert listed[1].media_uris is None and listed[1].archive_date is not None
        update = sdk.Recording()
        update.archive_date = datetime.now(UTC).replace(year=2030) + timedelta(days=1)
        restoring = recordings.put_conversation_recording(screened.conversation_id, listed[1].id, update)
        assert restoring.file_state == "RESTORING"

        settings = sdk.RoutingApi(client).get_routing_settings_transcription()
        assert settings.transcription == "EnabledQueueFlow" and settings.content_search_enabled is True
        queues = sdk.RoutingApi(client).get_routing_queues(page_size=100).entities
        assert {q.id for q in queues if q.enable_transcription is False} == {dataset.untranscribed_queue_id}
