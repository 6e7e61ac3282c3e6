"""Staff privileges, passwords and security records changed in the admin are audited: flags and
passwords by a before/after snapshot, permission grants (to a user or a role) by their m2m signal,
deletions of users, roles, two-factor devices and login failures with what was deleted. The
password hash is never recorded. Devices and login logs cannot be added or changed by hand."""

from __future__ import annotations

import pytest
from axes.models import AccessAttempt, AccessLog
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.test import Client
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice

from apps.accounts import roles
from apps.audit.models import AuditEvent
from tests.accounts.factories import PASSWORD, StaffUserFactory

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "a-fresh-passphrase-for-2027"


def events(action: str, target=None) -> list[AuditEvent]:
    found = AuditEvent.objects.filter(action=action).order_by("id")
    return list(found.filter(target_id=str(target.pk)) if target is not None else found)


def user_form(user, **changes):
    data = {
        "username": user.username,
        "email": user.email,
        "is_active": "on",
        "is_staff": "on",
        "date_joined_0": "2026-12-01",
        "date_joined_1": "09:00:00",
        "groups": list(user.groups.values_list("pk", flat=True)),
        "user_permissions": list(user.user_permissions.values_list("pk", flat=True)),
    }
    data.update(changes)
    return {key: value for key, value in data.items() if value is not None}


def no_event_holds(password_hash: str) -> bool:
    return all(password_hash not in f"{event.before}{event.after}" for event in AuditEvent.objects.all())


def test_making_someone_superuser_and_deactivating_them_is_audited_with_before_and_after(admin_client):
    user = StaffUserFactory(roles=[roles.FINANCE_VIEWER])

    promoted = admin_client.post(f"/admin/auth/user/{user.pk}/change/", user_form(user, is_superuser="on"))
    deactivated = admin_client.post(
        f"/admin/auth/user/{user.pk}/change/", user_form(user, is_superuser="on", is_active=None)
    )

    assert promoted.status_code == deactivated.status_code == 302
    changes = [(event.before, event.after, event.actor_id) for event in events("staff.privileges_changed", user)]
    assert changes == [
        ({"is_superuser": False}, {"is_superuser": True}, str(admin_client.user.pk)),
        ({"is_active": True}, {"is_active": False}, str(admin_client.user.pk)),
    ]


def test_a_save_that_changes_no_privilege_writes_no_privilege_event(admin_client):
    user = StaffUserFactory()

    assert (
        admin_client.post(f"/admin/auth/user/{user.pk}/change/", user_form(user, email="new@example.com")).status_code
        == 302
    )

    assert events("staff.privileges_changed", user) == []


def test_a_user_added_in_the_admin_is_audited(admin_client):
    response = admin_client.post(
        "/admin/auth/user/add/",
        {"username": "newcomer", "password1": NEW_PASSWORD, "password2": NEW_PASSWORD, "usable_password": "true"},
    )

    newcomer = get_user_model().objects.get(username="newcomer")
    assert response.status_code == 302
    [event] = events("staff.created", newcomer)
    assert event.after == {"is_active": True, "is_staff": False, "is_superuser": False, "usable_password": True}
    assert no_event_holds(newcomer.password)


def test_a_direct_permission_grant_to_a_user_is_audited(admin_client):
    """A Finance operator given payments.approve_refund directly (not through a role) could approve
    refunds: the grant is in the audit trail, as a role change would be."""
    user = StaffUserFactory(roles=[roles.FINANCE_OPERATOR])
    approve = Permission.objects.get(content_type__app_label="payments", codename="approve_refund")

    response = admin_client.post(f"/admin/auth/user/{user.pk}/change/", user_form(user, user_permissions=[approve.pk]))

    assert response.status_code == 302 and user.has_perm("payments.approve_refund")
    [event] = events("staff.permissions_changed", user)
    assert (event.before, event.after) == ({"permissions": []}, {"permissions": ["payments.approve_refund"]})
    assert event.actor_id == str(admin_client.user.pk)


def test_a_grant_from_the_permission_side_is_audited_for_each_user():
    users = [StaffUserFactory(), StaffUserFactory()]
    approve = Permission.objects.get(content_type__app_label="payments", codename="approve_refund")

    approve.user_set.add(*users)

    audited = {event.target_id: event.after for event in events("staff.permissions_changed")}
    assert audited == {
        str(user.pk): {"permissions": ["payments.approve_refund"], "via_permission": str(approve)} for user in users
    }


def test_editing_a_roles_permissions_in_the_admin_is_audited(admin_client):
    role = Group.objects.get(name=roles.FINANCE_OPERATOR)
    had = list(role.permissions.values_list("pk", flat=True))
    last_before = AuditEvent.objects.order_by("-id").values_list("id", flat=True).first()
    approve = Permission.objects.get(content_type__app_label="payments", codename="approve_refund")

    response = admin_client.post(
        f"/admin/auth/group/{role.pk}/change/", {"name": role.name, "permissions": [*had, approve.pk]}
    )

    assert response.status_code == 302
    [event] = [event for event in events("role.permissions_changed", role) if event.id > last_before]
    assert "payments.approve_refund" in event.after["permissions"]
    assert "payments.approve_refund" not in event.before["permissions"]
    assert event.actor_id == str(admin_client.user.pk)


def test_a_password_set_by_an_admin_is_audited_without_the_hash(admin_client):
    user = StaffUserFactory()
    old_hash = user.password

    response = admin_client.post(
        f"/admin/auth/user/{user.pk}/password/",
        {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD, "usable_password": "true"},
    )

    user.refresh_from_db()
    assert response.status_code == 302 and user.check_password(NEW_PASSWORD)
    [event] = events("staff.password_changed", user)
    assert event.after == {"usable_password": True} and event.before is None
    assert no_event_holds(old_hash) and no_event_holds(user.password)


def test_a_refused_password_form_changes_nothing_and_audits_nothing(admin_client):
    user = StaffUserFactory()

    response = admin_client.post(
        f"/admin/auth/user/{user.pk}/password/", {"password1": NEW_PASSWORD, "password2": "something else"}
    )

    user.refresh_from_db()
    assert response.status_code == 200 and user.check_password(PASSWORD)
    assert events("staff.password_changed") == []


def test_changing_ones_own_password_in_the_admin_is_audited(admin_client):
    response = admin_client.post(
        "/admin/password_change/",
        {"old_password": PASSWORD, "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
    )

    me = get_user_model().objects.get(pk=admin_client.user.pk)
    assert response.status_code == 302 and me.check_password(NEW_PASSWORD)
    [event] = events("staff.password_changed", me)
    assert event.actor_id == str(me.pk) and event.after == {"usable_password": True}
    assert no_event_holds(me.password)
    assert admin_client.get("/admin/").status_code == 200  # still signed in


@pytest.mark.parametrize("how", ["page", "action"])
def test_deleting_a_user_is_audited_with_what_they_held(admin_client, how):
    user = StaffUserFactory(roles=[roles.FINANCE_APPROVER], is_superuser=True)
    user_id = user.pk

    if how == "page":
        response = admin_client.post(f"/admin/auth/user/{user_id}/delete/", {"post": "yes"})
    else:
        response = admin_client.post(
            "/admin/auth/user/", {"action": "delete_selected", ACTION_CHECKBOX_NAME: [user_id], "post": "yes"}
        )

    assert response.status_code == 302 and not get_user_model().objects.filter(pk=user_id).exists()
    [event] = AuditEvent.objects.filter(action="staff.deleted", target_id=str(user_id))
    assert event.before["roles"] == [roles.FINANCE_APPROVER] and event.before["is_superuser"] is True
    assert event.target_label == user.username and event.actor_id == str(admin_client.user.pk)


def test_deleting_a_role_is_audited_with_its_members(admin_client):
    role = Group.objects.create(name="Temporary helpers")
    member = StaffUserFactory(roles=["Temporary helpers"])

    assert admin_client.post(f"/admin/auth/group/{role.pk}/delete/", {"post": "yes"}).status_code == 302

    [event] = AuditEvent.objects.filter(action="role.deleted", target_id=str(role.pk))
    assert event.before == {"members": [member.username], "permissions": []}


@pytest.mark.parametrize(
    ("model", "path"), [(TOTPDevice, "otp_totp/totpdevice"), (StaticDevice, "otp_static/staticdevice")]
)
def test_removing_a_two_factor_device_is_audited(admin_client, model, path):
    user = StaffUserFactory()
    device = model.objects.create(user=user, name="lost phone", confirmed=True)

    assert admin_client.post(f"/admin/{path}/{device.pk}/delete/", {"post": "yes"}).status_code == 302

    assert not model.objects.filter(pk=device.pk).exists()
    [event] = events("staff.device_removed", user)
    assert event.before["name"] == "lost phone" and event.actor_id == str(admin_client.user.pk)


def test_devices_are_neither_added_nor_changed_by_hand_and_their_key_is_not_shown(admin_client):
    user = StaffUserFactory()
    device = TOTPDevice.objects.create(user=user, name="phone", confirmed=False)

    assert admin_client.get("/admin/otp_totp/totpdevice/add/").status_code == 403
    page = admin_client.get(f"/admin/otp_totp/totpdevice/{device.pk}/change/")
    refused = admin_client.post(
        f"/admin/otp_totp/totpdevice/{device.pk}/change/", {"user": user.pk, "name": "phone", "confirmed": "on"}
    )

    assert page.status_code == 200 and device.key not in page.content.decode()
    assert refused.status_code == 403
    device.refresh_from_db()
    assert device.confirmed is False


def test_clearing_a_lockout_is_audited(admin_client, settings):
    user = StaffUserFactory()
    stranger = Client()
    for _ in range(settings.AXES_FAILURE_LIMIT):
        stranger.post("/admin/login/", {"username": user.username, "password": "guess-guess-guess"})
    attempt = AccessAttempt.objects.get(username=user.username)

    response = admin_client.post(f"/admin/axes/accessattempt/{attempt.pk}/delete/", {"post": "yes"})

    assert response.status_code == 302 and not AccessAttempt.objects.filter(pk=attempt.pk).exists()
    [event] = events("staff.login_failures_cleared")
    assert event.before == {
        "username": user.username,
        "ip_address": "127.0.0.1",
        "failures": settings.AXES_FAILURE_LIMIT,
    }
    assert event.actor_id == str(admin_client.user.pk)


def test_the_login_log_cannot_be_deleted(admin_client):
    entry = AccessLog.objects.order_by("-id").first()  # the admin's own login

    assert admin_client.post(f"/admin/axes/accesslog/{entry.pk}/delete/", {"post": "yes"}).status_code == 403
    assert AccessLog.objects.filter(pk=entry.pk).exists()
