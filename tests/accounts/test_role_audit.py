"""Roles (Django's groups) added, renamed and deleted in the admin are audited with the staff member
who did it, next to the audit of their permissions (role.permissions_changed)."""

from __future__ import annotations

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.auth.models import Group, Permission

from apps.audit.models import AuditEvent
from tests.accounts.factories import StaffUserFactory

pytestmark = pytest.mark.django_db


def events(action: str, role_id: int) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=action, target_id=str(role_id)).order_by("id"))


def approve_refund() -> Permission:
    return Permission.objects.get(content_type__app_label="payments", codename="approve_refund")


def test_a_role_added_in_the_admin_is_audited_with_its_name_and_permissions(admin_client):
    response = admin_client.post(
        "/admin/auth/group/add/", {"name": "Night shift", "permissions": [approve_refund().pk]}
    )

    role = Group.objects.get(name="Night shift")
    assert response.status_code == 302
    [created] = events("role.created", role.pk)
    assert (created.after, created.before) == ({"name": "Night shift"}, None)
    assert (created.actor_type, created.actor_id) == ("staff", str(admin_client.user.pk))
    [granted] = events("role.permissions_changed", role.pk)
    assert granted.after["permissions"] == ["payments.approve_refund"]


def test_renaming_a_role_in_the_admin_is_audited_with_the_name_before_and_after(admin_client):
    role = Group.objects.create(name="Temp")
    StaffUserFactory(roles=["Temp"])

    response = admin_client.post(f"/admin/auth/group/{role.pk}/change/", {"name": "Temporary helpers"})

    role.refresh_from_db()
    assert response.status_code == 302 and role.name == "Temporary helpers"
    [renamed] = events("role.renamed", role.pk)
    assert (renamed.before, renamed.after) == ({"name": "Temp"}, {"name": "Temporary helpers"})
    assert renamed.actor_id == str(admin_client.user.pk)
    assert events("role.created", role.pk) == []


def test_saving_a_role_without_a_new_name_writes_no_role_event(admin_client):
    role = Group.objects.create(name="Temp")

    response = admin_client.post(
        f"/admin/auth/group/{role.pk}/change/", {"name": "Temp", "permissions": [approve_refund().pk]}
    )

    assert response.status_code == 302
    assert events("role.renamed", role.pk) == events("role.created", role.pk) == []
    assert len(events("role.permissions_changed", role.pk)) == 1


def test_a_refused_role_form_changes_nothing_and_audits_nothing(admin_client):
    Group.objects.create(name="Taken")
    role = Group.objects.create(name="Temp")

    response = admin_client.post(f"/admin/auth/group/{role.pk}/change/", {"name": "Taken"})

    role.refresh_from_db()
    assert response.status_code == 200 and role.name == "Temp"
    assert events("role.renamed", role.pk) == []


def test_deleting_roles_with_the_list_action_is_audited_for_each(admin_client):
    """The role's page is covered in test_staff_audit.py; the list's action deletes through the same service."""
    roles = [Group.objects.create(name="Temp one"), Group.objects.create(name="Temp two")]

    response = admin_client.post(
        "/admin/auth/group/",
        {"action": "delete_selected", ACTION_CHECKBOX_NAME: [role.pk for role in roles], "post": "yes"},
    )

    assert response.status_code == 302 and not Group.objects.filter(name__startswith="Temp").exists()
    for role in roles:
        [deleted] = events("role.deleted", role.pk)
        assert deleted.target_label == role.name and deleted.actor_id == str(admin_client.user.pk)
