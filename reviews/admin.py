"""Django admin. OAuthToken (the shared Genesys access token) is deliberately not registered: the admin must
never be able to show it."""

from __future__ import annotations

from django.contrib import admin, messages

from reviews import audit
from reviews.models import (
    AccessScope,
    Agent,
    ApiToken,
    AudioRecording,
    AuditEvent,
    BatchJob,
    Conversation,
    Division,
    GenesysFinding,
    OutboxMessage,
    Queue,
    ReconciliationRun,
    RedactionFinding,
    ReviewNote,
    SyncCursor,
    Transcript,
)


class AuditedAdminMixin:
    """Every add, change and delete made through the admin also lands in our AuditEvent log.

    Django's own LogEntry is per-site and easy to prune; the AuditEvent table is what
    compliance exports, so admin edits must be there too.
    """

    def _audit(self, request, obj, operation: str, detail: dict | None = None) -> None:
        audit.record_event(
            request=request,
            action=AuditEvent.Action.ADMIN_CHANGE,
            object_type=obj._meta.label_lower,
            object_id=str(obj.pk),
            detail={"operation": operation, **(detail or {})},
        )

    def log_addition(self, request, obj, message):
        self._audit(request, obj, "add")
        return super().log_addition(request, obj, message)

    def log_change(self, request, obj, message):
        changed = [field for entry in message if "changed" in entry for field in entry["changed"].get("fields", [])]
        self._audit(request, obj, "change", {"fields": changed} if changed else None)
        return super().log_change(request, obj, message)

    def log_deletions(self, request, queryset):
        for obj in queryset:
            self._audit(request, obj, "delete")
        return super().log_deletions(request, queryset)


class ReadOnlyAdminMixin:
    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("at", "username", "action", "object_type", "object_id", "ip")
    list_filter = ("action", "user", "at")
    search_fields = ("object_id",)
    date_hierarchy = "at"
    list_select_related = ("user",)


@admin.register(OutboxMessage)
class OutboxMessageAdmin(AuditedAdminMixin, admin.ModelAdmin):
    list_display = ("pk", "sink", "state", "attempts", "last_status", "next_attempt_at", "delivered_at")
    list_filter = ("state", "sink")
    search_fields = ("idempotency_key", "transcript__conversation__genesys_id")
    readonly_fields = [field.name for field in OutboxMessage._meta.fields]
    actions = ["replay_dead_letters"]

    def has_add_permission(self, request):
        return False

    @admin.action(description="Replay dead letters", permissions=["change"])
    def replay_dead_letters(self, request, queryset):
        from reviews.compliance import replay

        dead = list(queryset.filter(state=OutboxMessage.State.DEAD))
        for message in dead:
            replay(message)
            audit.record_replay(request=request, message=message, via="admin")
        skipped = queryset.count() - len(dead)
        self.message_user(request, f"Queued {len(dead)} dead letter(s) again.", messages.SUCCESS)
        if skipped:
            self.message_user(request, f"Skipped {skipped} message(s) that are not dead letters.", messages.WARNING)


class TranscriptInline(admin.TabularInline):
    model = Transcript
    fields = (
        "part_start_ms",
        "communication_id",
        "recording_id",
        "media_type",
        "content_encoding",
        "redaction_status",
        "leak_count",
        "word_count",
        "confidence_mean",
        "stored_at",
    )
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Conversation)
class ConversationAdmin(AuditedAdminMixin, admin.ModelAdmin):
    list_display = (
        "genesys_id",
        "started_at",
        "queue",
        "agent",
        "state",
        "outcome",
        "error_count",
        "review_status",
        "needs_manual_review",
    )
    list_filter = (
        "state",
        "review_status",
        "needs_manual_review",
        "audio_route",
        "transcripts__redaction_status",
        "queue",
        "division",
    )
    search_fields = ("genesys_id",)
    date_hierarchy = "started_at"
    list_select_related = ("queue", "agent")
    inlines = [TranscriptInline]
    # Read-mostly: pipeline facts (the touched divisions included) are not editable; only the manual-review
    # flags are.
    readonly_fields = [
        *(
            field.name
            for field in Conversation._meta.fields
            if field.name not in ("needs_manual_review", "manual_review_reason")
        ),
        "divisions",
    ]

    def has_add_permission(self, request):
        return False


@admin.register(Transcript)
class TranscriptAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = (
        "conversation",
        "part_start_ms",
        "communication_id",
        "recording_id",
        "media_type",
        "content_encoding",
        "redaction_status",
        "leak_count",
        "word_count",
        "stored_at",
    )
    list_filter = ("redaction_status", "language", "media_type", "content_encoding")
    search_fields = ("conversation__genesys_id", "communication_id", "recording_id", "transcript_id")
    list_select_related = ("conversation",)


@admin.register(RedactionFinding)
class RedactionFindingAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("transcript", "kind", "rule", "confidence", "start_ms")
    list_filter = ("kind", "rule")
    search_fields = ("transcript__conversation__genesys_id",)


@admin.register(AudioRecording)
class AudioRecordingAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("conversation", "recording_id", "media", "content_type", "size_bytes", "source", "stored_at")
    list_filter = ("source", "media", "content_type")
    search_fields = ("conversation__genesys_id", "recording_id")


@admin.register(AccessScope)
class AccessScopeAdmin(AuditedAdminMixin, admin.ModelAdmin):
    list_display = ("user",)
    search_fields = ("user__username",)
    filter_horizontal = ("queues", "divisions")
    autocomplete_fields = ("user",)


@admin.register(Queue)
class QueueAdmin(AuditedAdminMixin, admin.ModelAdmin):
    list_display = ("name", "genesys_id", "division")
    list_filter = ("division",)
    search_fields = ("name", "genesys_id")


@admin.register(Division)
class DivisionAdmin(AuditedAdminMixin, admin.ModelAdmin):
    list_display = ("name", "genesys_id")
    search_fields = ("name", "genesys_id")


@admin.register(Agent)
class AgentAdmin(AuditedAdminMixin, admin.ModelAdmin):
    list_display = ("name", "genesys_id")
    search_fields = ("name", "genesys_id")


@admin.register(ReviewNote)
class ReviewNoteAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("conversation", "author", "status_from", "status_to", "created_at")
    list_filter = ("status_to",)
    search_fields = ("conversation__genesys_id",)


@admin.register(ApiToken)
class ApiTokenAdmin(AuditedAdminMixin, admin.ModelAdmin):
    list_display = ("name", "user", "prefix", "created_at", "last_used_at")
    search_fields = ("name", "user__username", "prefix")
    readonly_fields = ("prefix", "key_hash", "created_at", "last_used_at")

    def has_add_permission(self, request):
        # Keys are shown once at issue time (ApiToken.issue); the admin cannot display them.
        return False


@admin.register(SyncCursor)
class SyncCursorAdmin(AuditedAdminMixin, admin.ModelAdmin):
    list_display = ("name", "watermark", "last_run_at")


@admin.register(BatchJob)
class BatchJobAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("job_id", "state", "submitted_at", "polls", "next_poll_at", "finished_at", "last_error")
    list_filter = ("state",)
    search_fields = ("job_id",)
    date_hierarchy = "submitted_at"


@admin.register(GenesysFinding)
class GenesysFindingAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("key", "source", "learned_at")
    list_filter = ("source",)
    search_fields = ("key",)


@admin.register(ReconciliationRun)
class ReconciliationRunAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("started_at", "since", "until", "detected", "recovered", "failed", "finished_at")
