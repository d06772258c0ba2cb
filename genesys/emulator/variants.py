"""Named emulator variants: each plays the other side of one row of genesys-api.md §12.

A variant is a dataset shape (what the org's calls look like; ground truth lives in the dataset) plus an org
behaviour (how the API answers):

    variant = get_variant("multi_segment")
    dataset = generate_dataset(seed, conversations, start, end, shape=variant.shape)
    emulator = Emulator(dataset, ..., behaviour=variant.behaviour)

Ground truth a test compares the database with (data.py, server.py):
    sim.parts -> list[SimPart]       every transcript document of the call, in time order (empty when none);
                                     per part: communication_id, recording_id, key, phrase_indexes,
                                     phrase_count (= expected stored utterances), leaks, media_type,
                                     start_offset_ms, kind
    sim.recordings / .recording_ids / .audio_recording_ids / .division_ids / .media_type / .agent_user_ids
    emulator.is_restricted(sim), emulator.ready_at(sim, part), emulator.document_bytes(sim, part),
    emulator.served_bytes(sim, part), emulator.recording_file_state(sim, recording_id)
    dataset.untranscribed_queue_id

Variants, what they do, and what a correct client must end with (a call "stored" means every part of it is
stored with `phrase_count` utterances each; readiness is `emulator.ready_at`):
- clean: the plain emulator. Every ready transcript stored; never-ready calls fall back to audio.
- search_requires_language: search without an EXACT `language` criterion answers 400 REQUIRED_SEARCH_FIELD.
  Same end state as clean (send the language, or fall back to transcripturls probes).
- search_ignores_conversation_filter: the search ignores the `conversationId` criterion and returns every
  match. Same end state as clean; no transcript attached to the wrong conversation.
- search_unavailable / search_malformed / search_empty: every search answers 503 without Retry-After / a 200
  whose `results` is an object ({"transcripts": [...]}) instead of a list / total 0 (content search off,
  settings say contentSearchEnabled false). Same end state as clean via direct transcripturls probes.
- multi_segment: ~30% of transcribed calls have 2-3 recording segments on the customer leg, one transcripturls
  entry (distinct S3 object) each. Every part stored; utterances per call = sum of its parts' phrase_count.
- consult_transfer: ~25% of calls have a second agent (another division) on its own recorded leg with its own
  transcript and delay; search lists both communications. Both parts stored; both divisions known.
- division_restricted / division_restricted_bare: the role has no recording/STA rights in the last division;
  calls wholly in it answer 403 (missing.division.permissions naming the division / bare not.authorized) on
  transcripts and recordings and are left out of the search. Those calls: no transcript, no audio, marked
  restricted (naming the division when the 403 does); every other call as in clean; the run does not stop.
- callbacks: ~25% of calls are voice callbacks: a "callback" session plus the recorded voice session; the
  transcript and its search hit say mediaType "callback" (a mediaType=[call] search misses them). All stored.
- outbound_agent_first: outbound calls list the agent first (their leg starts the call), the external party
  joins later; agent participants have analytics purpose "user". Speakers still attributed by
  participantPurpose (internal = agent side); everything stored as in clean.
- recording_states: never-transcribed calls (the plain 8% plus another 10% of the calls) have audio ARCHIVED /
  DELETED / ERROR / UPLOADING (~25% each), ~20% of calls carry a screen recording listed first; archived ones restore
  via PUT (RESTORING, then RESTORED after restore_seconds). Only audio is call audio: uploading ones end with
  audio once AVAILABLE, archived ones after a restore, deleted/error ones with a final no-audio outcome.
- archived_no_restore: every never-transcribed call's audio is ARCHIVED and the restore PUT answers 403
  missing.permissions (recording:recording:editRetention). Those calls end archived without audio; no endless poll.
- gzip_transcripts: transcript objects are served gzip-compressed (Content-Encoding gzip; ETag, Length and
  Range refer to the gzip bytes). Stored documents equal `document_bytes` (decoded); resumes use gzip offsets.
- expired_token_urls: the first URL of each transcript object answers 400 ExpiredToken. Refresh the URL;
  everything stored as in clean.
- login_rate_limited: the first 2 token requests answer 429 Retry-After 2. Wait and retry; not bad credentials.
- endpoint_allowances: search allows 20 and transcripturls 120 requests per 60 s window, reported in their own
  inin-ratelimit-* headers; other endpoints keep the client-wide 300. Same end state as clean, with no 429
  storm and no client-wide slowdown to the smallest allowance.
- batch_job_expiry: the first batch job 404s from its first poll; every job 404s 600 s after submission.
  Resubmit once, then an outcome; audio fallbacks still complete.
- analytics_day_touched: the details query returns calls active in the interval that started on a day the
  interval touches. Discovery still finds every call (calls crossing a window edge included).
- analytics_7_day_limit: intervals over 7 days answer 400. Discovery chunks and still finds every call.
- untranscribed_queue: one queue has enableTranscription false and its calls never get a transcript
  (settings say EnabledQueueFlow). Those calls go to audio fallback without waiting for a transcript.
- midnight_calls: 3 transcribed calls start before a UTC midnight inside the window and end 2-4 h after it
  (the window must contain a midnight after its start). All stored, none lost between daily windows.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .behaviour import OrgBehaviour
from .shape import DatasetShape


@dataclass(frozen=True)
class Variant:
    name: str
    description: str  # which §12 row it plays, one sentence
    shape: DatasetShape = field(default_factory=DatasetShape)
    behaviour: OrgBehaviour = field(default_factory=OrgBehaviour)
    outcome: str = ""  # what a correct client must end with

    @property
    def needs_midnight(self) -> bool:
        """The dataset window must contain a UTC midnight after its start (generate_dataset raises otherwise)."""
        return self.shape.midnight_crossers > 0


VARIANTS: dict[str, Variant] = {}


def _register(variant: Variant) -> None:
    VARIANTS[variant.name] = variant


def get_variant(name: str) -> Variant:
    try:
        return VARIANTS[name]
    except KeyError:
        raise ValueError(f"unknown emulator variant {name!r}; choose from {', '.join(VARIANTS)}") from None


_register(
    Variant(
        "clean",
        "No §12 row: the plain emulator, where every assumption of the client holds.",
        outcome="Every ready transcript stored; never-ready calls fall back to audio.",
    )
)
_register(
    Variant(
        "search_requires_language",
        "§12 'Transcript search language': the org answers 400 REQUIRED_SEARCH_FIELD without a language criterion.",
        behaviour=OrgBehaviour(search_requires_language=True),
        outcome="Same as clean: search with the language or fall back to transcripturls probes.",
    )
)
_register(
    Variant(
        "search_ignores_conversation_filter",
        "§12 'Search sort and fields': conversationId is not a searchable field, so the filter is ignored.",
        behaviour=OrgBehaviour(search_ignores_conversation_filter=True),
        outcome="Same as clean; unrelated hits are never attached to the wrong conversation.",
    )
)
_register(
    Variant(
        "search_unavailable",
        "§12 'Transcript search language' (any search failure): every search answers 503 with no Retry-After.",
        behaviour=OrgBehaviour(search_failure="unavailable"),
        outcome="Same as clean via direct transcripturls probes.",
    )
)
_register(
    Variant(
        "search_malformed",
        "§12 'Search sort and fields': results are an object ({'transcripts': [...]}) instead of a list of hits.",
        behaviour=OrgBehaviour(search_failure="malformed"),
        outcome="Same as clean via direct transcripturls probes; the odd body does not crash discovery.",
    )
)
_register(
    Variant(
        "search_empty",
        "§12 'Search sort and fields' (never rely on a search hit): content search is off, total is always 0.",
        behaviour=OrgBehaviour(search_failure="empty"),
        outcome="Same as clean via direct transcripturls probes.",
    )
)
_register(
    Variant(
        "multi_segment",
        "§12 'transcripturls returns several URLs': holds and pauses split the customer leg into 2-3 segments.",
        shape=DatasetShape(multi_segment_share=0.3),
        outcome="Every part stored: a call's utterances are the sum of its parts' phrase_count.",
    )
)
_register(
    Variant(
        "consult_transfer",
        "§12 'transcripturls returns several URLs': consult legs add a second transcribed communication.",
        shape=DatasetShape(consult_share=0.25),
        outcome="Both communications' parts stored; the call touches both divisions.",
    )
)
_register(
    Variant(
        "division_restricted",
        "§12 'Permissions are per division': 403 missing.division.permissions on calls in the last division.",
        behaviour=OrgBehaviour(denied_divisions=1, division_denial_code="missing.division.permissions"),
        outcome="Restricted calls: no transcript, no audio, marked restricted naming the division; others as clean.",
    )
)
_register(
    Variant(
        "division_restricted_bare",
        "§12 'Permissions are per division': the division denial is a bare 403 not.authorized naming nothing.",
        behaviour=OrgBehaviour(denied_divisions=1, division_denial_code="not.authorized"),
        outcome="Restricted calls: no transcript, no audio, marked restricted; others as clean; the run goes on.",
    )
)
_register(
    Variant(
        "callbacks",
        "§12 'Callbacks': voice callbacks carry STA mediaType 'callback', not 'call'.",
        shape=DatasetShape(callback_share=0.25),
        outcome="Callback transcripts stored like calls (a mediaType=[call] search alone misses them).",
    )
)
_register(
    Variant(
        "outbound_agent_first",
        "§12 'Outbound calls': the agent dials first and the external party joins later; purpose is 'user'.",
        shape=DatasetShape(outbound_agent_first=True, agent_purpose="user"),
        outcome="Same as clean; speakers attributed by participantPurpose, not join order.",
    )
)
_register(
    Variant(
        "recording_states",
        "§12 'Recordings': archived/deleted/error/uploading audio, screen recordings, and restores via PUT.",
        shape=DatasetShape(
            archived_share=0.25,
            deleted_share=0.25,
            error_share=0.25,
            uploading_share=0.25,
            extra_never_transcribed_share=0.1,
            screen_recording_share=0.2,
        ),
        behaviour=OrgBehaviour(restore=True),
        outcome="Audio-only fallbacks: uploading ones once AVAILABLE, archived ones after restore, "
        "deleted/error ones a final no-audio outcome; screen media never stored as call audio.",
    )
)
_register(
    Variant(
        "archived_no_restore",
        "§12 'Recordings': archived audio whose restore is forbidden (no recording:recording:editRetention).",
        shape=DatasetShape(archived_share=1.0),
        behaviour=OrgBehaviour(restore=True, deny_restore=True),
        outcome="Never-transcribed calls end archived without audio; no endless polling.",
    )
)
_register(
    Variant(
        "gzip_transcripts",
        "§12 'Pre-signed S3 URLs': transcript objects are stored and served with Content-Encoding gzip.",
        behaviour=OrgBehaviour(gzip_transcripts=True),
        outcome="Stored documents equal document_bytes (decoded); resumes use the gzip byte offsets.",
    )
)
_register(
    Variant(
        "expired_token_urls",
        "§12 'Pre-signed S3 URLs': the first URL of each transcript answers 400 ExpiredToken.",
        behaviour=OrgBehaviour(expired_token_first_url=True),
        outcome="Same as clean after refreshing the URL.",
    )
)
_register(
    Variant(
        "login_rate_limited",
        "§12 'Login 429': the first two token requests answer 429 with Retry-After 2.",
        behaviour=OrgBehaviour(login_429_first=2),
        outcome="Same as clean after waiting Retry-After; never reported as bad credentials.",
    )
)
_register(
    Variant(
        "endpoint_allowances",
        "§12 'Rate-limit headers': search and transcripturls have their own, smaller per-minute allowances.",
        behaviour=OrgBehaviour(endpoint_allowances={"sta.transcripts.search": 20, "sta.transcripturls": 120}),
        outcome="Same as clean, pacing each endpoint family by its own headers.",
    )
)
_register(
    Variant(
        "batch_job_expiry",
        "§12 'Batch jobs': the first job is lost (404) and every job expires 600 s after submission.",
        behaviour=OrgBehaviour(batch_first_job_lost=True, batch_job_ttl_s=600),
        outcome="A 404 job is resubmitted once, then given an outcome; audio fallbacks still complete.",
    )
)
_register(
    Variant(
        "analytics_day_touched",
        "§12 'Analytics interval': the details query returns calls active in the interval that started on a "
        "day it touches.",
        behaviour=OrgBehaviour(analytics_interval_semantics="active_day_touched"),
        outcome="Discovery still finds every call, including calls crossing a window edge.",
    )
)
_register(
    Variant(
        "analytics_7_day_limit",
        "§12 'Analytics interval': the org enforces a 7-day maximum interval (400 beyond it).",
        behaviour=OrgBehaviour(analytics_max_interval_days=7),
        outcome="Discovery chunks its windows and still finds every call.",
    )
)
_register(
    Variant(
        "untranscribed_queue",
        "§12 'Transcription settings': one queue has enableTranscription false; its calls never get a transcript.",
        shape=DatasetShape(untranscribed_queue=True),
        outcome="That queue's calls go to audio fallback without waiting for a transcript; the others as clean.",
    )
)
_register(
    Variant(
        "midnight_calls",
        "§12 'Analytics interval': long calls start before a UTC midnight and end 2-4 hours after it.",
        shape=DatasetShape(midnight_crossers=3),
        outcome="Every midnight call stored exactly once; none falls between daily windows.",
    )
)
