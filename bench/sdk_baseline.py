"""The flow a Genesys user writes with the official SDK (PureCloudPlatformClientV2 269.0.0) and a thread pool.

The second baseline `bench/ingest_compare.py` measures our pipeline against (the first is the tutorial port,
bench/tutorial_baseline.py). It is written the way the SDK's own examples and its users write it:

- one token from the SDK's client-credentials login (`ApiClient(host).get_client_credentials_token`), shared by
  every thread (the SDK keeps it on the ApiClient);
- discovery with `AnalyticsApi.post_analytics_conversations_details_query`, paged (100 per page), the same
  filters as the tutorial port and our pipeline (ended voice calls with a recording);
- a `ThreadPoolExecutor(max_workers=--workers)`, one task per conversation: poll
  `SpeechTextAnalyticsApi.get_speechandtextanalytics_conversation_communication_transcripturl` for the customer
  leg (404 = not ready yet) on the tutorial's schedule (2 s doubled, 30 s cap, 20 attempts; x --scale), so both
  baselines and our pipeline give up on a transcript after the same time;
- retries as the SDK does them: its urllib3 `Retry()` (every method) sleeps `Retry-After` on a 429 or 503 and
  retries, up to 10 times; nothing else is retried;
- the pre-signed URL downloaded with one `requests.get` (no Authorization header), then `json.loads` and one
  compliance POST per transcript, like the tutorial's sync;
- no transcript after the budget: audio fallback with `RecordingApi.get_conversation_recordings(format_id="WAV",
  max_wait_ms=60000)` (202 / [] while transcoding: ask again) and `requests.get` of the first media URI.

The SDK's HTTP layer is a urllib3 PoolManager with 4 connections per host (its default, block=True), so at most
4 requests are in flight whatever --workers is: that is the SDK as its users get it.

Prints one JSON summary line at the end, with per-conversation outcomes (sha256 of the downloaded document,
audio bytes) so the caller can check correctness against the emulator's ground truth. Never prints text.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import PureCloudPlatformClientV2 as sdk
import requests
from PureCloudPlatformClientV2.rest import ApiException

PAGE_SIZE = 100
RECORDINGS_MAX_WAIT_MS = 60_000


def predicate(model, dimension: str, operator: str, value: str | None = None):
    item = model()
    item.type, item.dimension, item.operator = "dimension", dimension, operator
    if value is not None:
        item.value = value
    return item


def details_query(since: str, until: str, page: int):
    """The analytics query body: ended voice conversations with a recording, oldest first."""
    conversation_filter = sdk.ConversationDetailQueryFilter()
    conversation_filter.type = "and"
    conversation_filter.predicates = [predicate(sdk.ConversationDetailQueryPredicate, "conversationEnd", "exists")]
    segment_filter = sdk.SegmentDetailQueryFilter()
    segment_filter.type = "and"
    segment_filter.predicates = [
        predicate(sdk.SegmentDetailQueryPredicate, "mediaType", "matches", "voice"),
        predicate(sdk.SegmentDetailQueryPredicate, "recording", "exists"),
    ]
    body = sdk.ConversationQuery()
    body.interval = f"{since}/{until}"
    body.order, body.order_by = "asc", "conversationStart"
    body.paging = sdk.PagingSpec()
    body.paging.page_size, body.paging.page_number = PAGE_SIZE, page
    body.conversation_filters = [conversation_filter]
    body.segment_filters = [segment_filter]
    return body


def customer_communication(conversation) -> str | None:
    """The customer leg's first voice session (customer/external participants first), as the tutorial port picks."""
    participants = sorted(
        conversation.participants or [], key=lambda p: 0 if p.purpose in ("customer", "external") else 1
    )
    for participant in participants:
        for session in participant.sessions or []:
            if session.media_type == "voice":
                return session.session_id
    return None


class SdkFlow:
    def __init__(self, args: argparse.Namespace) -> None:
        self.api_client = sdk.api_client.ApiClient(args.api_url.rstrip("/")).get_client_credentials_token(
            args.client_id, args.client_secret
        )
        self.analytics = sdk.AnalyticsApi(self.api_client)
        self.speech = sdk.SpeechTextAnalyticsApi(self.api_client)
        self.recordings = sdk.RecordingApi(self.api_client)
        self.compliance_url = args.compliance_url
        self.max_attempts = args.max_attempts
        self.scale = args.scale
        self._local = threading.local()
        self._lock = threading.Lock()
        self.counts: Counter[str] = Counter({"token_requests": 1})
        self.outcomes: Counter[str] = Counter()
        self.errors: Counter[str] = Counter()
        self.results: dict[str, dict] = {}

    @property
    def http(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = requests.Session()
        return session

    def count(self, name: str, value: int = 1, *, counter: Counter | None = None) -> None:
        with self._lock:
            (self.counts if counter is None else counter)[name] += value

    def discover(self, since: str, until: str) -> list:
        conversations, page = [], 1
        while True:
            self.count("api_calls")
            response = self.analytics.post_analytics_conversations_details_query(details_query(since, until, page))
            conversations += response.conversations or []
            if not response.conversations or page * PAGE_SIZE >= (response.total_hits or 0):
                return conversations
            page += 1

    def poll_delay(self, attempt: int) -> float:
        # The tutorial's schedule without its jitter: 2 s doubled per attempt, capped at 30 s (x scale).
        return min(2.0 * 2 ** (attempt - 1), 30.0) * self.scale

    def transcript_url(self, cid: str, comm: str) -> str | None:
        """The pre-signed URL once Genesys has the transcript; None after the polling budget."""
        for attempt in range(1, self.max_attempts + 1):
            try:
                self.count("api_calls")
                return self.speech.get_speechandtextanalytics_conversation_communication_transcripturl(cid, comm).url
            except ApiException as error:
                if error.status != 404:
                    raise
            time.sleep(self.poll_delay(attempt))
        return None

    def archive_transcript(self, cid: str, comm: str, url: str) -> None:
        response = self.http.get(url, timeout=60)
        response.raise_for_status()
        body = response.content
        document = json.loads(body)  # what a user stores: the parsed document
        payload = {
            "conversationId": cid,
            "communicationId": comm,
            "sha256": hashlib.sha256(body).hexdigest(),
            "phrases": sum(len(t.get("phrases") or []) for t in document.get("transcripts") or []),
            "syncedAt": datetime.now(UTC).isoformat(),
        }
        self.http.post(self.compliance_url, json=payload, timeout=30).raise_for_status()
        self.count("compliance_posts")
        self.results[cid] = {"outcome": "transcript", "sha256": payload["sha256"], "bytes": len(body)}
        self.count("transcript", counter=self.outcomes)

    def fallback_to_audio(self, cid: str) -> None:
        for _ in range(self.max_attempts):
            self.count("api_calls")
            listed = self.recordings.get_conversation_recordings(
                cid, max_wait_ms=RECORDINGS_MAX_WAIT_MS, format_id="WAV"
            )
            uris = [m.media_uri for r in listed or [] for m in (r.media_uris or {}).values() if m.media_uri]
            if uris:
                audio = self.http.get(uris[0], timeout=60)
                audio.raise_for_status()
                self.results[cid] = {"outcome": "fallback", "audio_bytes": len(audio.content)}
                self.count("fallback", counter=self.outcomes)
                return
            time.sleep(1.0 * self.scale)  # 202: still transcoding
        raise TimeoutError("recording never became available")

    def process(self, cid: str, comm: str) -> None:
        try:
            url = self.transcript_url(cid, comm)
            if url is None:
                self.fallback_to_audio(cid)
            else:
                self.archive_transcript(cid, comm, url)
        except Exception as error:  # noqa: BLE001 - one failed conversation must not stop the pool
            self.count(type(error).__name__, counter=self.errors)
            self.count("error", counter=self.outcomes)
            self.results[cid] = {"outcome": "error", "error": type(error).__name__}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--api-url", required=True, help="the SDK host (PureCloudRegionHosts or a base URL)")
    parser.add_argument("--client-id", required=True)
    parser.add_argument("--client-secret", required=True)
    parser.add_argument("--since", required=True, help="ISO start of the discovery interval")
    parser.add_argument("--until", required=True, help="ISO end of the discovery interval")
    parser.add_argument("--compliance-url", required=True)
    parser.add_argument("--workers", type=int, default=16, help="ThreadPoolExecutor max_workers (0: one per call)")
    parser.add_argument("--scale", type=float, default=1.0, help="multiply every polling delay")
    parser.add_argument("--max-attempts", type=int, default=20)
    args = parser.parse_args(argv)

    started = time.monotonic()
    flow = SdkFlow(args)
    conversations = flow.discover(args.since, args.until)
    jobs = []
    for conversation in conversations:
        comm = customer_communication(conversation)
        if comm is None:
            flow.outcomes["no_voice_session"] += 1
            continue
        jobs.append((conversation.conversation_id, comm))
    with ThreadPoolExecutor(max_workers=max(1, args.workers or len(jobs))) as pool:
        list(pool.map(lambda job: flow.process(*job), jobs))
    summary = {
        "seconds": round(time.monotonic() - started, 3),
        "conversations": len(conversations),
        "workers": args.workers,
        "outcomes": dict(flow.outcomes),
        "errors": dict(flow.errors),
        "results": flow.results,
        **dict(flow.counts),
    }
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
