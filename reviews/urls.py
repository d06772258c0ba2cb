from __future__ import annotations

from django.contrib.auth import views as auth_views
from django.urls import path

from reviews.views import account, api, audio, charts, escalations, health, metrics, operations, reveal, review, search
from reviews.views import audit_log as audit_log_views
from reviews.views import holds as holds_views

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
    path("conversations/<str:conversation_id>/", review.conversation, name="conversation"),
    path("conversations/<str:conversation_id>/review", review.update_review, name="update-review"),
    path("conversations/<str:conversation_id>/export.<str:fmt>", review.export, name="export"),
    path("conversations/<str:conversation_id>/audio/<int:recording_pk>", audio.stream, name="audio"),
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
]
