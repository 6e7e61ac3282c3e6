"""The audit of what staff change in the admin about staff security: a user's privileges and
password (a before/after snapshot of the user's row around the change), and deletions of users,
roles, two-factor devices and login failures (each deleted record described in its audit event).
Both write the events inside the transaction that makes the change. Role and permission
memberships are audited by their m2m signals (signals.py), whichever way they change."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from axes.models import AccessAttempt
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import is_password_usable
from django.contrib.auth.models import AbstractUser, Group
from django.db import models, transaction
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice

from apps.audit.actors import Actor
from apps.audit.services import audit_record

PRIVILEGES = ("is_active", "is_staff", "is_superuser")


@dataclass(frozen=True)
class _StaffState:
    privileges: dict[str, bool]
    password_hash: str  # compared, never recorded


def _state(pk: Any) -> _StaffState | None:
    """The user's row as stored, locked until the transaction ends (None: no such user)."""
    if pk is None:
        return None
    row = get_user_model().objects.select_for_update().filter(pk=pk).values(*PRIVILEGES, "password").first()
    if row is None:
        return None
    return _StaffState(privileges={name: row[name] for name in PRIVILEGES}, password_hash=row["password"])


def _events(before: _StaffState | None, after: _StaffState | None) -> list[dict[str, Any]]:
    if after is None:
        return []  # a deletion: audited by records_delete, which knows what was deleted
    if before is None:
        created = {**after.privileges, "usable_password": is_password_usable(after.password_hash)}
        return [{"action": "staff.created", "after": created}]
    events = []
    changed = [name for name in PRIVILEGES if before.privileges[name] != after.privileges[name]]
    if changed:
        events.append(
            {
                "action": "staff.privileges_changed",
                "before": {name: before.privileges[name] for name in changed},
                "after": {name: after.privileges[name] for name in changed},
            }
        )
    if before.password_hash != after.password_hash:
        events.append(
            {"action": "staff.password_changed", "after": {"usable_password": is_password_usable(after.password_hash)}}
        )
    return events


@contextmanager
def staff_user_audited(*, user: AbstractUser, actor: Actor) -> Iterator[None]:
    """One transaction around a change to `user` (the admin's user form, a password form): what the
    block changed of the user's privileges or password is audited inside it, the password only as
    changed. The user's row is locked from the first read, so the snapshot is what was replaced."""
    with transaction.atomic():
        before = _state(user.pk)
        yield
        for event in _events(before, _state(user.pk)):
            audit_record(actor=actor, target=user, **event)


@dataclass(frozen=True)
class _Deletion:
    action: str
    target: Callable[[Any], models.Model | None]
    before: Callable[[Any], dict[str, Any]]


def permission_names(permissions: Any) -> list[str]:
    """'app_label.codename' of each permission in the queryset, sorted."""
    pairs = permissions.values_list("content_type__app_label", "codename")
    return sorted(f"{app}.{codename}" for app, codename in pairs)


def _device(device: Any) -> dict[str, Any]:
    return {"device": device._meta.verbose_name, "name": device.name, "confirmed": device.confirmed}


_DELETIONS: dict[type[models.Model], _Deletion] = {
    get_user_model(): _Deletion(
        "staff.deleted",
        target=lambda user: user,
        before=lambda user: {
            **{name: getattr(user, name) for name in PRIVILEGES},
            "roles": sorted(user.groups.values_list("name", flat=True)),
            "permissions": permission_names(user.user_permissions),
        },
    ),
    Group: _Deletion(
        "role.deleted",
        target=lambda group: group,
        before=lambda group: {
            "members": sorted(group.user_set.values_list(get_user_model().USERNAME_FIELD, flat=True)),
            "permissions": permission_names(group.permissions),
        },
    ),
    TOTPDevice: _Deletion("staff.device_removed", target=lambda device: device.user, before=_device),
    StaticDevice: _Deletion("staff.device_removed", target=lambda device: device.user, before=_device),
    AccessAttempt: _Deletion(
        "staff.login_failures_cleared",
        target=lambda attempt: None,
        before=lambda attempt: {
            "username": attempt.username,
            "ip_address": attempt.ip_address,
            "failures": attempt.failures_since_start,
        },
    ),
}


def records_delete(*, records: Iterable[models.Model], actor: Actor) -> int:
    """Delete staff security records (users, roles, two-factor devices, login failures: deleting
    those unlocks the account), each audited with what it was, in one transaction."""
    deleted = 0
    with transaction.atomic():
        for record in records:
            deletion = _DELETIONS[type(record)]
            # Before the delete: the event names the record by its id, which delete() clears.
            audit_record(
                actor=actor, action=deletion.action, target=deletion.target(record), before=deletion.before(record)
            )
            record.delete()
            deleted += 1
    return deleted
