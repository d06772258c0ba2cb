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

    class Source(models.TextChoices):
        GENESYS = "genesys", "Genesys"
        # Our own speech-to-text of an audio-only call's recording (reviews/asr): never Genesys' transcript, and
        # replaced by Genesys' when that arrives later.
        VAULT_ASR = "vault-asr", "Vault speech-to-text"

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="transcripts")
    source = models.CharField(max_length=16, choices=Source.choices, default=Source.GENESYS, db_index=True)
    # For Source.VAULT_ASR: the engine and model that produced it (engine_id stays Genesys' engine id otherwise).
    asr_engine = models.CharField(max_length=64, blank=True)
    asr_model = models.CharField(max_length=128, blank=True)
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
        indexes = [
            models.Index(fields=["conversation", "start_ms"], name="utt_conv_time_idx"),
            # The call-level sentiment (search filters and the quality dashboard) reads only phrases that carry one.
            models.Index(
                fields=["conversation", "sentiment"],
                condition=models.Q(sentiment__isnull=False),
                name="utt_conv_sentiment_idx",
            ),
        ]


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


class AudioRecordingQuerySet(models.QuerySet):
    def playable(self, *, now):
        """Rows the player may stream at `now`: kept audio, and cached copies that have not expired yet."""
        return self.filter(models.Q(kept=True) | models.Q(cached_until__gt=now))

    def expired(self, *, now):
        """Cached copies past their cached_until: the audio cache sweep deletes them (reviews/pipeline/audio_cache.py)."""
        return self.filter(kept=False, cached_until__lte=now)


class AudioRecording(models.Model):
    """A call recording in the vault, streamed to reviewers next to the transcript (reviews/views/audio.py).

    Kept rows (`kept`) are the vault's record of the call: the audio of a call without a usable transcript (the
    audio fallback), or every fetched recording with AUDIO_ARCHIVE=all. They are archived to the compliance sinks
    and purged only by retention. Cached rows are playback copies of a transcribed call's recording, fetched from
    Genesys when someone opens the call and deleted at `cached_until` (AUDIO_CACHE_HOURS later); never archived.
    """

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
    kept = models.BooleanField(default=True)
    cached_until = models.DateTimeField(null=True, blank=True, db_index=True)  # set exactly when not kept
    # Where the recording starts in the call (its startTime - the conversation's start): the player maps audio
    # time to transcript time with it. None when Genesys gave no startTime (taken as 0).
    start_offset_ms = models.BigIntegerField(null=True, blank=True)

    objects = AudioRecordingQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["conversation", "recording_id"], name="recording_per_conversation"),
            # A playback copy always expires; kept audio never does (retention alone purges it).
            models.CheckConstraint(
                condition=models.Q(kept=True, cached_until__isnull=True)
                | models.Q(kept=False, cached_until__isnull=False),
                name="cached_audio_expires",
            ),
        ]

    def is_playable(self, *, now) -> bool:
        return self.kept or (self.cached_until is not None and self.cached_until > now)

    def keep(self) -> bool:
        """A cached copy becomes the vault's record (audio fallback, AUDIO_ARCHIVE=all); False if it was not
        cached (already kept, or deleted by the sweep meanwhile: a conditional update, so the two never cross)."""
        changed = AudioRecording.objects.filter(pk=self.pk, kept=False).update(kept=True, cached_until=None)
        if changed:
            self.kept, self.cached_until = True, None
        return bool(changed)

    def cache_until(self, until) -> bool:
        """Cached copy: play it until `until` instead of fetching it again; False if kept or swept meanwhile."""
        changed = AudioRecording.objects.filter(pk=self.pk, kept=False).update(cached_until=until)
        if changed:
            self.cached_until = until
        return bool(changed)

    @property
    def version_key(self) -> str:
        """Stable idempotency key of this archived recording (same recording, same bytes: same key)."""
        digest = hashlib.sha256(
            f"{self.conversation.genesys_id}|audio|{self.recording_id}|{self.sha256}".encode()
        ).hexdigest()
        return f"tv_{digest[:40]}"


class AsrJob(models.Model):
    """Local speech-to-text of one audio-only call's kept recordings (reviews/asr/jobs.py).

    While it runs it holds one of ASR_CONCURRENCY slots (unique, so the cluster never runs more) and the
    conversation's lease; then it records its outcome. A call is pending while it is in audio fallback with
    kept audio and has no row, or a row that crashed (running with an expired lease, or failed) with attempts
    left. `detail` says why (an unreadable header, a crash's kind), never what was said.
    """

    class Outcome(models.TextChoices):
        RUNNING = "running", "Transcribing"
        TRANSCRIBED = "transcribed", "Transcribed by the vault"
        SILENT = "silent", "No speech found"
        UNREADABLE = "unreadable", "Recording unreadable"
        FAILED = "failed", "Speech-to-text failed"

    conversation = models.OneToOneField(Conversation, on_delete=models.CASCADE, related_name="asr_job")
    outcome = models.CharField(max_length=16, choices=Outcome.choices, default=Outcome.RUNNING, db_index=True)
    attempts = models.PositiveIntegerField(default=0)
    slot = models.PositiveSmallIntegerField(null=True, blank=True)
    lease_token = models.CharField(max_length=64, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    engine = models.CharField(max_length=64, blank=True)
    model = models.CharField(max_length=128, blank=True)
    audio_ms = models.BigIntegerField(null=True, blank=True)
    cpu_seconds = models.FloatField(null=True, blank=True)
    word_count = models.PositiveIntegerField(default=0)
    detail = models.CharField(max_length=300, blank=True)
    # When Genesys' own transcript arrived later and replaced the vault's (the job's outcome stays as it was).
    superseded_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["slot"], condition=models.Q(slot__isnull=False), name="asr_slot_held_once")
        ]

    def __str__(self) -> str:
        return f"{self.conversation.genesys_id}: {self.outcome}"


class OutboxMessage(models.Model):
    """Transactional outbox: one row per archived item per compliance sink.

    An item is a transcript version (`transcript`), a kept recording of an audio-only call (`recording`) or a
    version of a conversation's Genesys facts (`version`); `kind` says which, `conversation` is set for all.
    """

    class State(models.TextChoices):
        PENDING = "pending", "Pending"
        DELIVERED = "delivered", "Delivered"
        DEAD = "dead", "Dead letter"

    class Kind(models.TextChoices):
        TRANSCRIPT = "transcript", "Transcript version"
        AUDIO = "audio", "Recording (audio-only call)"
        VERSION = "version", "Conversation facts version"

    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.TRANSCRIPT)
    transcript = models.ForeignKey(Transcript, null=True, blank=True, on_delete=models.CASCADE, related_name="outbox")
    recording = models.ForeignKey(
        "AudioRecording", null=True, blank=True, on_delete=models.CASCADE, related_name="outbox"
    )
    version = models.ForeignKey(
        "ConversationVersion", null=True, blank=True, on_delete=models.CASCADE, related_name="outbox"
    )
    # Null only for rows written before 0008 that had no transcript (there are none); backfilled from transcript.
    conversation = models.ForeignKey(
        Conversation, null=True, blank=True, on_delete=models.CASCADE, related_name="outbox_messages"
    )
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
        constraints = [
            models.UniqueConstraint(fields=["sink", "idempotency_key"], name="outbox_once_per_sink"),
            # Each kind points at exactly the item it archives, so a sink never has to guess what to send.
            models.CheckConstraint(
                condition=(
                    models.Q(kind="transcript", transcript__isnull=False, recording__isnull=True, version__isnull=True)
                    | models.Q(kind="audio", transcript__isnull=True, recording__isnull=False, version__isnull=True)
                    | models.Q(kind="version", transcript__isnull=True, recording__isnull=True, version__isnull=False)
                ),
                name="outbox_item_matches_kind",
            ),
        ]
        ordering = ["created_at"]

    def __str__(self) -> str:
        return f"{self.sink}:{self.idempotency_key}"

    def save(self, *args, **kwargs):
        # The conversation follows from the archived item: scoping and the operations page rely on it being set.
        if self.conversation_id is None:
            item = self.transcript or self.recording or self.version
            if item is not None:
                self.conversation_id = item.conversation_id
        super().save(*args, **kwargs)


class ReviewNote(models.Model):
    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="notes")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL)
    body = models.TextField(blank=True)
    status_from = models.CharField(max_length=16, blank=True)
    status_to = models.CharField(max_length=16, blank=True)
    # The moment the note is pinned to, in ms from the conversation start (as Utterance.start_ms); none for a
    # note about the whole call.
    at_ms = models.BigIntegerField(null=True, blank=True)
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
        RETENTION_PURGE = "retention_purge", "Purged by retention"
        LEGAL_HOLD = "legal_hold", "Placed legal hold"
        LEGAL_HOLD_RELEASE = "legal_hold_release", "Released legal hold"
        ESCALATION = "escalation", "Escalation step"
        SUBJECT_REQUEST = "subject_request", "Data-subject request step"

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
    # Tamper evidence (reviews/audit_chain.py): each event's hash covers its immutable fields and the hash of
    # the event before it, so an edited, deleted or inserted row breaks the chain at that row.
    previous_hash = models.CharField(max_length=64, blank=True)
    chain_hash = models.CharField(max_length=64, blank=True)

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


# --- Compliance archive: versions and audio-only calls (issue 12 §5) -------------------------------------------
class ConversationVersion(models.Model):
    """One version of the Genesys facts of an archived conversation (times, direction, queue, agent, divisions).

    Discovery refreshes the Conversation row, but once a conversation is archived each change of these facts is
    a new version here, delivered to the archive too (reviews/compliance/versions.py): the archive keeps every
    version and is never contradicted silently. Version 1 holds the facts the vault held when it archived the
    conversation; it is written when the first change is seen. Rows are never updated.
    """

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    facts = models.JSONField()  # reviews.compliance.versions.facts_of_row / facts_of_analytics
    facts_sha256 = models.CharField(max_length=64)  # of the canonical JSON of `facts`
    changed_fields = models.JSONField(default=list, blank=True)  # fact names that differ from the version before
    recorded_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["conversation_id", "number"]
        constraints = [models.UniqueConstraint(fields=["conversation", "number"], name="conversation_version_number")]

    def __str__(self) -> str:
        return f"{self.conversation.genesys_id} v{self.number}"

    @property
    def version_key(self) -> str:
        digest = hashlib.sha256(
            f"{self.conversation.genesys_id}|version|{self.number}|{self.facts_sha256}".encode()
        ).hexdigest()
        return f"tv_{digest[:40]}"


# --- Retention and legal hold (issue 12 §3) ---------------------------------------------------------------------


class RetentionRule(models.Model):
    """How long the vault keeps a division's and/or queue's transcripts and audio (counted from the call's start).

    The most specific rule wins: queue and division, then queue, then division, then the default from settings
    (RETENTION_TRANSCRIPT_DAYS / RETENTION_AUDIO_DAYS). Empty days mean "keep forever". The compliance archive
    keeps its own retention (WORM / S3 Object Lock): these rules never touch it.
    """

    division = models.ForeignKey(Division, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    queue = models.ForeignKey(Queue, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    transcript_days = models.PositiveIntegerField(null=True, blank=True)
    audio_days = models.PositiveIntegerField(null=True, blank=True)
    # What the law makes the firm keep (e.g. MiFID II call records: 5 years). An erasure request keeps what is
    # younger than this and says until when (reviews/subject_requests.py); empty: RETENTION_MINIMUM_DAYS.
    minimum_days = models.PositiveIntegerField(null=True, blank=True)
    note = models.CharField(max_length=200, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["division", "queue"], name="retention_rule_once"),
            models.CheckConstraint(
                condition=models.Q(division__isnull=False) | models.Q(queue__isnull=False),
                name="retention_rule_has_target",
            ),
        ]

    def __str__(self) -> str:
        return " / ".join(str(part) for part in (self.division, self.queue) if part is not None)

    @property
    def label(self) -> str:
        return f"rule {self.pk} ({self})"


class LegalHold(models.Model):
    """A hold stops the vault purging what it covers, and locks the archived objects (S3 Object Lock legal hold).

    A phone-number hold keeps only a keyed digest of the number (reviews/retention.py phone_digest) and its
    last digits to recognise it: the vault never stores a caller's number readable.
    """

    class Kind(models.TextChoices):
        CONVERSATION = "conversation", "Conversation"
        AGENT = "agent", "Agent"
        PHONE = "phone", "Phone number"
        DATE_RANGE = "date_range", "Date range"

    kind = models.CharField(max_length=16, choices=Kind.choices)
    conversation_genesys_id = models.CharField(max_length=64, blank=True, db_index=True)
    agent = models.ForeignKey(Agent, null=True, blank=True, on_delete=models.PROTECT, related_name="legal_holds")
    phone_digest = models.CharField(max_length=64, blank=True, db_index=True)
    phone_hint = models.CharField(max_length=16, blank=True)  # "…1234"
    starts_at = models.DateTimeField(null=True, blank=True)
    ends_at = models.DateTimeField(null=True, blank=True)
    reason = models.CharField(max_length=500)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="legal_holds")
    created_at = models.DateTimeField(default=timezone.now)
    released_at = models.DateTimeField(null=True, blank=True)
    released_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="released_holds"
    )
    release_reason = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"hold {self.pk} on {self.target_label}"

    @property
    def is_active(self) -> bool:
        return self.released_at is None

    @property
    def target_label(self) -> str:
        if self.kind == self.Kind.CONVERSATION:
            return f"conversation {self.conversation_genesys_id}"
        if self.kind == self.Kind.AGENT:
            return f"agent {self.agent}"
        if self.kind == self.Kind.PHONE:
            return f"phone number {self.phone_hint}"
        return f"calls started {self.starts_at:%Y-%m-%d %H:%M} to {self.ends_at:%Y-%m-%d %H:%M} UTC"

    def release(self, *, by, reason: str, now) -> None:
        """Active -> released, once: a released hold is never re-opened (place a new one)."""
        if not self.is_active:
            raise ValueError(f"{self} was already released")
        self.released_at, self.released_by, self.release_reason = now, by, reason
        self.save(update_fields=["released_at", "released_by", "release_reason"])


class PurgeTombstone(models.Model):
    """What a retention purge deleted from the vault: ids, dates, the rule and the sha256 of each deleted item."""

    class Item(models.TextChoices):
        TRANSCRIPT = "transcript", "Transcript"
        AUDIO = "audio", "Audio recording"

    conversation = models.ForeignKey(Conversation, on_delete=models.PROTECT, related_name="tombstones")
    item = models.CharField(max_length=16, choices=Item.choices)
    item_id = models.CharField(max_length=64)  # transcript_id or recording_id
    communication_id = models.CharField(max_length=64, blank=True)
    sha256 = models.CharField(max_length=64)
    size_bytes = models.BigIntegerField(default=0)
    utterance_count = models.PositiveIntegerField(default=0)
    conversation_started_at = models.DateTimeField()
    stored_at = models.DateTimeField(null=True, blank=True)
    due_at = models.DateTimeField()
    rule = models.CharField(max_length=200)
    purged_at = models.DateTimeField(default=timezone.now, db_index=True)
    run_id = models.CharField(max_length=32, db_index=True)

    class Meta:
        ordering = ["-purged_at", "id"]

    def __str__(self) -> str:
        return f"purged {self.item} {self.item_id} of {self.conversation_id}"


# --- Escalations (issue 12 §2) ----------------------------------------------------------------------------------


class EscalationError(ValueError):
    """A step the escalation workflow refuses (already resolved, unknown outcome, empty comment...): nothing saved."""


class Escalation(models.Model):
    """A review a supervisor escalated to compliance: open until a compliance officer resolves it with an outcome.

    The transitions are the methods below; each writes its EscalationEvent in the same transaction, and refuses
    (EscalationError) before writing anything when the step does not apply.
    """

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        RESOLVED = "resolved", "Resolved"

    class Outcome(models.TextChoices):
        NO_ISSUE = "no_issue", "No issue"
        COACHING = "coaching", "Coaching"
        BREACH_REPORTED = "breach_reported", "Breach reported"

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="escalations")
    escalated_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    escalated_at = models.DateTimeField(default=timezone.now, db_index=True)
    reason = models.TextField(blank=True)  # the supervisor's note when escalating
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.OPEN, db_index=True)
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="assigned_escalations",
    )
    outcome = models.CharField(max_length=32, choices=Outcome.choices, blank=True)
    resolution = models.TextField(blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-escalated_at", "-pk"]
        constraints = [
            # A second escalation while one is open joins it (Escalation.open_for) instead of splitting the case.
            models.UniqueConstraint(
                fields=["conversation"], condition=models.Q(status="open"), name="one_open_escalation_per_conversation"
            )
        ]

    @property
    def is_open(self) -> bool:
        return self.status == self.Status.OPEN

    @classmethod
    def open_for(cls, *, conversation: Conversation, by, reason: str, at=None) -> tuple[Escalation, bool]:
        """The conversation's open escalation, created if there is none (True) or joined with the new reason."""
        from django.db import transaction

        at = at or timezone.now()
        with transaction.atomic():
            escalation = cls.objects.select_for_update().filter(conversation=conversation, status=cls.Status.OPEN)
            escalation = escalation.first()
            created = escalation is None
            if created:
                escalation = cls.objects.create(
                    conversation=conversation, escalated_by=by, escalated_at=at, reason=reason
                )
            EscalationEvent.objects.create(
                escalation=escalation, kind=EscalationEvent.Kind.ESCALATED, actor=by, body=reason, at=at
            )
        return escalation, created

    def comment(self, *, by, body: str, at=None) -> EscalationEvent:
        body = (body or "").strip()
        if not body:
            raise EscalationError("Write a comment first.")
        return EscalationEvent.objects.create(
            escalation=self, kind=EscalationEvent.Kind.COMMENT, actor=by, body=body, at=at or timezone.now()
        )

    def assign(self, *, by, to, at=None) -> EscalationEvent:
        """Hand the case to `to` (None: unassign). Callers check that `to` is a compliance officer."""
        from django.db import transaction

        self._refuse_unless_open()
        with transaction.atomic():
            if not Escalation.objects.filter(pk=self.pk, status=self.Status.OPEN).update(assignee=to):
                raise EscalationError("This escalation was resolved meanwhile.")
            self.assignee = to
            return EscalationEvent.objects.create(
                escalation=self, kind=EscalationEvent.Kind.ASSIGNED, actor=by, assignee=to, at=at or timezone.now()
            )

    def resolve(self, *, by, outcome: str, note: str = "", at=None) -> EscalationEvent:
        from django.db import transaction

        self._refuse_unless_open()
        if outcome not in self.Outcome.values:
            raise EscalationError("Choose an outcome: no issue, coaching or breach reported.")
        at = at or timezone.now()
        note = (note or "").strip()
        changes = {"status": self.Status.RESOLVED, "outcome": outcome, "resolution": note}
        changes |= {"resolved_by": by, "resolved_at": at}
        with transaction.atomic():
            # Conditional update: two officers resolving at once cannot both record an outcome.
            if not Escalation.objects.filter(pk=self.pk, status=self.Status.OPEN).update(**changes):
                raise EscalationError("This escalation was resolved meanwhile.")
            for field, value in changes.items():
                setattr(self, field, value)
            return EscalationEvent.objects.create(
                escalation=self, kind=EscalationEvent.Kind.RESOLVED, actor=by, outcome=outcome, body=note, at=at
            )

    def _refuse_unless_open(self) -> None:
        if not self.is_open:
            raise EscalationError("This escalation is resolved; nothing more can change.")


class EscalationEvent(models.Model):
    """One step of an escalation's history, in order: escalated, comments, assignments, the resolution."""

    class Kind(models.TextChoices):
        ESCALATED = "escalated", "Escalated"
        COMMENT = "comment", "Comment"
        ASSIGNED = "assigned", "Assigned"
        RESOLVED = "resolved", "Resolved"

    escalation = models.ForeignKey(Escalation, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    body = models.TextField(blank=True)
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    outcome = models.CharField(max_length=32, choices=Escalation.Outcome.choices, blank=True)
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["at", "pk"]


# --- Data-subject requests (issue 12 §4) ------------------------------------------------------------------------


class IdentifierMention(models.Model):
    """A phone number or e-mail address the leak detector found in a transcript, kept only as a keyed digest
    (reviews/identifiers.py): lets a data-subject request find the calls that mention someone, never the value."""

    transcript = models.ForeignKey(Transcript, on_delete=models.CASCADE, related_name="identifier_mentions")
    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="identifier_mentions")
    utterance = models.ForeignKey(Utterance, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    kind = models.CharField(max_length=16)  # phone, email
    digest = models.CharField(max_length=64, db_index=True)

    class Meta:
        ordering = ["transcript_id", "utterance_id"]


class SubjectRequest(models.Model):
    """One data-subject request (GDPR Art. 15 access, Art. 17 erasure, CCPA): who it is about, by digest and hint
    only; who handled it; the export and the erasure it led to, with what was erased and why anything was kept.
    The steps are reviews/subject_requests.py; each is audited (AuditEvent.Action.SUBJECT_REQUEST)."""

    class IdentifierKind(models.TextChoices):
        PHONE = "phone", "Phone number"
        EMAIL = "email", "E-mail address"

    identifier_kind = models.CharField(max_length=16, choices=IdentifierKind.choices)
    identifier_digest = models.CharField(max_length=64, db_index=True)
    identifier_hint = models.CharField(max_length=80)  # "…0150", "j…@example.com"
    reference = models.CharField(max_length=200)  # the case or ticket, as the officer wrote it (masked)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    exported_at = models.DateTimeField(null=True, blank=True)
    export_sha256 = models.CharField(max_length=64, blank=True)
    erased_at = models.DateTimeField(null=True, blank=True)
    erased_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # {"erased": [...], "kept": [...], "notes": [...]} of the erasure, as shown on the page and printed by the command.
    erasure = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"subject request {self.pk} ({self.get_identifier_kind_display()} {self.identifier_hint})"


# --- Evaluations / scorecards (issue 13 §2) ---------------------------------------------------------------------


class EvaluationError(ValueError):
    """A step the evaluation workflow refuses (published form changed, submitted evaluation edited...): nothing saved."""


class EvaluationForm(models.Model):
    """A scorecard, defined in the admin. What is scored lives in its versions: a published version never changes
    (an edit is a new draft version), so an old evaluation keeps the questions it was scored with."""

    name = models.CharField(max_length=200, unique=True)
    description = models.TextField(blank=True)
    # Inactive forms are no longer scored automatically; their evaluations stay.
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def current_version(self) -> EvaluationFormVersion | None:
        """The latest published version: what new evaluations are scored with."""
        return self.versions.filter(published_at__isnull=False).order_by("-number").first()


class EvaluationFormVersion(models.Model):
    form = models.ForeignKey(EvaluationForm, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField(default=1)
    # Score (0-100) at or above which an evaluation passes, unless a critical question failed.
    pass_score = models.FloatField(default=80.0)
    created_at = models.DateTimeField(default=timezone.now)
    published_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["form__name", "-number"]
        constraints = [models.UniqueConstraint(fields=["form", "number"], name="evaluation_form_version_once")]

    def __str__(self) -> str:
        state = "" if self.is_published else " (draft)"
        return f"{self.form} v{self.number}{state}"

    @property
    def is_published(self) -> bool:
        return self.published_at is not None

    def save(self, *args, **kwargs):
        if self.pk and EvaluationFormVersion.objects.filter(pk=self.pk, published_at__isnull=False).exists():
            raise EvaluationError(f"{self} is published and cannot change; create a new version instead.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        if self.is_published:
            raise EvaluationError(f"{self} is published and cannot be deleted.")
        return super().delete(*args, **kwargs)

    def publish(self, *, at) -> None:
        """Draft -> published, once; it needs at least one question. Conditional, so two publishes cannot cross."""
        if self.is_published:
            raise EvaluationError(f"{self} is already published.")
        if not self.questions.exists():
            raise EvaluationError(f"{self} has no questions to publish.")
        if not EvaluationFormVersion.objects.filter(pk=self.pk, published_at__isnull=True).update(published_at=at):
            raise EvaluationError(f"{self} was published meanwhile.")
        self.published_at = at

    def new_draft(self) -> EvaluationFormVersion:
        """A draft copy of this version (sections and questions), numbered after the form's latest version."""
        from django.db import transaction

        with transaction.atomic():
            latest = self.form.versions.aggregate(latest=models.Max("number"))["latest"] or 0
            draft = EvaluationFormVersion.objects.create(form=self.form, number=latest + 1, pass_score=self.pass_score)
            sections = {}
            for section in self.sections.all():
                sections[section.pk] = EvaluationSection.objects.create(
                    version=draft, title=section.title, position=section.position
                )
            for question in self.questions.all():
                question.pk = None
                question.version = draft
                question.section = sections[question.section_id]
                question.save()
        return draft


class _PartOfVersion(models.Model):
    """A section or question: it changes only while its version is a draft."""

    class Meta:
        abstract = True

    def _refuse_if_published(self) -> None:
        version_ids = {self.version_id}
        if self.pk:
            version_ids |= set(type(self).objects.filter(pk=self.pk).values_list("version_id", flat=True))
        published = EvaluationFormVersion.objects.filter(pk__in=version_ids, published_at__isnull=False).first()
        if published is not None:
            raise EvaluationError(f"{published} is published and cannot change; create a new version instead.")

    def save(self, *args, **kwargs):
        self._refuse_if_published()
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        self._refuse_if_published()
        return super().delete(*args, **kwargs)


class EvaluationSection(_PartOfVersion):
    version = models.ForeignKey(EvaluationFormVersion, on_delete=models.CASCADE, related_name="sections")
    title = models.CharField(max_length=200)
    position = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["position", "pk"]

    def __str__(self) -> str:
        return self.title


class EvaluationQuestion(_PartOfVersion):
    class Kind(models.TextChoices):
        YES_NO = "yes_no", "Yes / no"
        SCALE = "scale", "Scale (0 to maximum)"

    class AutoRule(models.TextChoices):
        NONE = "", "None (a person answers)"
        PHRASE_SAID = "phrase_said", "A phrase is said (yes when found)"
        PHRASE_NOT_SAID = "phrase_not_said", "A phrase is not said (no when found: prohibited wording)"
        SILENCE_SHARE = "silence_share", "Silence share at most the threshold"
        TOPIC_PRESENT = "topic_present", "A Genesys topic is present"

    class Speaker(models.TextChoices):
        ANY = "", "Anyone"
        INTERNAL = "internal", "Internal (agent / IVR)"
        EXTERNAL = "external", "External (customer)"

    version = models.ForeignKey(EvaluationFormVersion, on_delete=models.CASCADE, related_name="questions")
    section = models.ForeignKey(EvaluationSection, on_delete=models.CASCADE, related_name="questions")
    text = models.CharField(max_length=500)
    help_text = models.CharField(max_length=500, blank=True)
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.YES_NO)
    scale_max = models.PositiveSmallIntegerField(default=5)
    allow_na = models.BooleanField(default=False)
    weight = models.PositiveIntegerField(default=1)
    # A critical question answered "no" (or 0 on a scale) fails the whole evaluation: score 0.
    critical = models.BooleanField(default=False)
    position = models.PositiveIntegerField(default=0)
    # The automatic rule (reviews/evaluations/auto.py); only yes/no questions carry one.
    auto_rule = models.CharField(max_length=32, choices=AutoRule.choices, default=AutoRule.NONE, blank=True)
    # Phrase variants, one per line; or topic names, one per line.
    auto_terms = models.TextField(blank=True)
    auto_speaker = models.CharField(max_length=16, choices=Speaker.choices, default=Speaker.ANY, blank=True)
    auto_within_seconds = models.PositiveIntegerField(null=True, blank=True)  # phrase rules: only this early
    auto_threshold = models.FloatField(null=True, blank=True)  # silence share: largest share (0-1) that passes

    class Meta:
        ordering = ["section__position", "section_id", "position", "pk"]

    def __str__(self) -> str:
        return self.text

    @property
    def terms(self) -> list[str]:
        return [line.strip() for line in self.auto_terms.splitlines() if line.strip()]

    def clean(self) -> None:
        from django.core.exceptions import ValidationError

        if self.section_id and self.version_id and self.section.version_id != self.version_id:
            raise ValidationError({"section": "Choose a section of this form version."})
        if self.kind == self.Kind.SCALE and self.scale_max < 1:
            raise ValidationError({"scale_max": "A scale needs a maximum of at least 1."})
        if self.auto_rule and self.kind != self.Kind.YES_NO:
            raise ValidationError({"auto_rule": "Only yes/no questions can be answered automatically."})
        wants_terms = (self.AutoRule.PHRASE_SAID, self.AutoRule.PHRASE_NOT_SAID, self.AutoRule.TOPIC_PRESENT)
        if self.auto_rule in wants_terms and not self.terms:
            raise ValidationError({"auto_terms": "List the phrases (or topics) the rule looks for, one per line."})
        if self.auto_rule == self.AutoRule.SILENCE_SHARE and not (0 <= (self.auto_threshold or -1) <= 1):
            raise ValidationError({"auto_threshold": "Give the largest silence share that passes, from 0 to 1."})

    def values(self) -> list[str]:
        """The answers this question accepts, as stored in EvaluationAnswer.value."""
        if self.kind == self.Kind.SCALE:
            choices = [str(point) for point in range(self.scale_max + 1)]
        else:
            choices = [EvaluationAnswer.YES, EvaluationAnswer.NO]
        return choices + ([EvaluationAnswer.NA] if self.allow_na else [])

    def choices(self) -> list[tuple[str, str]]:
        """(value, label) of each accepted answer, for the evaluation form."""
        labels = {EvaluationAnswer.YES: "Yes", EvaluationAnswer.NO: "No", EvaluationAnswer.NA: "N/A"}
        return [(value, labels.get(value, value)) for value in self.values()]

    def fraction(self, value: str) -> float | None:
        """How much of the question's weight `value` earns (0-1); None for N/A or no answer (left out)."""
        if value in ("", EvaluationAnswer.NA):
            return None
        if self.kind == self.Kind.SCALE:
            return int(value) / self.scale_max
        return 1.0 if value == EvaluationAnswer.YES else 0.0


class Evaluation(models.Model):
    """One scoring of one conversation with one form version: automatic (the rules, for every call) or by a person.

    Human: draft -> submitted -> disputed -> submitted (re-scored) ...; the steps are reviews/evaluations/workflow.py,
    each audited. Several people may score the same call with the same version (calibration).
    """

    class Kind(models.TextChoices):
        AUTOMATIC = "automatic", "Automatic"
        HUMAN = "human", "Human"

    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        SUBMITTED = "submitted", "Submitted"
        DISPUTED = "disputed", "Disputed"

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="evaluations")
    form_version = models.ForeignKey(EvaluationFormVersion, on_delete=models.PROTECT, related_name="evaluations")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    evaluator = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="evaluations"
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.DRAFT, db_index=True)
    score = models.FloatField(null=True, blank=True)  # 0-100; None when nothing scoreable was answered
    critical_failed = models.BooleanField(default=False)
    passed = models.BooleanField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    submitted_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["conversation", "form_version"],
                condition=models.Q(kind="automatic"),
                name="one_automatic_evaluation_per_version",
            ),
            models.UniqueConstraint(
                fields=["conversation", "form_version", "evaluator"],
                condition=models.Q(kind="human"),
                name="one_human_evaluation_per_evaluator",
            ),
        ]
        indexes = [models.Index(fields=["kind", "status"], name="evaluation_kind_status_idx")]

    def __str__(self) -> str:
        return f"evaluation {self.pk} of {self.conversation_id} ({self.kind})"

    @property
    def is_editable(self) -> bool:
        """A draft, or a disputed evaluation being re-scored; a submitted one changes only through a dispute."""
        return self.kind == self.Kind.HUMAN and self.status in (self.Status.DRAFT, self.Status.DISPUTED)

    def recompute(self) -> None:
        """Score, critical failure and pass from the answers (reviews/evaluations/scoring.py); saved."""
        from reviews.evaluations.scoring import score_answers

        result = score_answers(self.answers.select_related("question"))
        self.score, self.critical_failed = result.score, result.critical_failed
        if result.score is None:
            self.passed = None
        else:
            self.passed = not result.critical_failed and result.score >= self.form_version.pass_score
        self.updated_at = timezone.now()
        self.save(update_fields=["score", "critical_failed", "passed", "updated_at"])


class EvaluationAnswer(models.Model):
    YES, NO, NA = "yes", "no", "na"

    class Source(models.TextChoices):
        AUTOMATIC = "automatic", "Automatic"
        HUMAN = "human", "Human"

    evaluation = models.ForeignKey(Evaluation, on_delete=models.CASCADE, related_name="answers")
    question = models.ForeignKey(EvaluationQuestion, on_delete=models.PROTECT, related_name="answers")
    value = models.CharField(max_length=8, blank=True)  # yes / no / na / 0..scale_max; "" = not answered yet
    source = models.CharField(max_length=16, choices=Source.choices)
    # What the automatic rule answered (kept on a human evaluation that started from it): an override differs.
    auto_value = models.CharField(max_length=8, blank=True)
    # The moment that decided an automatic answer: the utterance and its start (ms from the call's start).
    utterance = models.ForeignKey(Utterance, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    moment_ms = models.BigIntegerField(null=True, blank=True)
    # Why the rule answered as it did, from the form's own words (never transcript text): "said at 0:04 (internal)".
    evidence = models.CharField(max_length=300, blank=True)
    comment = models.TextField(blank=True)

    class Meta:
        ordering = ["question__section__position", "question__position", "question_id"]
        constraints = [models.UniqueConstraint(fields=["evaluation", "question"], name="one_answer_per_question")]

    @property
    def is_override(self) -> bool:
        return bool(self.auto_value) and self.source == self.Source.HUMAN and self.value != self.auto_value


class EvaluationDispute(models.Model):
    """A challenge of a submitted evaluation, open until it is re-scored (the score before and after are kept)."""

    evaluation = models.ForeignKey(Evaluation, on_delete=models.CASCADE, related_name="disputes")
    raised_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    raised_at = models.DateTimeField(default=timezone.now)
    reason = models.TextField()
    score_before = models.FloatField(null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolution = models.TextField(blank=True)
    score_after = models.FloatField(null=True, blank=True)

    class Meta:
        ordering = ["-raised_at", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["evaluation"], condition=models.Q(resolved_at__isnull=True), name="one_open_dispute"
            )
        ]

    @property
    def is_open(self) -> bool:
        return self.resolved_at is None


# --- Work queues: sampling rules and review assignments (issue 13 §3) -------------------------------------------


class SamplingRule(models.Model):
    """A rule that picks calls for review and assigns them to reviewers (reviews/sampling.py runs the rules).

    Kinds: N random calls per agent per week, or every call with a leak finding, negative sentiment, low
    confidence, a long silence or a chosen topic. Scope (queues, divisions) narrows the calls; none means all.
    Each call goes only to a reviewer who may see it (reviews/access.py), round robin or least loaded.
    """

    class Kind(models.TextChoices):
        RANDOM_PER_AGENT = "random_per_agent", "N random calls per agent per week"
        LEAK = "leak", "Every call with a leak finding"
        NEGATIVE_SENTIMENT = "negative_sentiment", "Every call with negative sentiment"
        LOW_CONFIDENCE = "low_confidence", "Every call with low transcript confidence"
        LONG_SILENCE = "long_silence", "Every call with a long silence"
        TOPIC = "topic", "Every call with a chosen topic"

    class Strategy(models.TextChoices):
        ROUND_ROBIN = "round_robin", "Round robin"
        LEAST_LOADED = "least_loaded", "Least loaded (fewest open assignments)"

    name = models.CharField(max_length=200, unique=True)
    active = models.BooleanField(default=True)
    kind = models.CharField(max_length=32, choices=Kind.choices)
    calls_per_agent = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text="Random calls per agent per week (random rule only)."
    )
    topic = models.CharField(max_length=200, blank=True, help_text="Genesys topic name (topic rule only).")
    silence_seconds = models.PositiveIntegerField(
        null=True, blank=True, help_text="Shortest gap between turns that counts as a long silence (silence rule only)."
    )
    queues = models.ManyToManyField(Queue, blank=True, related_name="+")
    divisions = models.ManyToManyField(Division, blank=True, related_name="+")
    reviewers = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="sampling_rules")
    strategy = models.CharField(max_length=16, choices=Strategy.choices, default=Strategy.ROUND_ROBIN)
    due_days = models.PositiveSmallIntegerField(default=7)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                # A NULL count would pass a plain ">= 1" check (NULL is not false), hence isnull=False.
                condition=~models.Q(kind="random_per_agent")
                | models.Q(calls_per_agent__isnull=False, calls_per_agent__gte=1),
                name="sampling_random_needs_count",
            ),
            models.CheckConstraint(
                condition=~models.Q(kind="topic") | ~models.Q(topic=""), name="sampling_topic_needs_name"
            ),
            models.CheckConstraint(
                condition=~models.Q(kind="long_silence")
                | models.Q(silence_seconds__isnull=False, silence_seconds__gte=1),
                name="sampling_silence_needs_seconds",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        from django.core.exceptions import ValidationError

        if self.kind == self.Kind.RANDOM_PER_AGENT and not self.calls_per_agent:
            raise ValidationError({"calls_per_agent": "Say how many calls per agent per week."})
        if self.kind == self.Kind.TOPIC and not self.topic.strip():
            raise ValidationError({"topic": "Name the topic."})
        if self.kind == self.Kind.LONG_SILENCE and not self.silence_seconds:
            raise ValidationError({"silence_seconds": "Say how many seconds of silence count as long."})


class ReviewAssignmentQuerySet(models.QuerySet):
    # The call was reviewed or escalated (on the review page) after the assignment was made.
    _REVIEWED_SINCE = models.Q(
        conversation__review_status__in=(Conversation.ReviewStatus.REVIEWED, Conversation.ReviewStatus.ESCALATED),
        conversation__reviewed_at__gte=models.F("created_at"),
    )

    def overtaken_by_review(self):
        """Open assignments whose call was reviewed or escalated after they were made."""
        return self.filter(self._REVIEWED_SINCE, status="open")

    def still_to_do(self):
        """Open assignments whose call still waits for its review."""
        # Negated on the joined call, not "pk not in (the overtaken ones)": that list repeated the whole scope
        # filter and read every call in scope (the team queue's slowest query, bench/dashboard_load.py).
        return self.filter(status="open").exclude(self._REVIEWED_SINCE)


class ReviewAssignment(models.Model):
    """One call to review, for one reviewer, by a due date: chosen by a sampling rule or by a supervisor.

    open -> done (the call was marked reviewed) or cancelled. A reviewer has at most one open assignment per call.
    """

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        DONE = "done", "Done"
        CANCELLED = "cancelled", "Cancelled"

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="assignments")
    rule = models.ForeignKey(
        SamplingRule, null=True, blank=True, on_delete=models.SET_NULL, related_name="assignments"
    )  # None: assigned by hand (assigned_by)
    assignee = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="review_assignments")
    assigned_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )  # None: a sampling rule
    created_at = models.DateTimeField(default=timezone.now)
    due_at = models.DateTimeField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.OPEN)
    done_at = models.DateTimeField(null=True, blank=True)

    objects = ReviewAssignmentQuerySet.as_manager()

    class Meta:
        ordering = ["due_at", "pk"]
        indexes = [models.Index(fields=["assignee", "status", "due_at"], name="assignment_queue_idx")]
        constraints = [
            models.UniqueConstraint(
                fields=["conversation", "assignee"],
                condition=models.Q(status="open"),
                name="one_open_assignment_per_reviewer",
            ),
            models.CheckConstraint(
                condition=models.Q(status="open", done_at__isnull=True) | ~models.Q(status="open"),
                name="open_assignment_not_done",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.conversation} for {self.assignee} ({self.status})"

    def is_overdue(self, *, now) -> bool:
        return self.status == self.Status.OPEN and self.due_at < now
