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
