from __future__ import annotations

import secrets
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractUser, Group, Permission
from django.db import IntegrityError, transaction
from django_otp.plugins.otp_totp.models import TOTPDevice

from apps.audit.actors import Actor
from apps.audit.services import audit_record

from .roles import ROLE_PERMISSIONS, role_permissions


class UnknownPermission(LookupError):
    pass


def _permissions(names: list[str]) -> set[Permission]:
    found: set[Permission] = set()
    for name in names:
        app_label, _, codename = name.partition(".")
        try:
            found.add(Permission.objects.get(content_type__app_label=app_label, codename=codename))
        except Permission.DoesNotExist as exc:
            raise UnknownPermission(f"Role permission {name!r} does not exist") from exc
    return found


def roles_setup(*, actor: Actor) -> dict[str, list[str]]:
    """Create or update every role group to hold exactly its declared permissions.

    Returns the changes made per role ("+perm" / "-perm"); running it twice changes nothing.
    """
    changes: dict[str, list[str]] = {}
    with transaction.atomic():
        for role, names in role_permissions().items():
            group, created = Group.objects.get_or_create(name=role)
            wanted = _permissions(names)
            current = set(group.permissions.all())
            added, removed = wanted - current, current - wanted
            if not (created or added or removed):
                continue
            group.permissions.add(*added)
            group.permissions.remove(*removed)
            diff = [f"+{p.content_type.app_label}.{p.codename}" for p in added]
            diff += [f"-{p.content_type.app_label}.{p.codename}" for p in removed]
            changes[role] = sorted(diff)
            audit_record(
                actor=actor,
                action="role.created" if created else "role.permissions_changed",
                target=group,
                after={"permissions": sorted(names), "changes": changes[role]},
            )
    return changes


@dataclass(frozen=True)
class CreatedStaffUser:
    user: AbstractUser
    password: str
    totp_uri: str | None


def staff_user_create(
    *, username: str, email: str = "", roles: list[str], superuser: bool = False, with_totp: bool, actor: Actor
) -> CreatedStaffUser:
    """A staff user with a generated password and, if asked, a confirmed TOTP device."""
    unknown = [role for role in roles if role not in ROLE_PERMISSIONS]
    if unknown:
        raise ValueError(f"Unknown roles: {', '.join(unknown)}. Known: {', '.join(ROLE_PERMISSIONS)}")
    password = secrets.token_urlsafe(18)
    try:
        with transaction.atomic():
            user = get_user_model().objects.create_user(
                username=username, email=email, password=password, is_staff=True, is_superuser=superuser
            )
            user.groups.set(Group.objects.filter(name__in=roles))
            totp_uri = None
            if with_totp:
                totp_uri = TOTPDevice.objects.create(user=user, name="default", confirmed=True).config_url
            audit_record(
                actor=actor,
                action="staff.created",
                target=user,
                after={"username": username, "roles": sorted(roles), "superuser": superuser, "totp": with_totp},
            )
    except IntegrityError as exc:
        raise ValueError(f"A user named {username!r} already exists") from exc
    return CreatedStaffUser(user=user, password=password, totp_uri=totp_uri)


def staff_password_reset(*, user: AbstractUser, actor: Actor) -> str:
    password = secrets.token_urlsafe(18)
    with transaction.atomic():
        user.set_password(password)
        user.save(update_fields=["password"])
        audit_record(actor=actor, action="staff.password_reset", target=user)
    return password
