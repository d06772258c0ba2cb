from __future__ import annotations

from django.contrib.auth import views as auth_views
from django.urls import path

from reviews.views import account, api, audio, charts, escalations, health, metrics, operations, reveal, review, search
from reviews.views import audit_log as audit_log_views
from reviews.views import evaluations as evaluation_views
from reviews.views import holds as holds_views
from reviews.views import quality as quality_views
from reviews.views import subject_requests as subject_request_views
from reviews.views import work_queue as work_queue_views

urlpatterns = [
    path("", search.home, name="home"),
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("account/verify/", account.verify, name="mfa-verify"),
    path("account/enrol/", account.enrol, name="mfa-enrol"),
    path("account/password/", account.password_change, name="password_change"),
    path("account/password/done/", account.password_change_done, name="password_change_done"),
    path("healthz", health.healthz, name="healthz"),
    path("search/", search.search, name="search"),
    path("search/export.csv", search.search_export, name="search-export"),
    path("conversations/<str:conversation_id>/", review.conversation, name="conversation"),
    path("conversations/<str:conversation_id>/review", review.update_review, name="update-review"),
    path("conversations/<str:conversation_id>/export.<str:fmt>", review.export, name="export"),
    path("conversations/<str:conversation_id>/audio/<int:recording_pk>", audio.stream, name="audio"),
    path("conversations/<str:conversation_id>/audio/prepare", audio.prepare, name="audio-prepare"),
    path(
        "conversations/<str:conversation_id>/utterances/<int:utterance_pk>/reveal",
        reveal.reveal,
        name="reveal-utterance",
    ),
    path("charts/", charts.charts, name="charts"),
    path("operations/", operations.operations, name="operations"),
    path("operations/retry/<str:conversation_id>", operations.retry, name="operations-retry"),
    path("operations/replay/<int:message_pk>", operations.replay, name="operations-replay"),
    path("metrics", metrics.metrics, name="metrics"),
    path("audit/", audit_log_views.audit_log, name="audit-log"),
    path("audit/export.csv", audit_log_views.audit_log_export, name="audit-log-export"),
    path("audit/<int:event_pk>/", audit_log_views.audit_event, name="audit-event"),
    path("escalations/", escalations.inbox, name="escalations"),
    path("escalations/<int:escalation_id>/", escalations.detail, name="escalation"),
    path("escalations/<int:escalation_id>/comment", escalations.comment, name="escalation-comment"),
    path("escalations/<int:escalation_id>/assign", escalations.assign, name="escalation-assign"),
    path("escalations/<int:escalation_id>/resolve", escalations.resolve, name="escalation-resolve"),
    path("api/transcripts/search", api.search, name="api-search"),
    path("api/transcripts/process", api.process, name="api-process"),
    path("api/transcripts/<str:conversation_id>", api.transcript, name="api-transcript"),
    path("compliance/holds/", holds_views.holds, name="holds"),
    path("compliance/holds/place", holds_views.place, name="holds-place"),
    path("compliance/holds/<int:hold_pk>/release", holds_views.release, name="holds-release"),
    path("compliance/subject-requests/", subject_request_views.index, name="subject-requests"),
    path("compliance/subject-requests/open", subject_request_views.open_request, name="subject-requests-open"),
    path("compliance/subject-requests/<int:request_pk>/", subject_request_views.detail, name="subject-request"),
    path(
        "compliance/subject-requests/<int:request_pk>/package.zip",
        subject_request_views.package,
        name="subject-request-package",
    ),
    path(
        "compliance/subject-requests/<int:request_pk>/erase", subject_request_views.erase, name="subject-request-erase"
    ),
    # --- Evaluations / scorecards (issue 13 §2) ---
    path("conversations/<str:conversation_id>/evaluate/", evaluation_views.evaluate, name="evaluate"),
    path("conversations/<str:conversation_id>/evaluations/start", evaluation_views.start, name="evaluation-start"),
    path(
        "conversations/<str:conversation_id>/evaluations/<int:evaluation_pk>/save",
        evaluation_views.save,
        name="evaluation-save",
    ),
    path(
        "conversations/<str:conversation_id>/evaluations/<int:evaluation_pk>/dispute",
        evaluation_views.dispute,
        name="evaluation-dispute",
    ),
    # --- Work queues (issue 13 §3): "My queue", bulk assign, bulk mark reviewed ---
    path("queue/", work_queue_views.queue, name="work-queue"),
    path("queue/assign", work_queue_views.bulk_assign, name="work-queue-assign"),
    path("queue/reviewed", work_queue_views.bulk_reviewed, name="work-queue-reviewed"),
    # --- end work queues ---
    # --- Quality dashboard (issue 13 §4) ---
    path("quality/", quality_views.quality, name="quality"),
    # --- end quality dashboard ---
]
