"""Privilege changes are audit events with the value before and after (ASVS 16.3.3 / 8.x): staff, superuser and
active flags, group and permission membership, access scopes; from the admin (who, from where) or anywhere
else (the shell, a command: recorded as such)."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group, Permission, User

from reviews.models import AccessScope, ApiToken, AuditEvent, Division, Queue
from tests.fixtures.accounts import sign_in

pytestmark = pytest.mark.django_db
Action = AuditEvent.Action


@pytest.fixture
def root(db):
    return User.objects.create_user("root", is_staff=True, is_superuser=True)


@pytest.fixture
def admin_client(root):
    return sign_in(root)


@pytest.fixture
def alice(db):
    return User.objects.create_user("alice", password="pw")


@pytest.fixture
def groups(db):
    return {name: Group.objects.get_or_create(name=name)[0] for name in ("Reviewer", "Supervisor", "Compliance")}


def user_form(user: User, **changes) -> dict:
    """The admin's user change form as the browser posts it, with `changes` applied."""
    values = {
        "username": user.username,
        "first_name": "",
        "last_name": "",
        "email": "",
        "is_active": user.is_active,
        "is_staff": user.is_staff,
        "is_superuser": user.is_superuser,
        "groups": [group.pk for group in user.groups.all()],
        "user_permissions": [],
        "date_joined_0": user.date_joined.strftime("%Y-%m-%d"),
        "date_joined_1": user.date_joined.strftime("%H:%M:%S"),
    } | changes
    return {key: value for key, value in values.items() if value is not False}


def privilege_events(**filters):
    return list(AuditEvent.objects.filter(action=Action.PRIVILEGE_CHANGE, **filters).order_by("at", "pk"))


@pytest.mark.parametrize("flag", ["is_staff", "is_superuser"])
def test_it_audits_granting_an_admin_flag_in_the_admin(admin_client, root, alice, flag):
    answer = admin_client.post(
        f"/admin/auth/user/{alice.pk}/change/", user_form(alice, **{flag: True}), REMOTE_ADDR="198.51.100.8"
    )
    assert answer.status_code == 302, answer.content[:2000]
    (event,) = privilege_events(detail__field=flag, object_id=str(alice.pk))
    assert (event.user, event.ip, event.object_type, event.object_id) == (
        root,
        "198.51.100.8",
        "auth.user",
        str(alice.pk),
    )
    assert event.detail == {"target": "alice", "field": flag, "before": False, "after": True}


def test_it_audits_a_deactivation_and_revokes_the_tokens(admin_client, root, alice):
    ApiToken.issue(user=alice)
    admin_client.post(f"/admin/auth/user/{alice.pk}/change/", user_form(alice, is_active=False))
    (event,) = privilege_events(detail__field="is_active")
    assert event.user == root and (event.detail["before"], event.detail["after"]) == (True, False)
    revoked = AuditEvent.objects.get(action=Action.TOKEN_REVOKED)
    assert revoked.user == root and revoked.detail["reason"] == "user deactivated"


def test_it_audits_group_membership_changed_in_the_admin(admin_client, root, alice, groups):
    alice.groups.add(groups["Reviewer"])
    AuditEvent.objects.all().delete()
    admin_client.post(
        f"/admin/auth/user/{alice.pk}/change/",
        user_form(alice, groups=[groups["Supervisor"].pk, groups["Compliance"].pk]),
    )
    events = privilege_events(detail__field="groups")
    assert events and all(event.user == root for event in events)
    assert events[0].detail["before"] == ["Reviewer"]
    assert events[-1].detail["after"] == ["Compliance", "Supervisor"]


def test_it_audits_membership_changed_from_the_shell_on_either_side(alice, groups):
    alice.groups.add(groups["Reviewer"])
    groups["Compliance"].user_set.add(alice)
    groups["Reviewer"].user_set.clear()
    first, second, third = privilege_events(detail__field="groups")
    assert (first.detail["before"], first.detail["after"]) == ([], ["Reviewer"])
    assert (second.detail["before"], second.detail["after"]) == (["Reviewer"], ["Compliance", "Reviewer"])
    assert (third.detail["before"], third.detail["after"]) == (["Compliance", "Reviewer"], ["Compliance"])
    assert all(
        e.user is None and e.detail["via"] == "command line" and e.object_id == str(alice.pk)
        for e in (first, second, third)
    )


def test_it_audits_permissions_given_to_a_group(groups):
    permission = Permission.objects.get(codename="change_user")
    groups["Supervisor"].permissions.add(permission)
    (event,) = privilege_events(detail__field="permissions")
    assert event.object_type == "auth.group" and event.detail["target"] == "Supervisor"
    assert event.detail["after"] == ["auth.change_user"]


def test_it_audits_an_access_scope_change_with_before_and_after(admin_client, root, alice):
    q1, q2 = Queue.objects.create(genesys_id="q-1"), Queue.objects.create(genesys_id="q-2")
    d1 = Division.objects.create(genesys_id="d-1")
    scope = AccessScope.objects.create(user=alice)
    scope.queues.add(q1)
    AuditEvent.objects.all().delete()
    answer = admin_client.post(
        f"/admin/reviews/accessscope/{scope.pk}/change/", {"user": alice.pk, "queues": [q2.pk], "divisions": [d1.pk]}
    )
    assert answer.status_code == 302
    queues = privilege_events(detail__field="scope.queues")
    divisions = privilege_events(detail__field="scope.divisions")
    assert queues[0].detail["before"] == ["q-1"] and queues[-1].detail["after"] == ["q-2"]
    assert divisions[-1].detail == {"target": "alice", "field": "scope.divisions", "before": [], "after": ["d-1"]}
    assert {event.user for event in queues + divisions} == {root}
    assert {event.object_id for event in queues + divisions} == {str(alice.pk)}


def test_it_audits_a_scope_handed_to_another_user_and_a_deleted_one(alice):
    bob = User.objects.create_user("bob")
    scope = AccessScope.objects.create(user=alice)
    scope.queues.add(Queue.objects.create(genesys_id="q-1"))
    scope.user = bob
    scope.save()
    (moved,) = privilege_events(detail__field="scope.user")
    assert (moved.object_id, moved.detail["before"], moved.detail["after"]) == (str(bob.pk), "alice", "bob")
    scope.delete()
    (deleted,) = privilege_events(detail__field="scope")
    assert deleted.detail["before"] == {"queues": ["q-1"], "divisions": []} and deleted.detail["after"] is None


def test_it_audits_a_password_an_admin_sets_and_revokes_the_tokens(admin_client, root, alice):
    ApiToken.issue(user=alice)
    answer = admin_client.post(
        f"/admin/auth/user/{alice.pk}/password/",
        {"password1": "a new long passphrase", "password2": "a new long passphrase", "usable_password": "true"},
    )
    assert answer.status_code == 302
    event = AuditEvent.objects.get(action=Action.PASSWORD_CHANGE)
    assert event.user == root and event.detail["target"] == "alice"
    assert AuditEvent.objects.get(action=Action.TOKEN_REVOKED).detail["reason"] == "password changed"


def test_it_audits_an_admin_created_from_the_command_line():
    User.objects.create_superuser("boss", password="pw")
    events = {event.detail["field"]: event for event in privilege_events()}
    assert set(events) == {"is_staff", "is_superuser"}
    assert (events["is_superuser"].detail["before"], events["is_superuser"].detail["after"]) == (False, True)
    assert events["is_superuser"].detail["via"] == "command line"


def test_it_audits_the_members_of_a_deleted_group(alice, groups):
    alice.groups.add(groups["Compliance"], groups["Reviewer"])
    AuditEvent.objects.all().delete()
    groups["Compliance"].delete()
    (event,) = privilege_events()
    assert (event.detail["before"], event.detail["after"]) == (["Compliance", "Reviewer"], ["Reviewer"])


def test_it_does_not_record_a_save_that_changes_no_privilege(alice):
    alice.first_name = "Alice"
    alice.save()
    alice.save(update_fields=["last_login"])
    assert not privilege_events()
