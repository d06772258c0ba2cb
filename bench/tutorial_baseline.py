"""The original Node tutorial's algorithm, ported faithfully to Python and onto the REAL Genesys endpoints.

This is the baseline that `bench/ingest_compare.py` measures our pipeline against. It keeps every design
choice of the tutorial (shared/reference/original-tutorial.md) and changes only what must change because the
tutorial's endpoints are fictional (shared/genesys-api.md §9):

| tutorial                                              | this port                                                     |
|-------------------------------------------------------|---------------------------------------------------------------|
| getAccessToken() before every call (POST token)       | POST /oauth/token with Basic auth before EVERY API call        |
| (no discovery)                                        | POST /api/v2/analytics/conversations/details/query, paged     |
| poll GET /recordings/transcripts/{id} until completed | poll GET .../conversations/{cid}/communications/{comm}/transcripturl; 404 = not ready |
| 20 attempts, 2 s * 2^(n-1) + rand(1 s), cap 30 s      | same (all delays multiplied by --scale)                       |
| 429 -> sleep Retry-After (default 5) and recurse      | same (Retry-After is NOT scaled: the rate limit is real)      |
| 8 KB Range GETs on /content, fullText += utf8(chunk)  | 8 KB Range GETs on the pre-signed URL, str += chunk.decode()  |
| Authorization: Bearer on the content GET              | same, unless --no-bearer-on-s3 (documented deviation)         |
| /<REDACTED>|[REDACTED_PII]/g (character-class bug)    | re.compile(r"<REDACTED>|[REDACTED_PII]") - bug kept           |
| fallback GET on its invented recording-audio path     | GET /api/v2/conversations/{cid}/recordings (+ media GET)      |
| one compliance POST per transcript                    | one POST per transcript to --compliance-url                   |

--handlers N runs the tutorial's /api/transcripts/process for N conversations at a time (a thread pool of N, as
its Express server serves N concurrent requests from a scheduler); N=1 is one conversation after another, N=0 one
handler per conversation, all started at once (one request per call that has just ended). The communication id
polled is the customer leg's voice session (first voice session, customer first), per genesys-api.md §7.4.

Prints one JSON summary line at the end (counters as seen by the client, and per conversation its outcome and
the sha256 of the text it synced, re-encoded as UTF-8, so the caller can check it against the ground truth).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import random
import re
import sys
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import requests

PII_PATTERN = re.compile(r"<REDACTED>|[REDACTED_PII]")  # faithful: [..] is a character class
CHUNK_SIZE = 8192


class Baseline:
    def __init__(self, args: argparse.Namespace) -> None:
        self.api = args.api_url.rstrip("/")
        self.login = (args.login_url or args.api_url).rstrip("/")
        self.basic = base64.b64encode(f"{args.client_id}:{args.client_secret}".encode()).decode()
        self.scale = args.scale
        self.max_attempts = args.max_attempts
        self.base_delay = 2.0 * args.scale
        self.compliance_url = args.compliance_url
        self.bearer_on_s3 = not args.no_bearer_on_s3
        self._local = threading.local()  # one keep-alive Session per handler thread, like Node's fetch agent
        self._lock = threading.Lock()
        self.rng = random.Random(args.seed)
        self.counts: Counter[str] = Counter()
        self.outcomes: Counter[str] = Counter()
        self.errors: Counter[str] = Counter()
        self.pii_matches = 0
        self.results: dict[str, dict] = {}

    @property
    def session(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = requests.Session()
        return session

    # --- auth: a fresh token for every call (the tutorial's getAccessToken has no cache in practice)
    def get_access_token(self) -> str:
        self._count("token_requests")
        res = self.session.post(
            f"{self.login}/oauth/token",
            data={"grant_type": "client_credentials"},
            headers={"Authorization": f"Basic {self.basic}"},
            timeout=30,
        )
        if res.status_code == 401:
            raise RuntimeError("OAuth authentication failed. Verify client credentials and scopes.")
        if res.status_code == 429:
            self._count("rate_limited")
            time.sleep(float(res.headers.get("Retry-After") or 5))
            return self.get_access_token()
        res.raise_for_status()
        return res.json()["access_token"]

    def _count(self, name: str, value: int = 1, *, counter: Counter | None = None) -> None:
        with self._lock:
            (self.counts if counter is None else counter)[name] += value

    def api_call(self, method: str, path: str, **kwargs) -> requests.Response:
        """fetchTranscript's shape: new token, call, on 429 sleep Retry-After and recurse."""
        token = self.get_access_token()
        self._count("api_calls")
        headers = {"Authorization": f"Bearer {token}", "Accept": "application/json", **kwargs.pop("headers", {})}
        res = self.session.request(method, f"{self.api}{path}", headers=headers, timeout=30, **kwargs)
        if res.status_code == 429:
            self._count("rate_limited")
            time.sleep(int(res.headers.get("Retry-After") or "5"))
            return self.api_call(method, path, headers=headers, **kwargs)
        return res

    # --- discovery (the tutorial has none; same analytics query our pipeline uses)
    def discover(self, since: str, until: str) -> list[dict]:
        conversations: list[dict] = []
        page = 1
        while True:
            body = {
                "interval": f"{since}/{until}",
                "order": "asc",
                "orderBy": "conversationStart",
                "paging": {"pageSize": 100, "pageNumber": page},
                "conversationFilters": [
                    {
                        "type": "and",
                        "predicates": [{"type": "dimension", "dimension": "conversationEnd", "operator": "exists"}],
                    }
                ],
                "segmentFilters": [
                    {
                        "type": "and",
                        "predicates": [
                            {"type": "dimension", "dimension": "mediaType", "operator": "matches", "value": "voice"},
                            {"type": "dimension", "dimension": "recording", "operator": "exists"},
                        ],
                    }
                ],
            }
            res = self.api_call("POST", "/api/v2/analytics/conversations/details/query", json=body)
            if not res.ok:
                raise RuntimeError(f"HTTP {res.status_code}: {res.text[:200]}")
            data = res.json()
            conversations += data.get("conversations") or []
            total = data.get("totalHits") or 0
            if page * 100 >= total or not data.get("conversations"):
                return conversations
            page += 1

    @staticmethod
    def communication_id(conv: dict) -> str | None:
        participants = sorted(
            conv.get("participants") or [], key=lambda p: 0 if p.get("purpose") in ("customer", "external") else 1
        )
        for participant in participants:
            for session in participant.get("sessions") or []:
                if session.get("mediaType") == "voice":
                    return session.get("sessionId")
        return None

    # --- Step 1: poll
    def fetch_transcript(self, cid: str, comm: str) -> dict:
        res = self.api_call(
            "GET", f"/api/v2/speechandtextanalytics/conversations/{cid}/communications/{comm}/transcripturl"
        )
        if res.status_code == 404:
            return {"status": "in_progress"}
        if not res.ok:
            raise RuntimeError(f"HTTP {res.status_code}: {res.text[:200]}")
        return {"status": "completed", **res.json()}

    def poll_transcript_status(self, cid: str, comm: str) -> dict:
        attempt = 0
        while attempt < self.max_attempts:
            response = self.fetch_transcript(cid, comm)
            if response["status"] == "completed":
                return response
            attempt += 1
            with self._lock:
                jitter = self.rng.random() * 1.0 * self.scale
            delay = min(self.base_delay * 2 ** (attempt - 1) + jitter, 30.0 * self.scale)
            time.sleep(delay)
        raise TimeoutError(f"Transcription polling timed out after {self.max_attempts} attempts.")

    # --- Step 2: 8 KB ranges concatenated into a string
    def stream_transcript_content(self, url: str) -> str:
        token = self.get_access_token()
        offset = 0
        full_text = ""
        is_last = False
        while not is_last:
            headers = {"Range": f"bytes={offset}-{offset + CHUNK_SIZE - 1}", "Accept": "text/plain"}
            sent_bearer = self.bearer_on_s3  # per request: concurrent handlers may all send it before one learns
            if sent_bearer:
                headers["Authorization"] = f"Bearer {token}"
            self._count("s3_requests")
            res = self.session.get(url, headers=headers, timeout=30)
            if res.status_code in (400, 403) and sent_bearer and offset == 0:
                # S3 refuses a second auth mechanism on a query-signed URL; note it and go on without.
                self._count("s3_rejected_bearer")
                self.bearer_on_s3 = False
                continue
            if res.status_code == 416:
                raise RuntimeError("Range not satisfiable. Transcript length mismatch.")
            if not res.ok:
                raise RuntimeError(f"HTTP {res.status_code} during stream fetch")
            content_range = res.headers.get("Content-Range")
            chunk = res.content
            full_text += chunk.decode("utf-8", errors="replace")  # Buffer.toString('utf-8') per chunk
            offset += len(chunk)
            self._count("s3_bytes", len(chunk))
            if content_range and "/" in content_range:
                total = int(content_range.split("/")[1])
                is_last = offset >= total
            else:
                is_last = len(chunk) < CHUNK_SIZE
        self.validate_pii_redaction(full_text)
        return full_text

    def validate_pii_redaction(self, text: str) -> bool:
        matches = len(PII_PATTERN.findall(text))
        with self._lock:
            self.pii_matches += matches
        return True

    # --- Step 3: fallback and compliance
    def fallback_to_raw_audio(self, cid: str) -> int:
        """Bytes of the recordings listing plus the first media file (0 media bytes: the listing was empty)."""
        res = self.api_call("GET", f"/api/v2/conversations/{cid}/recordings", params={"formatId": "WAV"})
        if not res.ok:
            raise RuntimeError(f"Audio fallback failed: HTTP {res.status_code}")
        size = len(res.content)
        try:
            recordings = res.json() or []
        except ValueError:
            recordings = []
        for rec in recordings if isinstance(recordings, list) else []:
            for media in (rec.get("mediaUris") or {}).values():
                uri = media.get("mediaUri") if isinstance(media, dict) else None
                if uri:
                    self._count("s3_requests")
                    audio = self.session.get(uri, timeout=60)
                    size += len(audio.content)  # Buffer.from(await res.arrayBuffer())
                    self._count("s3_bytes", len(audio.content))
                    self.results[cid] = {"outcome": "fallback", "audio_bytes": len(audio.content)}
                    return size
        self.results[cid] = {"outcome": "fallback", "audio_bytes": 0}
        return size

    def sync_to_compliance_storage(self, cid: str, comm: str, data: dict, text: str) -> None:
        payload = {
            "transcriptId": f"{cid}/{comm}",
            "recordingId": data.get("recordingId"),
            "duration": data.get("duration"),
            "completedTimestamp": data.get("completedTimestamp"),
            "piiMarkersPresent": "<REDACTED>" in text,
            "qualityScore": (data.get("quality") or {}).get("confidence") or 0,
            "syncedAt": datetime.now(UTC).isoformat(),
        }
        self._count("compliance_posts")
        res = self.session.post(
            self.compliance_url, json=payload, headers={"Authorization": "Bearer compliance-token"}, timeout=30
        )
        if not res.ok:
            raise RuntimeError(f"Compliance sync failed: HTTP {res.status_code}")

    # --- /api/transcripts/process, once per conversation
    def process(self, cid: str, comm: str) -> None:
        try:
            data = self.poll_transcript_status(cid, comm)
        except Exception as exc:  # noqa: BLE001 - the tutorial catches everything here
            self._count(type(exc).__name__, counter=self.errors)
            try:
                self.fallback_to_raw_audio(cid)
                self._count("fallback", counter=self.outcomes)
            except Exception as exc2:  # noqa: BLE001
                self._count(type(exc2).__name__, counter=self.errors)
                self._count("error", counter=self.outcomes)
                self.results[cid] = {"outcome": "error", "error": type(exc2).__name__}
            return
        try:
            text = self.stream_transcript_content(data["url"])
            self.sync_to_compliance_storage(cid, comm, data, text)
            self._count("transcript", counter=self.outcomes)
            digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
            self.results[cid] = {"outcome": "transcript", "sha256": digest}
        except Exception as exc:  # noqa: BLE001 - res.status(500)
            self._count(type(exc).__name__, counter=self.errors)
            self._count("error", counter=self.outcomes)
            self.results[cid] = {"outcome": "error", "error": type(exc).__name__}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--api-url", required=True)
    parser.add_argument("--login-url")
    parser.add_argument("--client-id", required=True)
    parser.add_argument("--client-secret", required=True)
    parser.add_argument("--since", required=True, help="ISO start of the discovery interval")
    parser.add_argument("--until", required=True, help="ISO end of the discovery interval")
    parser.add_argument("--compliance-url", required=True)
    parser.add_argument(
        "--scale", type=float, default=1.0, help="multiply every tutorial delay (2 s base, 1 s jitter, 30 s cap)"
    )
    parser.add_argument("--max-attempts", type=int, default=20)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--no-bearer-on-s3", action="store_true", help="deviation: omit Authorization on the pre-signed GET"
    )
    parser.add_argument(
        "--handlers", type=int, default=1, help="concurrent process handlers (1: one after another, 0: one per call)"
    )
    args = parser.parse_args(argv)

    baseline = Baseline(args)
    started = time.monotonic()
    conversations = baseline.discover(args.since, args.until)
    jobs = []
    for conv in conversations:
        comm = baseline.communication_id(conv)
        if comm is None:
            baseline.outcomes["no_voice_session"] += 1
            continue
        jobs.append((conv["conversationId"], comm))
    handlers = args.handlers or len(jobs)
    if handlers > 1:
        with ThreadPoolExecutor(max_workers=handlers) as pool:
            list(pool.map(lambda job: baseline.process(*job), jobs))
    else:
        for cid, comm in jobs:
            baseline.process(cid, comm)
    summary = {
        "seconds": round(time.monotonic() - started, 3),
        "conversations": len(conversations),
        "outcomes": dict(baseline.outcomes),
        "errors": dict(baseline.errors),
        "pii_regex_matches": baseline.pii_matches,
        "handlers": args.handlers,
        "results": baseline.results,
        **dict(baseline.counts),
    }
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
