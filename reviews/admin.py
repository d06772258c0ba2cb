"""Django admin. OAuthToken (the shared Genesys access token) is deliberately not registered: the admin must
never be able to show it.

The site needs a verified second factor (django-otp's OTPAdminSite; reviews/mfa.py) and signs in through
/login/ only, so there is one sign-in form to throttle and audit. Being staff opens the admin, not the
transcripts (reviews/access.py): the admin shows pipeline facts, never transcript text, finding excerpts or
review notes. Every admin view runs inside auth_events.acting(request), so privilege, password and device
changes made here are audited with the administrator's name and address.
"""

from __future__ import annotations

from functools import wraps

from django.contrib import admin, messages
from django.contrib.auth import REDIRECT_FIELD_NAME, get_user_model
from django.contrib.auth.admin import UserAdmin
from django.contrib.auth.views import redirect_to_login
from django.urls import reverse
from django_otp.admin import OTPAdminSite
from django_otp.plugins.otp_totp.models import TOTPDevice

from reviews import audit, auth_events
from reviews.models import (
    AccessScope,
    Agent,
    ApiToken,
    AsrJob,
    AudioRecording,
    AuditEvent,
    BatchJob,
    Conversation,
    ConversationVersion,
    Division,
    Escalation,
    Evaluation,
    EvaluationError,
    EvaluationForm,
    EvaluationFormVersion,
    EvaluationQuestion,
    EvaluationSection,
    GenesysFinding,
    LegalHold,
    OutboxMessage,
    PurgeTombstone,
    Queue,
    ReconciliationRun,
    RedactionFinding,
    RetentionRule,
    ReviewAssignment,
    ReviewNote,
    SamplingRule,
    SubjectRequest,
    SyncCursor,
    Transcript,
)


class VaultAdminSite(OTPAdminSite):
    def login(self, request, extra_context=None):
        next_url = request.GET.get(REDIRECT_FIELD_NAME) or reverse("admin:index", current_app=self.name)
        return redirect_to_login(next_url, login_url=reverse("login"))

    def admin_view(self, view, cacheable=False):
        protected = super().admin_view(view, cacheable)

        @wraps(protected)
        def attributed(request, *args, **kwargs):
            with auth_events.acting(request):
                return protected(request, *args, **kwargs)

        return attributed


# django-otp's documented way to protect the default site (the URLconf keeps using admin.site).
admin.site.__class__ = VaultAdminSite
# Replaced below: the user admin with audited privilege changes, the device admin without the device keys.
admin.site.unregister(get_user_model())
admin.site.unregister(TOTPDevice)


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
    # The excerpt is for compliance officers (access.can_see_finding_details), and staff alone are not.
    exclude = ("masked_excerpt", "utterance")


@admin.register(AudioRecording)
class AudioRecordingAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = (
        "conversation", "recording_id", "media", "content_type", "size_bytes", "source", "kept", "cached_until",
        "stored_at",
    )  # fmt: skip
    list_filter = ("source", "kept", "media", "content_type")
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
    exclude = ("body",)  # notes describe what was said: for those who may read the conversation


@admin.register(ApiToken)
class ApiTokenAdmin(AuditedAdminMixin, admin.ModelAdmin):
    list_display = ("name", "user", "prefix", "scope", "created_at", "expires_at", "last_used_at", "revoked_at")
    list_filter = ("scope", "revoked_at")
    search_fields = ("name", "user__username", "prefix")
    # Only the label is editable: a token never changes owner (ApiToken.save refuses it too), and a wider
    # scope or a longer life is a new token (manage.py create_api_token), not an edit.
    readonly_fields = (
        "user",
        "prefix",
        "key_hash",
        "scope",
        "created_at",
        "expires_at",
        "last_used_at",
        "revoked_at",
        "revoked_reason",
    )
    actions = ["revoke"]

    def has_add_permission(self, request):
        # Keys are shown once at issue time (ApiToken.issue, create_api_token); the admin cannot display them.
        return False

    @admin.action(description="Revoke selected tokens", permissions=["change"])
    def revoke(self, request, queryset):
        count = auth_events.revoke_tokens(queryset, reason=f"revoked in the admin by {request.user.get_username()}")
        self.message_user(request, f"Revoked {count} token(s).", messages.SUCCESS)


@admin.register(get_user_model())
class VaultUserAdmin(AuditedAdminMixin, UserAdmin):
    """Django's user admin; changes to staff, superuser, active, groups and passwords are PRIVILEGE_CHANGE,
    PASSWORD_CHANGE and TOKEN_REVOKED events (auth_events), on top of the ADMIN_CHANGE row every edit gets."""


@admin.register(TOTPDevice)
class TOTPDeviceAdmin(AuditedAdminMixin, admin.ModelAdmin):
    """Second-factor devices: listed and removable (a lost phone), never readable: the key would let an
    administrator produce the user's codes. Removing one makes its owner enrol again at the next sign-in."""

    list_display = ("user", "name", "confirmed", "created_at", "last_used_at", "throttling_failure_count")
    list_filter = ("confirmed",)
    search_fields = ("user__username",)
    fields = ("user", "name", "confirmed", "created_at", "last_used_at", "throttling_failure_count")
    readonly_fields = fields

    def has_add_permission(self, request):
        return False  # users enrol themselves, so only they ever see the key

    def has_change_permission(self, request, obj=None):
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


@admin.register(AsrJob)
class AsrJobAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("conversation", "outcome", "attempts", "audio_ms", "cpu_seconds", "finished_at", "superseded_at")
    list_filter = ("outcome",)
    search_fields = ("conversation__genesys_id",)
    list_select_related = ("conversation",)


@admin.register(GenesysFinding)
class GenesysFindingAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("key", "source", "learned_at")
    list_filter = ("source",)
    search_fields = ("key",)


@admin.register(ReconciliationRun)
class ReconciliationRunAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("started_at", "since", "until", "detected", "recovered", "failed", "finished_at")


# Retention and legal hold (issue 12 §3). Rules are edited here (audited); holds are placed and released on the
# holds page only, where the reason and the audit event are required, so the admin shows them read-only.
@admin.register(RetentionRule)
class RetentionRuleAdmin(AuditedAdminMixin, admin.ModelAdmin):
    list_display = ("pk", "division", "queue", "transcript_days", "audio_days", "minimum_days", "note")
    list_select_related = ("division", "queue")


@admin.register(LegalHold)
class LegalHoldAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("pk", "kind", "target_label", "owner", "created_at", "released_at")
    list_filter = ("kind", "released_at")


@admin.register(PurgeTombstone)
class PurgeTombstoneAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("purged_at", "conversation", "item", "item_id", "sha256", "rule", "run_id")
    list_filter = ("item",)
    search_fields = ("item_id", "sha256", "run_id")


# Data-subject requests (issue 12 §4): handled on their pages and by `manage.py subject_request` (each step audited
# there); the admin only lists them. Identifier mentions are digests, not worth a page.
@admin.register(SubjectRequest)
class SubjectRequestAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("pk", "identifier_kind", "identifier_hint", "reference", "created_at", "exported_at", "erased_at")
    list_filter = ("identifier_kind",)
    exclude = ("identifier_digest",)


# Escalations (issue 12 §2): handled on the escalation pages only (each step audited there), so read-only here;
# the reason and resolution note describe what was said, like a review note's body.
@admin.register(Escalation)
class EscalationAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("pk", "conversation", "escalated_by", "escalated_at", "status", "assignee", "outcome")
    list_filter = ("status", "outcome")
    search_fields = ("conversation__genesys_id",)
    exclude = ("reason", "resolution")


# Archive versions (issue 12 §5): written by discovery only and never changed, so read-only here.
@admin.register(ConversationVersion)
class ConversationVersionAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("conversation", "number", "changed_fields", "facts_sha256", "recorded_at")
    search_fields = ("conversation__genesys_id", "facts_sha256")


# --- Evaluations / scorecards (issue 13 §2) ---------------------------------------------------------------------
# Forms are defined here: a draft version's sections and questions are edited inline; "Publish" freezes a version
# (the model refuses any later change) and "New draft from this version" copies it to edit. Evaluations are made on
# the evaluation pages (each step audited there), so the admin lists them read-only, without comments.


class _DraftOnlyInline:
    """Inline rows of a form version: editable while the version is a draft, read-only once published."""

    def _draft(self, obj) -> bool:
        return obj is None or not obj.is_published

    def has_add_permission(self, request, obj=None):
        return self._draft(obj) and super().has_add_permission(request, obj)

    def has_change_permission(self, request, obj=None):
        return self._draft(obj) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return self._draft(obj) and super().has_delete_permission(request, obj)


class EvaluationSectionInline(_DraftOnlyInline, admin.TabularInline):
    model = EvaluationSection
    extra = 0
    fields = ("title", "position")


class EvaluationQuestionInline(_DraftOnlyInline, admin.StackedInline):
    model = EvaluationQuestion
    extra = 0
    fields = (
        ("section", "position"),
        "text",
        "help_text",
        ("kind", "scale_max", "allow_na"),
        ("weight", "critical"),
        ("auto_rule", "auto_speaker", "auto_within_seconds", "auto_threshold"),
        "auto_terms",
    )

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "section":
            # Only the sections of the version being edited (save the version's sections first).
            version_id = (request.resolver_match.kwargs or {}).get("object_id")
            kwargs["queryset"] = EvaluationSection.objects.filter(version_id=version_id)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


class EvaluationFormVersionInline(admin.TabularInline):
    model = EvaluationFormVersion
    extra = 0
    fields = ("number", "pass_score", "published_at")
    readonly_fields = ("number", "pass_score", "published_at")
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(EvaluationForm)
class EvaluationFormAdmin(AuditedAdminMixin, admin.ModelAdmin):
    list_display = ("name", "active", "current_version", "created_at")
    list_filter = ("active",)
    search_fields = ("name",)
    inlines = (EvaluationFormVersionInline,)

    def has_delete_permission(self, request, obj=None):
        # A published version is the record of what evaluations were scored with: deactivate the form instead.
        if obj is not None and obj.versions.filter(published_at__isnull=False).exists():
            return False
        return super().has_delete_permission(request, obj)

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        if not change:  # a new form starts with its first draft version
            EvaluationFormVersion.objects.get_or_create(form=obj, number=1)


@admin.register(EvaluationFormVersion)
class EvaluationFormVersionAdmin(AuditedAdminMixin, admin.ModelAdmin):
    list_display = ("__str__", "form", "number", "pass_score", "published_at")
    list_filter = ("form",)
    readonly_fields = ("published_at", "created_at")
    inlines = (EvaluationSectionInline, EvaluationQuestionInline)
    actions = ("publish_versions", "new_draft_versions")

    def has_change_permission(self, request, obj=None):
        return (obj is None or not obj.is_published) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return (obj is None or not obj.is_published) and super().has_delete_permission(request, obj)

    def get_readonly_fields(self, request, obj=None):
        return (*self.readonly_fields, "form", "number") if obj is not None else self.readonly_fields

    @admin.action(description="Publish the selected draft versions (they can no longer change)")
    def publish_versions(self, request, queryset):
        from django.utils import timezone

        for version in queryset:
            try:
                version.publish(at=timezone.now())
            except EvaluationError as error:
                self.message_user(request, str(error), level=messages.ERROR)
                continue
            self._audit(request, version, "publish")
            self.message_user(request, f"{version} published.")

    @admin.action(description="Create a new draft from the selected versions")
    def new_draft_versions(self, request, queryset):
        for version in queryset:
            draft = version.new_draft()
            self._audit(request, draft, "new_draft", {"from_version": version.pk})
            self.message_user(request, f"{draft} created from {version}.")


@admin.register(Evaluation)
class EvaluationAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("pk", "conversation", "form_version", "kind", "evaluator", "status", "score", "passed")
    list_filter = ("kind", "status", "form_version__form")
    search_fields = ("conversation__genesys_id",)
    list_select_related = ("conversation", "form_version__form", "evaluator")


# --- Work queues (issue 13 §3): sampling rules are defined here (audited like every admin change); assignments are
# made by the rules and on "My queue" (reviews/views/work_queue.py), so the admin only lists them.


@admin.register(SamplingRule)
class SamplingRuleAdmin(AuditedAdminMixin, admin.ModelAdmin):
    list_display = ("name", "kind", "active", "calls_per_agent", "topic", "silence_seconds", "strategy", "due_days")
    list_filter = ("kind", "active", "strategy")
    search_fields = ("name", "topic")
    filter_horizontal = ("queues", "divisions", "reviewers")
    readonly_fields = ("created_at",)


@admin.register(ReviewAssignment)
class ReviewAssignmentAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("conversation", "assignee", "rule", "assigned_by", "created_at", "due_at", "status", "done_at")
    list_filter = ("status", "rule")
    search_fields = ("conversation__genesys_id", "assignee__username")
    list_select_related = ("conversation", "assignee", "rule", "assigned_by")


# --- end work queues ---
