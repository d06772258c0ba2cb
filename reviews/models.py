"""Transcript Vault data model.

Genesys identifiers are the natural keys (unique constraints), so every pipeline
step can be re-run: a second run finds the row and changes nothing.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from django.conf import settings
from django.db import models
from django.utils import timezone


class Division(models.Model):
    genesys_id = models.CharField(max_length=64, unique=True)
    name = models.CharField(max_length=200, blank=True)

    def __str__(self) -> str:
        return self.name or self.genesys_id


class Queue(models.Model):
    genesys_id = models.CharField(max_length=64, unique=True)
    name = models.CharField(max_length=200, blank=True)
    division = models.ForeignKey(Division, null=True, blank=True, on_delete=models.SET_NULL, related_name="queues")
    # The queue's enableTranscription from the routing/queues listing; None until Genesys has said.
    transcription_enabled = models.BooleanField(null=True, blank=True)

    def __str__(self) -> str:
        return self.name or self.genesys_id


class Agent(models.Model):
    genesys_id = models.CharField(max_length=64, unique=True)
    name = models.CharField(max_length=200, blank=True)

    def __str__(self) -> str:
        return self.name or self.genesys_id


class AccessScope(models.Model):
    """What a Reviewer (queues) or Supervisor (divisions) may see; see reviews/access.py."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="access_scope")
    queues = models.ManyToManyField(Queue, blank=True, related_name="reviewer_scopes")
    divisions = models.ManyToManyField(Division, blank=True, related_name="supervisor_scopes")

    def __str__(self) -> str:
        return f"scope of {self.user}"


class Conversation(models.Model):
    class State(models.TextChoices):
        DISCOVERED = "discovered", "Discovered"
        AWAITING_TRANSCRIPT = "awaiting_transcript", "Awaiting transcript"
        DOWNLOADING = "downloading", "Downloading"
        STORED = "stored", "Stored"
        AWAITING_AUDIO = "awaiting_audio", "Awaiting audio"
        AUDIO_FALLBACK = "audio_fallback", "Audio fallback"
        RESTRICTED = "restricted", "Restricted"
        ARCHIVED = "archived", "Recording archived"
        AUDIO_UNAVAILABLE = "audio_unavailable", "No transcript, no audio"
        FAILED = "failed", "Failed"

    # The allowed moves live in reviews/pipeline/transitions.py, the one place that changes `state`.
    ACTIVE_STATES = (State.DISCOVERED, State.AWAITING_TRANSCRIPT, State.DOWNLOADING, State.AWAITING_AUDIO)
    FINAL_STATES = (
        State.STORED,
        State.AUDIO_FALLBACK,
        State.RESTRICTED,
        State.ARCHIVED,
        State.AUDIO_UNAVAILABLE,
        State.FAILED,
    )
    # Final states an operator's retry (or reconcile) may start over: a role, recording or bug may have changed.
    REQUEUE_STATES = (State.FAILED, State.RESTRICTED, State.ARCHIVED, State.AUDIO_UNAVAILABLE)

    class AudioRoute(models.TextChoices):
        UNDECIDED = "", "Not decided"
        BATCH = "batch", "Batch download"
        RECORDINGS = "recordings", "Recordings API"

    class ReviewStatus(models.TextChoices):
        NEW = "new", "New"
        IN_REVIEW = "in_review", "In review"
        REVIEWED = "reviewed", "Reviewed"
        ESCALATED = "escalated", "Escalated"

    genesys_id = models.CharField(max_length=64, unique=True)  # Genesys conversationId
    state = models.CharField(max_length=32, choices=State.choices, default=State.DISCOVERED, db_index=True)

    started_at = models.DateTimeField(db_index=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    direction = models.CharField(max_length=16, blank=True)
    queue = models.ForeignKey(Queue, null=True, blank=True, on_delete=models.SET_NULL, related_name="conversations")
    agent = models.ForeignKey(Agent, null=True, blank=True, on_delete=models.SET_NULL, related_name="conversations")
    division = models.ForeignKey(
        Division, null=True, blank=True, on_delete=models.SET_NULL, related_name="conversations"
    )
    # Every division the conversation touched (analytics divisionIds); `division` is the first of them.
    divisions = models.ManyToManyField(Division, blank=True, related_name="touched_conversations")
    # Recorded voice/callback session ids, external party first: the candidate STA communication ids.
    communication_ids = models.JSONField(default=list, blank=True)
    # Small participant summary from analytics: [{"purpose", "userId", "name", "sessionIds": [...]}].
    participants = models.JSONField(default=list, blank=True)

    # Pipeline bookkeeping
    discovered_at = models.DateTimeField(default=timezone.now)
    transcript_available_at = models.DateTimeField(null=True, blank=True)
    deadline_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True, db_index=True)
    last_error = models.TextField(blank=True)
    # Consecutive transient errors: PIPELINE_MAX_ATTEMPTS of them in a row make the conversation `failed`.
    error_count = models.PositiveIntegerField(default=0)
    state_changed_at = models.DateTimeField(null=True, blank=True)
    # Direct transcripturls probes made (the search is an accelerator; these never depend on it) and the last one.
    direct_probes = models.PositiveIntegerField(default=0)
    direct_probed_at = models.DateTimeField(null=True, blank=True)
    # Why a conversation ended where it did, when that is not simply "stored": the permission or division
    # Genesys denied, the recording's file state, ... Safe to show: never transcript text or PII.
    outcome = models.CharField(max_length=300, blank=True)
    audio_route = models.CharField(max_length=16, choices=AudioRoute.choices, default=AudioRoute.UNDECIDED, blank=True)
    audio_batch = models.ForeignKey(
        "BatchJob", null=True, blank=True, on_delete=models.SET_NULL, related_name="conversations"
    )
    lease_token = models.CharField(max_length=64, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    needs_manual_review = models.BooleanField(default=False)
    manual_review_reason = models.CharField(max_length=200, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    # Review workflow
    review_status = models.CharField(max_length=16, choices=ReviewStatus.choices, default=ReviewStatus.NEW)
    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="reviewed_conversations",
    )
    reviewed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-started_at"]
        indexes = [models.Index(fields=["state", "next_attempt_at"], name="conv_due_idx")]

    def __str__(self) -> str:
        return self.genesys_id

    @property
    def is_final(self) -> bool:
        return self.state in self.FINAL_STATES

    @property
    def has_extra_legs(self) -> bool:
        """More recorded legs than the external party's and one agent's: a consult, transfer or callback leg
        may carry a transcript of its own, so the first stored part does not end the wait for the others."""
        return len(self.communication_ids or []) > 2

    @property
    def duration_ms(self) -> int | None:
        if self.ended_at is None:
            return None
        return int((self.ended_at - self.started_at).total_seconds() * 1000)


class Transcript(models.Model):
    """One Genesys transcript document: one recording segment of one communication of a conversation.

    `transcripturls` returns one URL per recording segment (holds, pauses) and several communications of a
    call can have transcripts (consult legs, callbacks): each document is one part, in time order.
    """

    class RedactionStatus(models.TextChoices):
        VERIFIED = "verified", "Verified (markers, no leaks)"
        LEAKS_FOUND = "leaks_found", "Leaks found"
        NO_MARKERS = "no_markers", "No markers (redaction probably off)"

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="transcripts")
    communication_id = models.CharField(max_length=64)
    transcript_id = models.CharField(max_length=64, blank=True, db_index=True)
    language = models.CharField(max_length=16, blank=True)
    engine_id = models.CharField(max_length=64, blank=True)
    program_id = models.CharField(max_length=64, blank=True)
    media_type = models.CharField(max_length=16, blank=True)
    recording_id = models.CharField(max_length=64, blank=True)  # transcripturls' urls[].recording.id
    # Offset of the document's first phrase from the conversation start: parts are shown in this order.
    part_start_ms = models.BigIntegerField(null=True, blank=True)

    # Raw document: immutable, content-addressed under DATA_DIR (see reviews/blobs.py).
    sha256 = models.CharField(max_length=64)
    size_bytes = models.BigIntegerField()
    etag = models.CharField(max_length=200, blank=True)
    # How Genesys served the document (e.g. "gzip"); the stored bytes and sha256 are exactly what it served.
    content_encoding = models.CharField(max_length=16, blank=True)
    raw_path = models.CharField(max_length=300)

    first_available_at = models.DateTimeField(null=True, blank=True)
    stored_at = models.DateTimeField(default=timezone.now)
    download_seconds = models.FloatField(null=True, blank=True)

    # Redaction validation
    redaction_status = models.CharField(max_length=16, choices=RedactionStatus.choices, db_index=True)
    mask_counts = models.JSONField(default=dict, blank=True)
    leak_count = models.PositiveIntegerField(default=0)

    # Metrics (computed once at store time; aggregated in SQL for the charts)
    utterance_count = models.PositiveIntegerField(default=0)
    word_count = models.PositiveIntegerField(default=0)
    speaker_count = models.PositiveSmallIntegerField(default=0)
    confidence_mean = models.FloatField(null=True, blank=True)
    confidence_median = models.FloatField(null=True, blank=True)
    low_confidence_share = models.FloatField(null=True, blank=True)
    phrase_stability_mean = models.FloatField(null=True, blank=True)
    talk_ms_internal = models.BigIntegerField(default=0)
    talk_ms_external = models.BigIntegerField(default=0)
    availability_latency_ms = models.BigIntegerField(null=True, blank=True)  # conversation end -> first available
    store_latency_ms = models.BigIntegerField(null=True, blank=True)  # first available -> stored

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["conversation", "communication_id", "recording_id"], name="transcript_per_segment"
            )
        ]
        # Time order; a part whose first phrase time is unknown goes last on every database (SQLite sorts NULL first).
        ordering = [models.F("part_start_ms").asc(nulls_last=True), "communication_id", "recording_id", "id"]

    def __str__(self) -> str:
        return f"{self.conversation.genesys_id}/{self.communication_id}/{self.recording_id or '-'}"

    @property
    def version_key(self) -> str:
        """Stable idempotency key of this transcript version (same document of the same segment, same key)."""
        part = f"{self.communication_id}|{self.recording_id}" if self.recording_id else self.communication_id
        digest = hashlib.sha256(f"{self.conversation.genesys_id}|{part}|{self.sha256}".encode()).hexdigest()
        return f"tv_{digest[:40]}"


class Utterance(models.Model):
    """One transcript phrase; the unit of full-text search (see reviews/search/)."""

    transcript = models.ForeignKey(Transcript, on_delete=models.CASCADE, related_name="utterances")
    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="utterances")
    index = models.PositiveIntegerField()  # position in the document, phrases of all transcripts[] in order
    phrase_index = models.IntegerField(null=True, blank=True)  # Genesys phraseIndex
    speaker = models.CharField(max_length=16)  # "internal" (agent/IVR side) or "external" (customer)
    participant_purpose = models.CharField(max_length=32, blank=True)  # agent, customer, ivr, acd, ...
    start_ms = models.BigIntegerField()  # offset from conversation start
    end_ms = models.BigIntegerField()
    text = models.TextField()
    confidence = models.FloatField(null=True, blank=True)  # mean word confidence
    # [[word, confidence, start_ms, duration_ms], ...] with start_ms relative to conversation start
    words = models.JSONField(default=list, blank=True)
    sentiment = models.FloatField(null=True, blank=True)
    topics = models.JSONField(default=list, blank=True)
    # Only for a phrase the vault masked (a leak Genesys missed): its original text and words, sealed with the
    # vault key (reviews/encryption.py). `text` and `words` hold the masked version; compliance can reveal this.
    sealed_original = models.TextField(blank=True)

    class Meta:
        ordering = ["transcript_id", "index"]
        constraints = [models.UniqueConstraint(fields=["transcript", "index"], name="utterance_position")]
        indexes = [models.Index(fields=["conversation", "start_ms"], name="utt_conv_time_idx")]


class RedactionFinding(models.Model):
    """A PII value the Genesys masking missed. Never stores the value itself."""

    transcript = models.ForeignKey(Transcript, on_delete=models.CASCADE, related_name="findings")
    utterance = models.ForeignKey(Utterance, null=True, blank=True, on_delete=models.SET_NULL, related_name="findings")
    kind = models.CharField(max_length=32, db_index=True)  # card_number, ssn, email, phone, iban
    rule = models.CharField(max_length=64)
    confidence = models.FloatField()
    start_ms = models.BigIntegerField()
    masked_excerpt = models.CharField(max_length=300)

    class Meta:
        ordering = ["transcript_id", "start_ms"]


class AudioRecording(models.Model):
    """Raw audio kept when a transcript is missing or unusable; streamed to supervisors."""

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="recordings")
    recording_id = models.CharField(max_length=64)
    sha256 = models.CharField(max_length=64)
    size_bytes = models.BigIntegerField()
    content_type = models.CharField(max_length=100)
    raw_path = models.CharField(max_length=300)
    source = models.CharField(max_length=16, default="recordings")  # "recordings" or "batch"
    media = models.CharField(max_length=16, default="audio")  # only call audio is kept
    duration_ms = models.BigIntegerField(null=True, blank=True)
    stored_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["conversation", "recording_id"], name="recording_per_conversation")
        ]


class OutboxMessage(models.Model):
    """Transactional outbox: one row per transcript version per compliance sink."""

    class State(models.TextChoices):
        PENDING = "pending", "Pending"
        DELIVERED = "delivered", "Delivered"
        DEAD = "dead", "Dead letter"

    transcript = models.ForeignKey(Transcript, on_delete=models.CASCADE, related_name="outbox")
    sink = models.CharField(max_length=16)  # filesystem, webhook, s3
    idempotency_key = models.CharField(max_length=100)
    payload = models.JSONField()
    state = models.CharField(max_length=16, choices=State.choices, default=State.PENDING, db_index=True)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now, db_index=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    last_status = models.IntegerField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["sink", "idempotency_key"], name="outbox_once_per_sink")]
        ordering = ["created_at"]

    def __str__(self) -> str:
        return f"{self.sink}:{self.idempotency_key}"


class ReviewNote(models.Model):
    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="notes")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL)
    body = models.TextField(blank=True)
    status_from = models.CharField(max_length=16, blank=True)
    status_to = models.CharField(max_length=16, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at"]


class AuditEvent(models.Model):
    class Action(models.TextChoices):
        VIEW_TRANSCRIPT = "view_transcript", "Viewed transcript"
        PLAY_AUDIO = "play_audio", "Played audio"
        SEARCH = "search", "Searched"
        EXPORT = "export", "Exported"
        REVIEW = "review", "Changed review"
        ADMIN_CHANGE = "admin_change", "Admin change"
        API_ACCESS = "api_access", "API access"
        ACCESS_DENIED = "access_denied", "Access denied"
        REPLAY = "replay", "Replayed delivery"
        RETRY = "retry", "Retried pipeline"
        LOGIN = "login", "Signed in"
        LOGIN_FAILED = "login_failed", "Sign-in failed"
        LOCKED_OUT = "locked_out", "Locked out"
        LOGOUT = "logout", "Signed out"
        PASSWORD_CHANGE = "password_change", "Changed password"
        MFA_CHANGE = "mfa_change", "Changed second factor"
        PRIVILEGE_CHANGE = "privilege_change", "Changed privileges"
        TOKEN_ISSUED = "token_issued", "Issued API token"
        TOKEN_REVOKED = "token_revoked", "Revoked API token"
        REVEAL = "reveal", "Revealed masked value"

    at = models.DateTimeField(default=timezone.now, db_index=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    username = models.CharField(max_length=150, blank=True)  # kept if the user is deleted
    action = models.CharField(max_length=32, choices=Action.choices, db_index=True)
    object_type = models.CharField(max_length=64, blank=True)
    object_id = models.CharField(max_length=100, blank=True, db_index=True)
    detail = models.JSONField(default=dict, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    # Repeated identical failures (e.g. junk bearer tokens from one address) are folded into one row.
    count = models.PositiveIntegerField(default=1)
    last_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-at"]


class ApiToken(models.Model):
    """Bearer token for the JSON API; only its sha256 is stored."""

    class Scope(models.TextChoices):
        READ = "read", "Read (search, transcripts)"
        PROCESS = "process", "Read and process (queue a conversation)"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100, blank=True)
    prefix = models.CharField(max_length=12, db_index=True)
    key_hash = models.CharField(max_length=64, unique=True)
    scope = models.CharField(max_length=16, choices=Scope.choices, default=Scope.READ)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_reason = models.CharField(max_length=100, blank=True)

    @staticmethod
    def hash_key(key: str) -> str:
        return hashlib.sha256(key.encode()).hexdigest()

    @classmethod
    def issue(cls, *, user, name: str = "", scope: str = Scope.READ, lifetime=None) -> tuple[ApiToken, str]:
        """A new token and its key (shown once), valid for `lifetime` (default API_TOKEN_LIFETIME_DAYS)."""
        key = "tv_" + secrets.token_urlsafe(32)
        now = timezone.now()
        token = cls.objects.create(
            user=user,
            name=name,
            prefix=key[:10],
            key_hash=cls.hash_key(key),
            scope=scope,
            created_at=now,
            expires_at=now + (lifetime or timedelta(days=settings.API_TOKEN_LIFETIME_DAYS)),
        )
        return token, key

    def expiry(self):
        """When the token stops working; tokens issued before expiry existed count from their creation."""
        return self.expires_at or self.created_at + timedelta(days=settings.API_TOKEN_LIFETIME_DAYS)

    def save(self, *args, **kwargs):
        # A token is the credential of one user; letting it change hands would hand that user's key to another.
        if self.pk is not None and ApiToken.objects.filter(pk=self.pk).exclude(user_id=self.user_id).exists():
            raise ValueError("an API token cannot be moved to another user; revoke it and issue a new one")
        super().save(*args, **kwargs)


class SyncCursor(models.Model):
    """Named watermark, e.g. the last discovery interval end."""

    name = models.CharField(max_length=64, unique=True)
    watermark = models.DateTimeField(null=True, blank=True)
    last_run_at = models.DateTimeField(null=True, blank=True)
    last_result = models.JSONField(default=dict, blank=True)


class BatchJob(models.Model):
    """A Genesys recording batch download job; its member conversations point at it (Conversation.audio_batch).

    Jobs expire and only the submitting client may read them: a 404 is resubmitted once, then the members go
    to the recordings API one by one. Polls are claimed with a conditional UPDATE of next_poll_at.
    """

    class State(models.TextChoices):
        PENDING = "pending", "Pending"
        COMPLETED = "completed", "Completed"
        LOST = "lost", "Lost (404 or expired)"
        ABANDONED = "abandoned", "Abandoned (took too long)"

    job_id = models.CharField(max_length=64, unique=True)
    state = models.CharField(max_length=16, choices=State.choices, default=State.PENDING, db_index=True)
    submitted_at = models.DateTimeField()
    next_poll_at = models.DateTimeField(null=True, blank=True, db_index=True)
    polls = models.PositiveIntegerField(default=0)
    member_ids = models.JSONField(default=list)  # Genesys conversation ids, kept after the members move on
    resubmission_of = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="resubmissions"
    )
    last_error = models.CharField(max_length=300, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"batch {self.job_id} ({self.state})"


class GenesysFinding(models.Model):
    """What the vault has learnt about the org's Genesys behaviour (search needs `language`, transcription
    settings, search health, ...): written by the pipeline and by `genesys_check --deep`, read by the pipeline."""

    key = models.CharField(max_length=100, unique=True)
    value = models.JSONField(default=dict, blank=True)
    source = models.CharField(max_length=32, blank=True)  # "pipeline" or "genesys_check"
    learned_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return self.key


class OAuthToken(models.Model):
    """The Genesys access token shared by every worker process, so a worker running for a day asks for one."""

    key = models.CharField(max_length=64, unique=True)  # hash of login URL, client id and secret
    token = models.TextField(blank=True)
    refresh_at = models.FloatField(default=0)  # epoch seconds
    locked_until = models.FloatField(default=0)  # epoch seconds: one process is fetching a new token


class RateLimitState(models.Model):
    """Database-backed Genesys rate limiter shared by every worker process (token bucket)."""

    key = models.CharField(max_length=100, unique=True)
    tokens = models.FloatField(default=0)
    updated_at = models.FloatField(default=0)  # epoch seconds of the last refill
    paused_until = models.FloatField(default=0)  # epoch seconds; set by a 429 Retry-After
    allowed = models.IntegerField(null=True, blank=True)  # last inin-ratelimit-allowed
    count = models.IntegerField(null=True, blank=True)  # last inin-ratelimit-count
    reset_at = models.FloatField(null=True, blank=True)
    throttled_total = models.BigIntegerField(default=0)  # 429s seen


class ReconciliationRun(models.Model):
    since = models.DateTimeField()
    until = models.DateTimeField()
    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    detected = models.PositiveIntegerField(default=0)
    recovered = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-started_at"]
