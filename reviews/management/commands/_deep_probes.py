"""genesys_check --deep: read-only probes that learn how this org's Genesys actually behaves.

genesys-api.md §12 lists what the sources leave open (does the search need `language`, does it honour a
conversationId filter, how many URLs a leg has, is the transcript gzip, which divisions the role reads, each
endpoint's allowance). The pipeline survives either answer; these probes find out which one this org gives,
in a bounded number of GET/search calls (never a write), and store what the pipeline reads as GenesysFinding
rows (source "genesys_check", the pipeline's own value formats where a key is shared: reviews/pipeline/org.py).

Nothing here prints transcript text or PII: search hits are reduced to their keys, pre-signed URLs to host and
path (the query string is a credential), conversations to counts.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from itertools import islice
from urllib.parse import parse_qs, urlsplit

import requests
from django.conf import settings
from django.db import IntegrityError, transaction

from genesys.client import (
    DEFAULT_SEARCH_LANGUAGES,
    language_required,
    parse_search_page,
    parse_time,
    transcript_search_body,
)
from genesys.download import EXPIRED_MARKERS, content_encoding_of, expired_url_answer
from genesys.errors import (
    GenesysError,
    MalformedResponseError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitedError,
    ServerError,
    TransportError,
    error_for_status,
)
from reviews.models import Division, GenesysFinding, Queue
from reviews.pipeline import org
from reviews.pipeline.discovery import communication_ids_of, division_ids_of
from reviews.pipeline.names import store_names
from reviews.pipeline.transitions import safe_error

SOURCE = "genesys_check"
LOOKBACK = timedelta(hours=24)
SEARCH_ENDPOINT = "sta.transcripts.search"
SEARCH_PATH = "/api/v2/speechandtextanalytics/transcripts/search"
SEARCH_PAGE_SIZE = 25
# Any of these lets the client search (genesys-api.md §5); the emulator and Genesys name them in the 403.
SEARCH_PERMISSIONS = (
    "analytics:conversationDetail:view",
    "recording:recording:view",
    "recording:recordingSegment:view",
)
RECENT_CALLS = 100  # one analytics page: divisions and queues are read from all of them at no extra cost
SAMPLE_CALLS = 6  # calls whose legs are asked for transcript URLs
LEGS_PER_CALL = 3
MAX_DIVISIONS = 10  # one recordingmetadata call each
MAX_QUEUES = 100  # one routing/queues call
# Genesys writes most transcripts within minutes of hang-up: older calls tell more about the transcript shape.
SETTLED_AFTER = timedelta(minutes=15)
IMPOSSIBLE_ID = "00000000-0000-0000-0000-000000000000"
EXPECTED_HIT_KEYS = (
    "conversationId",
    "communicationId",
    "mediaType",
    "language",
    "transcriptId",
    "conversationStartTime",
)
MAX_KEYS_SHOWN = 30
TRANSIENT = (ServerError, TransportError, RateLimitedError)

CONVERSATION_FILTER = "search.conversation_filter"
HIT_KEYS = "search.hit_keys"
TRANSCRIPTS_SHAPE = "transcripts.shape"
DOWNLOAD_HEADERS = "download.headers"
ALLOWANCES = "ratelimit.allowances"
DIVISIONS_READABLE = "divisions.readable"
# What reviews.pipeline.org.transcription_settings() keeps of the settings body; a test keeps the two equal.
TRANSCRIPTION_FIELDS = ("transcription", "contentSearchEnabled", "pciDssRedactionEnabled", "piiRedactionEnabled")


@dataclass
class Outcome:
    """One row of "What this org does": what a probe found and what the pipeline does about it."""

    probe: str
    result: str  # OK, NOTE (the pipeline adapts; worth knowing), WARN (something to change), SKIP (nothing to probe)
    found: str
    pipeline: str = ""
    fix: str = ""
    key: str | None = None  # the GenesysFinding key this probe writes
    finding: dict | None = None  # its value (or, without a key, what --json shows)
    forget: bool = False  # the org showed the opposite: delete the key
    stored: str = ""  # what store_findings did: stored / deleted / absent

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass
class SearchAnswer:
    hits: list[dict] = field(default_factory=list)
    total: int | None = None
    error: GenesysError | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def count(self) -> int:
        return self.total if self.total is not None else len(self.hits)


class AllowanceSpy:
    """Records each endpoint family's inin-ratelimit-allowed as the client's limiter sees it.

    Wraps the limiter's on_headers (the client calls it for every API response) on this one instance, so the
    probes learn exactly what the pipeline's limiter learns, without a second HTTP path."""

    def __init__(self, limiter) -> None:
        self.allowances: dict[str, int] = {}
        self._original = limiter.on_headers
        limiter.on_headers = self._on_headers

    def _on_headers(self, headers, family=None):
        raw = headers.get("inin-ratelimit-allowed")
        if family and raw is not None and str(raw).strip().isdigit():
            self.allowances[family] = int(str(raw).strip())
        return self._original(headers, family=family)


def _short_list(values: list[str], limit: int = 3) -> str:
    shown = ",".join(values[:limit])
    return shown + (",..." if len(values) > limit else "")


def _division_names(ids: Iterable[str]) -> dict[str, str]:
    return dict(Division.objects.filter(genesys_id__in=list(ids)).exclude(name="").values_list("genesys_id", "name"))


def search_failed(probe: str, error: GenesysError) -> Outcome:
    """A search that failed for another reason than `language`: nothing learnt about this probe's question."""
    if isinstance(error, PermissionDeniedError):
        named = error.missing_permissions or list(SEARCH_PERMISSIONS)
        return Outcome(
            probe,
            "WARN",
            f"HTTP 403{' ' + error.code if error.code else ''}: the transcript search is refused (an org-wide endpoint)",
            pipeline="stops genesys_sync and the worker's rounds with this error: the role itself is wrong",
            fix=f"add one of {', '.join(named)} to the OAuth client's role (any one is enough)",
        )
    return Outcome(
        probe,
        "WARN",
        f"the search failed: {safe_error(error)}",
        pipeline="treats the search as down: probes every due conversation directly, asks the search again after "
        f"a cooldown ({settings.SEARCH_COOLDOWN_SECONDS:g} s, doubling up to {settings.SEARCH_COOLDOWN_MAX_SECONDS:g} s)",
        fix="run genesys_check --deep again later; if it persists, ask Genesys support (the contextId is above)",
    )


class DeepProbe:
    """The probes of --deep, in order; later ones reuse what earlier ones found (hits, recent calls, a URL)."""

    def __init__(self, client, *, now: datetime, spy: AllowanceSpy) -> None:
        self.client = client
        self.now = now
        self.start = now - LOOKBACK
        self.spy = spy
        # The languages the pipeline would send (org.prepare_search), or the client's documented default list.
        self.languages = org.search_languages() or list(DEFAULT_SEARCH_LANGUAGES)
        self.language_required = False
        self.search_error: GenesysError | None = None  # the search failed for another reason than `language`
        self.search_hits: list[dict] = []
        self.recent: list[dict] | None = None
        self.recent_error: GenesysError | None = None
        self.transcript_url: str | None = None
        self.denied: dict[str, PermissionDeniedError] = {}  # division id -> a 403 that named it
        self.mode: str | None = None  # the org's transcription mode, once read

    def probes(self) -> list[tuple[str, Callable[[], list[Outcome]]]]:
        return [
            ("search language", self.search_language),
            ("search conversationId filter", self.conversation_filter),
            ("search hit keys", self.hit_keys),
            ("transcript URLs per leg", self.transcripts_shape),
            ("transcript download", self.download_headers),
            ("transcription settings", self.transcription_settings),
            ("queue transcription", self.queue_transcription),
            ("divisions readable", self.divisions_readable),
            ("rate-limit allowances", self.allowances),
        ]

    def run(self) -> list[Outcome]:
        outcomes: list[Outcome] = []
        for name, probe in self.probes():
            try:
                outcomes.extend(probe())
            except GenesysError as error:  # every probe tolerates Genesys saying no: the row says what happened
                outcomes.append(Outcome(name, "WARN", f"probe failed: {safe_error(error)}"))
        return outcomes

    # ------------------------------------------------------------------------------ the search
    def _search(self, *, languages: Iterable[str] = (), conversation_ids: list[str] | None = None) -> SearchAnswer:
        """One search page, exactly as sent: no language retry (the client's search would hide the 400)."""
        body = transcript_search_body(
            start=self.start,
            end=self.now,
            conversation_ids=conversation_ids,
            page_size=SEARCH_PAGE_SIZE,
            page_number=1,
            languages=list(languages),
        )
        try:
            response = self.client.request(
                "POST", SEARCH_PATH, endpoint=SEARCH_ENDPOINT, json_body=body, max_retries=0, accept=(400,)
            )
            if response.status_code == 400:
                error = error_for_status(
                    status=400, body_text=response.text, headers=response.headers, endpoint=SEARCH_ENDPOINT
                )
                return SearchAnswer(error=error)
            try:
                decoded = response.json() if response.content else None
            except ValueError:
                raise MalformedResponseError(f"{SEARCH_ENDPOINT}: the body is not JSON") from None
            hits, total = parse_search_page(decoded, endpoint=SEARCH_ENDPOINT, page_number=1)
        except GenesysError as error:
            return SearchAnswer(error=error)
        return SearchAnswer(hits=hits, total=total)

    def search_language(self) -> list[Outcome]:
        bare = self._search()
        with_language = self._search(languages=self.languages)
        sent = _short_list(self.languages)
        with_text = (
            f"{with_language.count} hit(s)" if with_language.ok else f"fails too ({safe_error(with_language.error)})"
        )
        if bare.ok:
            return [self._language_optional(bare, with_language, sent, with_text)]
        if not language_required(bare.error):
            self.search_error = bare.error
            return [search_failed("search language", bare.error)]
        self.language_required = True
        self.search_hits = with_language.hits
        outcome = Outcome(
            "search language",
            "NOTE",
            f"400 REQUIRED_SEARCH_FIELD without a language criterion; with {sent}: {with_text}",
            pipeline="sends a language criterion on every search (GENESYS_TRANSCRIPT_LANGUAGES plus the languages "
            "of stored transcripts; the documented list until one is stored)",
            key=org.SEARCH_REQUIRES_LANGUAGE,
            finding={"required": True},
        )
        if not with_language.ok:
            outcome.result = "WARN"
            outcome.fix = "the search fails with a language too, so every conversation is probed directly; check GENESYS_TRANSCRIPT_LANGUAGES"
        elif not settings.GENESYS_TRANSCRIPT_LANGUAGES:
            outcome.fix = "set GENESYS_TRANSCRIPT_LANGUAGES to the languages the org transcribes (e.g. en-us,es-us)"
        return [outcome]

    def _language_optional(self, bare: SearchAnswer, with_language: SearchAnswer, sent: str, with_text: str) -> Outcome:
        # The org answers without `language`: a stored "required" finding is stale, so it is deleted (the
        # pipeline would only send a criterion that can hide transcripts in unlisted languages). Should the org
        # start insisting, the client retries that search once with the languages and the pipeline re-learns it.
        self.search_hits = bare.hits or with_language.hits
        configured = settings.GENESYS_TRANSCRIPT_LANGUAGES
        outcome = Outcome(
            "search language",
            "OK",
            f"answers without a language criterion: {bare.count} hit(s) in 24 h; with {sent}: {with_text}",
            pipeline=(
                f"sends GENESYS_TRANSCRIPT_LANGUAGES ({_short_list(configured)}) anyway, as configured"
                if configured
                else "sends no language criterion; a REQUIRED_SEARCH_FIELD answer later is retried with one and remembered"
            ),
            key=org.SEARCH_REQUIRES_LANGUAGE,
            finding={"required": False},
            forget=True,
        )
        if configured and with_language.ok and with_language.count < bare.count:
            outcome.result = "WARN"
            outcome.fix = (
                "GENESYS_TRANSCRIPT_LANGUAGES hides some transcripts from the search: add the org's other "
                "languages, or unset it (this org needs none)"
            )
        return outcome

    def _search_skipped(self, name: str) -> Outcome:
        return Outcome(name, "SKIP", "the search failed above; nothing to learn from it now")

    def conversation_filter(self) -> list[Outcome]:
        name = "search conversationId filter"
        if self.search_error is not None:
            return [self._search_skipped(name)]
        languages = self.languages if self.language_required else ()
        impossible = self._search(languages=languages, conversation_ids=[IMPOSSIBLE_ID])
        if not impossible.ok:
            if impossible.error.status == 400:
                return [self._filter_rejected(impossible.error)]
            return [search_failed(name, impossible.error)]
        filters: bool | None = None
        how = ""
        if impossible.hits:
            filters, how = False, f"a search for an id that cannot exist returned {impossible.count} hit(s)"
        elif self.search_hits:
            # The impossible id hid hits the unfiltered search returned: the filter filters. A recent call's id
            # confirms it narrows to that call (and not merely to nothing).
            real = self.search_hits[0].get("conversationId")
            answer = self._search(languages=languages, conversation_ids=[real])
            others = {hit.get("conversationId") for hit in answer.hits} - {real}
            filters = not others
            how = "an impossible id returned 0 hits; " + (
                f"a recent call's id returned {answer.count} hit(s), {len(others) or 'none'} for other calls"
                if answer.ok
                else f"a recent call's id failed ({safe_error(answer.error)})"
            )
        if filters is None:
            return [Outcome(name, "SKIP", "no transcripts in the last 24 h to tell by; run --deep again later")]
        pipeline = (
            "asks the search about up to 100 due conversations per call"
            if filters
            else "drops hits for conversations it did not ask about; a round reads at most 1,000 hits, so a busy "
            "org leans more on direct probes (1 h, 6 h, 24 h and at the deadline)"
        )
        return [
            Outcome(
                name, "OK" if filters else "NOTE", how, pipeline, key=CONVERSATION_FILTER, finding={"filters": filters}
            )
        ]

    def _filter_rejected(self, error: GenesysError) -> Outcome:
        return Outcome(
            "search conversationId filter",
            "WARN",
            f"the search rejects a conversationId criterion: {safe_error(error)}",
            pipeline="every pipeline search sends one, so each fails and the round probes its conversations "
            "directly (about 2.5 API calls per transcript instead of 1.3)",
            fix="report it with the contextId: the pipeline's search body needs this criterion",
            key=CONVERSATION_FILTER,
            finding={"filters": False, "rejected": True},
        )

    def hit_keys(self) -> list[Outcome]:
        hits = self.search_hits
        if self.search_error is not None:
            return [self._search_skipped("search hit keys")]
        if not hits:
            return [Outcome("search hit keys", "SKIP", "no search hits in the last 24 h to look at")]
        present = sorted({str(key)[:60] for hit in hits for key in hit})[:MAX_KEYS_SHOWN]
        missing = [key for key in EXPECTED_HIT_KEYS if not any(key in hit for hit in hits)]
        every_leg = all(hit.get("communicationId") for hit in hits)
        finding = {"present": present, "missing": missing, "hits": len(hits)}
        found = f"{len(hits)} hit(s) carry {', '.join(present)}" + (f"; never {', '.join(missing)}" if missing else "")
        pipeline = (
            "downloads the leg each hit names"
            if every_leg
            else "hits without communicationId: asks transcripturls on each recorded leg of the listed conversation"
        )
        return [
            Outcome("search hit keys", "OK" if every_leg else "NOTE", found, pipeline, key=HIT_KEYS, finding=finding)
        ]

    # ------------------------------------------------------------------------------ recent calls
    def _recent_calls(self) -> list[dict]:
        """Up to one analytics page of recorded calls that ended in the last 24 h, newest end first."""
        if self.recent is None:
            self.recent = []
            try:
                calls = self.client.recently_ended_conversations(
                    interval_start=self.start, ended_after=self.start, end=self.now, page_size=RECENT_CALLS
                )
                self.recent = list(islice(calls, RECENT_CALLS))
            except GenesysError as error:
                self.recent_error = error
        return self.recent

    def _no_calls(self, probe: str) -> Outcome:
        if self.recent_error is not None:
            return Outcome(probe, "WARN", f"analytics could not list recent calls: {safe_error(self.recent_error)}")
        return Outcome(probe, "SKIP", "no recorded call ended in the last 24 h; run --deep again after some calls")

    def _sample(self) -> list[dict]:
        """Calls the search listed first (they have a transcript), then settled calls, then the rest."""
        recorded = [call for call in self._recent_calls() if communication_ids_of(call)]
        listed = {hit.get("conversationId") for hit in self.search_hits}

        def settled(call: dict) -> bool:
            try:
                ended = parse_time(call.get("conversationEnd"))
            except ValueError:
                return False
            return ended is not None and ended <= self.now - SETTLED_AFTER

        ordered = [c for c in recorded if c.get("conversationId") in listed]
        ordered += [c for c in recorded if settled(c)] + recorded
        unique: dict[str, dict] = {}
        for call in ordered:
            unique.setdefault(call.get("conversationId"), call)
        return list(unique.values())[:SAMPLE_CALLS]

    def _note_denial(self, call: dict, error: PermissionDeniedError) -> None:
        for division_id in error.division_ids or division_ids_of(call)[:1]:
            self.denied.setdefault(division_id, error)

    def transcripts_shape(self) -> list[Outcome]:
        name = "transcript URLs per leg"
        calls = self._sample()
        if not calls:
            return [self._no_calls(name)]
        shape = {"calls": len(calls), "legs": 0, "legs_with_transcript": 0, "calls_with_transcript": 0}
        shape.update({"calls_with_several_transcribed_legs": 0, "denied_calls": 0, "errors": 0})
        per_leg: Counter = Counter()
        for call in calls:
            transcribed = self._probe_legs(call, shape, per_leg)
            shape["calls_with_transcript"] += transcribed > 0
            shape["calls_with_several_transcribed_legs"] += transcribed > 1
        shape["urls_per_leg"] = {str(count): legs for count, legs in sorted(per_leg.items())}
        shape["max_urls_per_leg"] = max(per_leg, default=0)
        return [self._shape_outcome(name, shape)]

    def _probe_legs(self, call: dict, shape: dict, per_leg: Counter) -> int:
        transcribed = 0
        for leg in communication_ids_of(call)[:LEGS_PER_CALL]:
            try:
                urls = self.client.get_transcript_urls(call.get("conversationId"), leg)
            except PermissionDeniedError as error:
                self._note_denial(call, error)
                shape["denied_calls"] += 1
                break  # the role cannot read this call at all: its other legs would say the same
            except GenesysError:
                shape["errors"] += 1
                continue
            shape["legs"] += 1
            if urls:
                transcribed += 1
                shape["legs_with_transcript"] += 1
                per_leg[len(urls)] += 1
                self.transcript_url = self.transcript_url or next((u["url"] for u in urls if u.get("url")), None)
        return transcribed

    @staticmethod
    def _shape_outcome(name: str, shape: dict) -> Outcome:
        spread = ", ".join(f"{legs} leg(s) with {count} URL(s)" for count, legs in shape["urls_per_leg"].items())
        found = (
            f"{shape['calls']} recent call(s), {shape['legs']} recorded leg(s) asked: "
            f"{shape['legs_with_transcript']} with a transcript" + (f" ({spread})" if spread else "")
        )
        if shape["calls_with_several_transcribed_legs"]:
            found += f"; {shape['calls_with_several_transcribed_legs']} call(s) with transcripts on several legs"
        if shape["denied_calls"]:
            found += f"; {shape['denied_calls']} call(s) answered 403 (see divisions)"
        outcome = Outcome(
            name,
            "OK",
            found,
            "stores every URL of every transcribed leg as its own part (one per recording segment)",
            key=TRANSCRIPTS_SHAPE,
            finding=shape,
        )
        if shape["max_urls_per_leg"] > 1:
            outcome.result = "NOTE"
            outcome.pipeline += "; calls with holds or recording pauses have several parts, all kept"
        if not shape["legs_with_transcript"]:
            outcome.result = "NOTE"
            outcome.pipeline = (
                "no transcript yet on these calls (normal within minutes of hang-up): the pipeline polls until "
                f"TRANSCRIPT_DEADLINE_SECONDS ({settings.TRANSCRIPT_DEADLINE_SECONDS / 3600:g} h), then keeps the audio"
            )
        return outcome

    # ------------------------------------------------------------------------------ the download
    def download_headers(self) -> list[Outcome]:
        name = "transcript download"
        if not self.transcript_url:
            return [Outcome(name, "SKIP", "no transcript URL among the sampled calls")]
        parts = urlsplit(self.transcript_url)
        query_keys = {key.lower() for key in parse_qs(parts.query)}
        try:
            response = self.client.peek_download(self.transcript_url)
        except requests.RequestException as error:
            return [
                Outcome(name, "WARN", f"{parts.hostname}: {type(error).__name__}", fix="check outbound access to it")
            ]
        with response:
            headers = response.headers
            finding = {
                "status": response.status_code,
                "range_honoured": response.status_code == 206,
                "content_encoding": content_encoding_of(headers),
                "content_type": headers.get("Content-Type"),
                "accept_ranges": headers.get("Accept-Ranges"),
                "etag": bool(headers.get("ETag")),
                "last_modified": bool(headers.get("Last-Modified")),
                "security_token": "x-amz-security-token" in query_keys,
                "expired": self._expiry(response),
                "host": parts.hostname,
                "path": parts.path,
            }
        return [self._download_outcome(name, finding)]

    @staticmethod
    def _expiry(response: requests.Response) -> str | None:
        """ "Request has expired" (403) or "ExpiredToken" (400) when S3 said the URL expired, else None."""
        if not expired_url_answer(response):
            return None
        return EXPIRED_MARKERS[response.status_code].decode().replace("<Code>", "").replace("</Code>", "")

    @staticmethod
    def _download_outcome(name: str, finding: dict) -> Outcome:
        encoding = finding["content_encoding"] or "none"
        found = (
            f"HTTP {finding['status']} from {finding['host']}: Content-Type {finding['content_type'] or '-'}, "
            f"Content-Encoding {encoding}, Accept-Ranges {finding['accept_ranges'] or '-'}, "
            f"ETag {'yes' if finding['etag'] else 'no'}, Last-Modified {'yes' if finding['last_modified'] else 'no'}"
        )
        if finding["security_token"]:
            found += "; signed with temporary credentials (X-Amz-Security-Token)"
        steps = [
            "stores the gzip bytes as served (sha256 of those) and decodes them while parsing"
            if finding["content_encoding"] == "gzip"
            else "stores the bytes as served",
            "resumes a cut download with Range/If-Range" if finding["range_honoured"] else "restarts a cut download",
        ]
        if finding["last_modified"]:
            steps.append("first_available_at = Last-Modified")
        outcome = Outcome(name, "OK", found, "; ".join(steps), key=DOWNLOAD_HEADERS, finding=finding)
        if finding["content_encoding"] or finding["security_token"]:
            outcome.result = "NOTE"
        if finding["security_token"] or finding["expired"]:
            outcome.pipeline += "; a 400 ExpiredToken or 403 'Request has expired' gets a fresh URL from transcripturls"
        if finding["status"] >= 400 and not finding["expired"]:
            outcome.result = "WARN"
            outcome.fix = "the pre-signed URL was refused: check the clock and outbound access to that host"
        elif finding["expired"]:
            outcome.found = f"{finding['expired']} on a fresh URL ({finding['host']}); " + found
        return outcome

    # ------------------------------------------------------------------------------ transcription
    def transcription_settings(self) -> list[Outcome]:
        name = "transcription settings"
        try:
            body = self.client.get_transcription_settings() or {}
        except GenesysError as error:
            outcome = Outcome(
                name,
                "WARN",
                f"unreadable: {safe_error(error)}",
                pipeline="assumes a transcript may come for every call (waits up to the deadline before audio)",
                fix="grant the role the permission Genesys names above to read routing transcription settings",
            )
            if not isinstance(error, TRANSIENT):  # the pipeline's own record of an unreadable setting
                outcome.key = org.TRANSCRIPTION_SETTINGS
                outcome.finding = {"error": safe_error(error)[:300]}
            return [outcome]
        value = {name_: body.get(name_) for name_ in TRANSCRIPTION_FIELDS}
        self.mode = value["transcription"]
        return [self._settings_outcome(name, value)]

    @staticmethod
    def _settings_outcome(name: str, value: dict) -> Outcome:
        def flag(key: str) -> str:
            return {True: "on", False: "off"}.get(value.get(key), "unknown")

        found = (
            f"transcription {value['transcription'] or 'unknown'}, content search {flag('contentSearchEnabled')}, "
            f"PII redaction {flag('piiRedactionEnabled')}, PCI redaction {flag('pciDssRedactionEnabled')}"
        )
        mode = value["transcription"]
        outcome = Outcome(name, "OK", found, key=org.TRANSCRIPTION_SETTINGS, finding=value)
        if mode == org.DISABLED_MODE:
            outcome.result = "WARN"
            outcome.pipeline = "every call goes to the audio fallback at once: no transcript can come"
            outcome.fix = "enable transcription in Genesys (Speech and Text Analytics) if transcripts are wanted"
        elif mode == org.QUEUE_FLOW_MODE:
            outcome.pipeline = "calls of queues with enableTranscription false go to the audio fallback at once"
        else:
            outcome.pipeline = "waits for a transcript for every call, up to the deadline"
        if org.content_search_off(value):
            outcome.result = "NOTE" if outcome.result == "OK" else outcome.result
            outcome.pipeline += "; content search off: never searches, probes each conversation directly"
            outcome.fix = (
                outcome.fix or "turn content search on in Genesys to cut API calls (about 2.5 -> 1.3 per transcript)"
            )
        return outcome

    def queue_transcription(self) -> list[Outcome]:
        name = "queue transcription"
        calls = self._recent_calls()
        queue_ids = list(dict.fromkeys(_queue_ids(calls)))[:MAX_QUEUES]
        if not queue_ids:
            return [self._no_calls(name) if not calls else Outcome(name, "SKIP", "no queue on the recent calls")]
        try:
            entities = self.client.get_queues(queue_ids)
        except PermissionDeniedError as error:
            return [
                Outcome(
                    name,
                    "WARN",
                    f"queues unreadable: {safe_error(error)}",
                    pipeline="cannot tell a queue without transcription: its calls wait the full deadline for audio",
                    fix="add routing:queue:view to the OAuth client's role",
                )
            ]
        flags = store_queues(queue_ids, entities)
        return [self._queue_outcome(name, queue_ids, flags)]

    def _queue_outcome(self, name: str, queue_ids: list[str], flags: dict[str, bool]) -> Outcome:
        names = dict(Queue.objects.filter(genesys_id__in=queue_ids).values_list("genesys_id", "name"))
        off = [names.get(queue_id) or queue_id for queue_id, enabled in flags.items() if enabled is False]
        finding = {"queues": len(queue_ids), "reported": len(flags), "without_transcription": off}
        if not flags:
            found = f"{len(queue_ids)} queue(s) on recent calls; Genesys reports no enableTranscription for them"
            return Outcome(name, "OK", found, "waits for a transcript on every queue's calls", finding=finding)
        found = f"{len(queue_ids)} queue(s) on recent calls: {len(flags) - len(off)} transcribe, {len(off)} do not"
        if off:
            found += f" ({', '.join(off)})"
        if not off:
            return Outcome(name, "OK", found, "waits for a transcript on every queue's calls", finding=finding)
        if self.mode == org.QUEUE_FLOW_MODE:
            pipeline = "; ".join(f"queue {queue} has no transcription: its calls go to audio at once" for queue in off)
            return Outcome(name, "NOTE", found, pipeline, finding=finding)
        pipeline = (
            f"the org's transcription mode is {self.mode or 'unknown'}, not EnabledQueueFlow: the flag is not used"
        )
        return Outcome(name, "NOTE", found, pipeline, finding=finding)

    # ------------------------------------------------------------------------------ divisions
    def divisions_readable(self) -> list[Outcome]:
        name = "divisions readable"
        calls = self._recent_calls()
        by_division: dict[str, list[dict]] = {}
        for call in calls:
            for division_id in division_ids_of(call):
                by_division.setdefault(division_id, []).append(call)
        if not by_division:
            return [self._no_calls(name) if not calls else Outcome(name, "SKIP", "recent calls name no division")]
        checked = list(by_division.items())[:MAX_DIVISIONS]
        names = _division_names(division_id for division_id, _ in checked)
        entries = [self._division_entry(division_id, calls_in, names) for division_id, calls_in in checked]
        return [self._divisions_outcome(name, entries, total=len(by_division))]

    def _division_entry(self, division_id: str, calls: list[dict], names: dict[str, str]) -> dict:
        entry = {"id": division_id, "name": names.get(division_id, ""), "calls_seen": len(calls), "readable": True}
        error = self.denied.get(division_id)
        if error is None:
            # A call wholly in this division tells about it alone; a call touching several is readable if any is.
            call = next((c for c in calls if division_ids_of(c) == [division_id]), calls[0])
            try:
                self.client.list_recording_metadata(call.get("conversationId"))
            except PermissionDeniedError as denied:
                error = denied
            except NotFoundError:
                pass  # authorised: Genesys says "not found" only after the permission check
            except GenesysError as other:
                entry.update(readable=None, error=safe_error(other)[:200])
        if error is not None:
            entry.update(readable=False, permissions=list(error.missing_permissions), code=error.code or "")
        return entry

    @staticmethod
    def _divisions_outcome(name: str, entries: list[dict], *, total: int) -> Outcome:
        denied = [entry for entry in entries if entry["readable"] is False]
        readable = [entry["name"] or entry["id"] for entry in entries if entry["readable"]]
        found = f"{total} division(s) on recent calls, {len(entries)} checked: {len(readable)} readable"
        found += f" ({', '.join(readable)})" if readable else ""
        finding = {"divisions": entries, "checked": len(entries), "denied": len(denied)}
        if not denied:
            return Outcome(name, "OK", found, "reads every call it met", key=DIVISIONS_READABLE, finding=finding)
        details = [f"{entry['name'] or entry['id']}: {_denied_what(entry)}" for entry in denied]
        denied_names = ", ".join(entry["name"] or entry["id"] for entry in denied)
        return Outcome(
            name,
            "WARN",
            f"{found}, {len(denied)} denied ({'; '.join(details)})",
            pipeline=f"calls wholly in {denied_names} become restricted, naming the permission and division; "
            "the others go on",
            fix=f"grant the OAuth client's role in {denied_names} (roles are per division), then Retry those "
            "conversations on the operations page",
            key=DIVISIONS_READABLE,
            finding=finding,
        )

    # ------------------------------------------------------------------------------ rate limits
    def allowances(self) -> list[Outcome]:
        name = "rate-limit allowances"
        seen = dict(sorted(self.spy.allowances.items()))
        limiter = self.client.rate_limiter
        configured = limiter.per_minute
        if not seen:
            found = "no inin-ratelimit-allowed header seen"
            pipeline = f"paces every endpoint at GENESYS_RATE_LIMIT_PER_MINUTE ({configured}/min, less headroom)"
            return [Outcome(name, "NOTE", found, pipeline)]
        client_wide = limiter.allowed_per_minute
        own = {family: allowed for family, allowed in seen.items() if allowed < client_wide}
        found = _allowances_text(seen)
        pipeline = f"every endpoint shares {client_wide}/min (less {1 - limiter.headroom:.0%} headroom)"
        if own:
            listed = ", ".join(f"{family} ({allowed}/min)" for family, allowed in own.items())
            pipeline = (
                f"paces {listed} in their own buckets; the rest share {client_wide}/min; a 429 pauses only its family"
            )
        finding = {"by_endpoint": seen, "configured_per_minute": configured, "client_wide": client_wide}
        outcome = Outcome(name, "NOTE" if own else "OK", found, pipeline, key=ALLOWANCES, finding=finding)
        if max(seen.values()) < configured:
            outcome.fix = (
                f"GENESYS_RATE_LIMIT_PER_MINUTE ({configured}) is above every allowance seen: the limiter lowers "
                f"itself to {client_wide}; set it so"
            )
        return [outcome]


def _denied_what(entry: dict) -> str:
    permissions = ", ".join(entry.get("permissions") or [])
    return permissions or f"no permission named (403 {entry.get('code') or 'without a code'})"


def _allowances_text(seen: dict[str, int]) -> str:
    """The endpoints that differ by name, the common allowance as a count: a long list says nothing."""
    common, _ = Counter(seen.values()).most_common(1)[0]
    differing = [f"{family} {allowed}/min" for family, allowed in seen.items() if allowed != common]
    sharing = len(seen) - len(differing)
    rest = f"{sharing} {'other ' if differing else ''}endpoint(s) {common}/min"
    return ", ".join([*differing, rest])


def _queue_ids(calls: list[dict]) -> Iterable[str]:
    for call in calls:
        for participant in call.get("participants") or []:
            for session in participant.get("sessions") or []:
                for segment in session.get("segments") or []:
                    if isinstance(segment.get("queueId"), str) and segment["queueId"]:
                        yield segment["queueId"]


def store_queues(queue_ids: list[str], entities: list[dict]) -> dict[str, bool]:
    """Queue rows for these ids (created if missing), their empty names, divisions and enableTranscription
    filled from the listing (never overwriting a name); returns {queue id: enableTranscription} as reported."""
    for queue_id in queue_ids:
        try:
            with transaction.atomic():
                Queue.objects.get_or_create(genesys_id=queue_id)
        except IntegrityError:  # created concurrently by a worker's discovery
            pass
    store_names(Queue, entities, wanted=set(queue_ids))
    return {
        entity["id"]: entity["enableTranscription"]
        for entity in entities
        if entity.get("id") in queue_ids and isinstance(entity.get("enableTranscription"), bool)
    }


def store_findings(outcomes: list[Outcome], *, now: datetime) -> None:
    """Write what the probes learnt where the pipeline reads it; a finding the org disproved is deleted."""
    for outcome in outcomes:
        if outcome.key is None:
            continue
        if outcome.forget:
            deleted, _ = GenesysFinding.objects.filter(key=outcome.key).delete()
            outcome.stored = "deleted" if deleted else "absent"
        elif outcome.finding is not None:
            org.remember(outcome.key, outcome.finding, now=now, source=SOURCE)
            outcome.stored = "stored"
