from __future__ import annotations

from io import StringIO

import pytest
from django.contrib.auth.models import Group, Permission
from django.core.management import call_command

from apps.accounts import roles
from apps.audit.models import AuditEvent
from tests.accounts.factories import StaffUserFactory

pytestmark = pytest.mark.django_db


def perms(group_name: str) -> set[str]:
    group = Group.objects.get(name=group_name)
    return {f"{p.content_type.app_label}.{p.codename}" for p in group.permissions.select_related("content_type")}


def test_migrate_created_every_role_with_exactly_its_permissions():
    for role, declared in roles.role_permissions().items():
        assert perms(role) == set(declared)
    # The sandboxes are installed in the test settings (not in production, see tests/core/test_settings.py).
    assert set(roles.SANDBOX_OPS_PERMISSIONS) <= perms(roles.OPS)


@pytest.mark.parametrize(
    ("role", "can", "cannot"),
    [
        (roles.AUDITOR, "audit.view_auditevent", "merchants.add_apikey"),
        (roles.OPS, "merchants.revoke_apikey", "audit.view_auditevent"),
        (roles.FINANCE_VIEWER, "merchants.view_merchant", "merchants.change_merchant"),
    ],
)
def test_role_permissions_match_their_names(role, can, cannot):
    user = StaffUserFactory(roles=[role])

    assert user.has_perm(can)
    assert not user.has_perm(cannot)


def test_setup_roles_is_idempotent_and_restores_drifted_permissions():
    out = StringIO()
    call_command("setup_roles", stdout=out)
    assert "already up to date" in out.getvalue()

    stray = Permission.objects.get(codename="delete_merchant")
    Group.objects.get(name=roles.AUDITOR).permissions.add(stray)
    out = StringIO()
    call_command("setup_roles", stdout=out)

    assert "-merchants.delete_merchant" in out.getvalue()
    assert "merchants.delete_merchant" not in perms(roles.AUDITOR)
    assert AuditEvent.objects.filter(action="role.permissions_changed", target_label=roles.AUDITOR).exists()


def test_role_changes_are_audited_from_either_side():
    user = StaffUserFactory()
    auditor, ops = Group.objects.get(name=roles.AUDITOR), Group.objects.get(name=roles.OPS)

    user.groups.add(auditor)
    ops.user_set.add(user)
    ops.user_set.remove(user)
    user.groups.clear()

    changes = [
        (event.before, event.after["roles"])
        for event in AuditEvent.objects.filter(action="staff.roles_changed", target_id=str(user.pk)).order_by("id")
    ]
    assert changes == [
        ({"roles": []}, [roles.AUDITOR]),
        ({"roles": [roles.AUDITOR]}, [roles.AUDITOR, roles.OPS]),
        ({"roles": [roles.AUDITOR, roles.OPS]}, [roles.AUDITOR]),
        ({"roles": [roles.AUDITOR]}, []),
    ]


def test_clearing_a_group_audits_each_member():
    members = [StaffUserFactory(roles=[roles.OPS]) for _ in range(2)]

    Group.objects.get(name=roles.OPS).user_set.clear()

    audited = set(
        AuditEvent.objects.filter(action="staff.roles_changed", after__roles=[]).values_list("target_id", flat=True)
    )
    assert audited == {str(user.pk) for user in members}


def test_no_op_role_changes_are_not_audited():
    user = StaffUserFactory(roles=[roles.OPS])
    before = AuditEvent.objects.filter(action="staff.roles_changed").count()

    user.groups.add(Group.objects.get(name=roles.OPS))

    assert AuditEvent.objects.filter(action="staff.roles_changed").count() == before
