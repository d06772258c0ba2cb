"""Account events as AuditEvents, and what follows from them (ASVS 16.3.1, 16.3.2, 6.3.x, 7.4.x, 8.x).

- Sign-ins, failed sign-ins (the attempted username, never the password), lockouts and sign-outs, from Django's
  and django-axes' signals.
- Privilege changes made anywhere (admin, shell, a command): is_staff, is_superuser, is_active, group and
  permission membership, a user's AccessScope (queues, divisions, its owner). Model signals see every save,
  not only the admin's forms, so none is missed; each event carries the value before and after.
- Credentials: a password change (PASSWORD_CHANGE) or a deactivation revokes the user's API tokens
  (TOKEN_REVOKED); an issued token is TOKEN_ISSUED; enrolling or removing a TOTP device is MFA_CHANGE.

Signal receivers do not get the request. Views that change accounts (the admin, the password and MFA pages)
run inside `acting(request)`, so their events name who did it and from where; anything else is recorded as
done from the command line, with the operating-system user that ran it.
"""

from __future__ import annotations

import getpass
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import timedelta

from axes.signals import user_locked_out
from axes.utils import reset as reset_login_failures
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.db.models.signals import m2m_changed, post_delete, post_save, pre_delete, pre_save
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from reviews import audit, mfa
from reviews.models import AccessScope, ApiToken, AuditEvent

Action = AuditEvent.Action
USER_FLAGS = ("is_active", "is_staff", "is_superuser")
_current_request: ContextVar = ContextVar("reviews_auth_events_request", default=None)


@contextmanager
def acting(request):
    """Attribute the account changes made inside this block to request.user, from request's address."""
    token = _current_request.set(request)
    try:
        yield
    finally:
        _current_request.reset(token)


def _record(action: str, *, object_type: str, object_id, detail: dict, request=None, user=None) -> AuditEvent:
    request = request if request is not None else _current_request.get()
    if request is None:
        detail = {**detail, "via": "command line", "os_user": _os_user()}
    return audit.record_event(
        request=request, action=action, object_type=object_type, object_id=object_id, detail=detail, user=user
    )


def _os_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (some containers)
        return ""


# Sign-in, sign-out, failures and lockouts


def on_logged_in(sender, request, user, **kwargs) -> None:
    # Absolute lifetime: an expiry stored as a date does not move when the session is saved again later.
    request.session.set_expiry(timezone.now() + timedelta(seconds=settings.SESSION_COOKIE_AGE))
    pending = mfa.requires_mfa(user)
    _record(
        Action.LOGIN,
        object_type="auth.user",
        object_id=user.pk,
        detail={"factor": "password", "second_factor": "pending" if pending else "not required"},
        request=request,
        user=user,
    )
    if not pending:
        reset_login_failures(username=user.get_username())


def record_second_factor(request, user, device) -> None:
    """The TOTP code verified: the sign-in is complete, so its failure count starts again."""
    _record(
        Action.LOGIN,
        object_type="auth.user",
        object_id=user.pk,
        detail={"factor": "totp", "device": device.persistent_id},
        request=request,
        user=user,
    )
    reset_login_failures(username=user.get_username())


def on_login_failed(sender, credentials: dict, request=None, **kwargs) -> None:
    # Django has already masked the password in `credentials`; only the username is kept regardless.
    username = str(credentials.get(get_user_model().USERNAME_FIELD) or "")
    factor = credentials.get("factor", "password")
    detail = {
        "username": username[:150],
        "factor": factor,
        "reason": "wrong code" if factor == "totp" else "wrong username or password",
        "locked_out": bool(getattr(request, "axes_locked_out", False)),
        "path": getattr(request, "path", "")[:200],
    }
    if request is not None and _refused_by_standing_lockout(request):
        # Attempts at a locked account prove nothing and change nothing: one row per address counts them.
        audit.record_folded(
            request=request,
            action=Action.LOGIN_FAILED,
            object_type="login",
            object_id=username[:100],
            detail={**detail, "reason": "locked out"},
        )
        return
    _record(Action.LOGIN_FAILED, object_type="login", object_id=username[:100], detail=detail, request=request)


def _refused_by_standing_lockout(request) -> bool:
    # django-axes counts a failure (and sets axes_failures_since_start) unless a lockout already refused it.
    return bool(getattr(request, "axes_locked_out", False)) and getattr(request, "axes_failures_since_start", 0) is None


def on_locked_out(sender, request, username, ip_address, **kwargs) -> None:
    if _refused_by_standing_lockout(request):
        return  # sent again for every attempt during the lockout; on_login_failed folds those
    _record(
        Action.LOCKED_OUT,
        object_type="login",
        object_id=str(username or "")[:100],
        detail={
            "username": str(username or "")[:150],
            "failure_limit": settings.AXES_FAILURE_LIMIT,
            "lockout_minutes": int(settings.AXES_COOLOFF_TIME.total_seconds() // 60),
        },
        request=request,
    )


def on_logged_out(sender, request, user, **kwargs) -> None:
    # A sign-out the vault made itself (the idle timeout, reviews/middleware.py) says why in logout_detail.
    detail = dict(getattr(request, "logout_detail", None) or {})
    if user is not None:
        _record(Action.LOGOUT, object_type="auth.user", object_id=user.pk, detail=detail, request=request, user=user)


# Users: privilege flags, password, deactivation


def on_user_pre_save(sender, instance, raw=False, update_fields=None, **kwargs) -> None:
    if raw or instance.pk is None:
        return
    if update_fields is not None and not set(update_fields) & {*USER_FLAGS, "password"}:
        return  # e.g. last_login at every sign-in
    instance._vault_previous = sender._default_manager.filter(pk=instance.pk).values(*USER_FLAGS, "password").first()


def on_user_post_save(sender, instance, created, raw=False, **kwargs) -> None:
    previous = instance.__dict__.pop("_vault_previous", None)
    if raw:
        return
    if created:  # e.g. createsuperuser: a user born with admin flags was granted them
        previous = {"is_active": True, "is_staff": False, "is_superuser": False, "password": instance.password}
    if previous is None:
        return
    target = instance.get_username()
    for field in USER_FLAGS:
        if previous[field] != getattr(instance, field):
            _record(
                Action.PRIVILEGE_CHANGE,
                object_type="auth.user",
                object_id=instance.pk,
                detail={"target": target, "field": field, "before": previous[field], "after": getattr(instance, field)},
            )
    if _password_changed(previous["password"], instance):
        _record(Action.PASSWORD_CHANGE, object_type="auth.user", object_id=instance.pk, detail={"target": target})
        revoke_tokens(ApiToken.objects.filter(user=instance), reason="password changed")
    if previous["is_active"] and not instance.is_active:
        revoke_tokens(ApiToken.objects.filter(user=instance), reason="user deactivated")


def _password_changed(previous_hash: str, user) -> bool:
    if previous_hash == user.password:
        return False
    # set_password() keeps the new raw password until save; a hasher upgrade at sign-in clears it first
    # (Django: "password hash upgrades shouldn't be considered password changes"). Disabling the password
    # (set_unusable_password) is a change too.
    return user._password is not None or not user.has_usable_password()


# Group, permission and scope membership


def _label(obj) -> str:
    if isinstance(obj, Permission):
        return f"{obj.content_type.app_label}.{obj.codename}"
    if isinstance(obj, Group):
        return obj.name
    return getattr(obj, "genesys_id", None) or str(obj.pk)


# through model -> (owner model, the owner's field, how the change is named in the audit row)
def _tracked_relations() -> dict:
    user_model = get_user_model()
    return {
        user_model.groups.through: (user_model, "groups", "groups"),
        user_model.user_permissions.through: (user_model, "user_permissions", "user_permissions"),
        Group.permissions.through: (Group, "permissions", "permissions"),
        AccessScope.queues.through: (AccessScope, "queues", "scope.queues"),
        AccessScope.divisions.through: (AccessScope, "divisions", "scope.divisions"),
    }


def on_m2m_changed(sender, instance, action, reverse, model, pk_set, **kwargs) -> None:
    if action not in ("pre_add", "pre_remove", "pre_clear", "post_add", "post_remove", "post_clear"):
        return
    owner_model, field, name = _tracked_relations()[sender]
    if action.startswith("pre_"):
        owners = _owners(instance, reverse, pk_set, owner_model, field)
        instance._vault_m2m_before = {owner.pk: (owner, _labels(owner, field)) for owner in owners}
        return
    for owner, before in instance.__dict__.pop("_vault_m2m_before", {}).values():
        after = _labels(owner, field)
        if after != before:
            object_type, object_id, target = _subject(owner)
            _record(
                Action.PRIVILEGE_CHANGE,
                object_type=object_type,
                object_id=object_id,
                detail={"target": target, "field": name, "before": before, "after": after},
            )


def _owners(instance, reverse: bool, pk_set, owner_model, field: str) -> list:
    if not reverse:
        return [instance]
    if pk_set is None:  # clear() from the other side: every owner related to instance
        return list(owner_model._default_manager.filter(**{field: instance}))
    return list(owner_model._default_manager.filter(pk__in=pk_set))


def _labels(owner, field: str) -> list[str]:
    related = getattr(owner, field).all()
    if field in ("permissions", "user_permissions"):
        related = related.select_related("content_type")
    return sorted(_label(item) for item in related)


def _subject(owner) -> tuple[str, object, str]:
    """(object_type, object_id, target) of the audit row: the user whose privileges changed, or the group."""
    if isinstance(owner, Group):
        return "auth.group", owner.pk, owner.name
    user = owner.user if isinstance(owner, AccessScope) else owner
    return "auth.user", user.pk, user.get_username()


def on_group_pre_delete(sender, instance, **kwargs) -> None:
    # Deleting a group drops its memberships without m2m signals: each member loses it, visibly.
    for user in get_user_model()._default_manager.filter(groups=instance):
        before = _labels(user, "groups")
        _record(
            Action.PRIVILEGE_CHANGE,
            object_type="auth.user",
            object_id=user.pk,
            detail={
                "target": user.get_username(),
                "field": "groups",
                "before": before,
                "after": [name for name in before if name != instance.name],
            },
        )


def on_scope_pre_save(sender, instance, raw=False, **kwargs) -> None:
    if raw or instance.pk is None:
        return
    previous_user_id = sender.objects.filter(pk=instance.pk).values_list("user_id", flat=True).first()
    if previous_user_id is not None and previous_user_id != instance.user_id:
        before = get_user_model()._default_manager.filter(pk=previous_user_id).first()
        _record(
            Action.PRIVILEGE_CHANGE,
            object_type="auth.user",
            object_id=instance.user_id,
            detail={
                "target": instance.user.get_username(),
                "field": "scope.user",
                "before": before.get_username() if before else str(previous_user_id),
                "after": instance.user.get_username(),
            },
        )


def on_scope_pre_delete(sender, instance, **kwargs) -> None:
    _record(
        Action.PRIVILEGE_CHANGE,
        object_type="auth.user",
        object_id=instance.user_id,
        detail={
            "target": instance.user.get_username(),
            "field": "scope",
            "before": {"queues": _labels(instance, "queues"), "divisions": _labels(instance, "divisions")},
            "after": None,
        },
    )


# API tokens


def on_token_saved(sender, instance, created, raw=False, **kwargs) -> None:
    if raw or not created:
        return
    _record(
        Action.TOKEN_ISSUED,
        object_type="api_token",
        object_id=instance.pk,
        detail={
            "owner": instance.user.get_username(),
            "name": instance.name,
            "prefix": instance.prefix,
            "scope": instance.scope,
            "expires_at": instance.expires_at.isoformat() if instance.expires_at else None,
        },
    )


def revoke_tokens(tokens, *, reason: str) -> int:
    """Revoke the still-valid tokens among `tokens` (a queryset): each one gets a TOKEN_REVOKED event."""
    now = timezone.now()
    revoked = list(tokens.filter(revoked_at__isnull=True).select_related("user"))
    ApiToken.objects.filter(pk__in=[token.pk for token in revoked]).update(revoked_at=now, revoked_reason=reason)
    for token in revoked:
        _record(
            Action.TOKEN_REVOKED,
            object_type="api_token",
            object_id=token.pk,
            detail={"owner": token.user.get_username(), "prefix": token.prefix, "reason": reason},
        )
    return len(revoked)


# TOTP devices


def on_device_pre_save(sender, instance, raw=False, **kwargs) -> None:
    if raw or instance.pk is None:
        return
    instance._vault_was_confirmed = sender.objects.filter(pk=instance.pk).values_list("confirmed", flat=True).first()


def on_device_post_save(sender, instance, created, raw=False, **kwargs) -> None:
    was_confirmed = instance.__dict__.pop("_vault_was_confirmed", None)
    if raw or bool(was_confirmed) == instance.confirmed or (created and not instance.confirmed):
        return
    _record_device(instance, "enrolled" if instance.confirmed else "disabled")


def on_device_deleted(sender, instance, **kwargs) -> None:
    if instance.confirmed:
        _record_device(instance, "removed")


def _record_device(device, operation: str) -> None:
    _record(
        Action.MFA_CHANGE,
        object_type="auth.user",
        object_id=device.user_id,
        detail={"target": device.user.get_username(), "operation": operation, "device": device.persistent_id},
    )


def connect() -> None:
    """Called once from ReviewsConfig.ready()."""
    user_model = get_user_model()
    receivers = (
        (user_logged_in, on_logged_in, None),
        (user_login_failed, on_login_failed, None),
        (user_logged_out, on_logged_out, None),
        (user_locked_out, on_locked_out, None),
        (pre_save, on_user_pre_save, user_model),
        (post_save, on_user_post_save, user_model),
        (pre_delete, on_group_pre_delete, Group),
        (pre_save, on_scope_pre_save, AccessScope),
        (pre_delete, on_scope_pre_delete, AccessScope),
        (post_save, on_token_saved, ApiToken),
        (pre_save, on_device_pre_save, TOTPDevice),
        (post_save, on_device_post_save, TOTPDevice),
        (post_delete, on_device_deleted, TOTPDevice),
    )
    for signal, receiver, sender in receivers:
        signal.connect(receiver, sender=sender, dispatch_uid=f"reviews.auth_events.{receiver.__name__}")
    for through in _tracked_relations():
        m2m_changed.connect(
            on_m2m_changed, sender=through, dispatch_uid=f"reviews.auth_events.m2m.{through._meta.label}"
        )
