from __future__ import annotations

import secrets
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractUser, Group, Permission
from django.db import IntegrityError, transaction
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from apps.audit.actors import Actor
from apps.audit.services import audit_record

from .roles import ROLE_PERMISSIONS, role_permissions
from .security_audit import PRIVILEGES, staff_user_audited


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
            # The permissions added and removed are audited by the m2m signal (role.permissions_changed).
            if created:
                audit_record(actor=actor, action="role.created", target=group, after={"permissions": sorted(names)})
    return changes


def role_save(*, role: Group, actor: Actor) -> None:
    """Save a role made or renamed by hand (the admin's role form), audited in the same transaction:
    role.created with its name, role.renamed with the name before and after. Its permissions are
    audited by the m2m signal as they are set (role.permissions_changed)."""
    with transaction.atomic():
        name_before = None  # a new role
        if role.pk is not None:
            stored = Group.objects.select_for_update().filter(pk=role.pk)
            name_before = stored.values_list("name", flat=True).first()
        role.save()
        if name_before is None:
            audit_record(actor=actor, action="role.created", target=role, after={"name": role.name})
        elif name_before != role.name:
            audit_record(
                actor=actor, action="role.renamed", target=role, before={"name": name_before}, after={"name": role.name}
            )


RECOVERY_CODES = 10


@dataclass(frozen=True)
class CreatedStaffUser:
    user: AbstractUser
    password: str
    totp_uri: str | None
    recovery_codes: tuple[str, ...] = ()


@dataclass(frozen=True)
class TotpEnrolment:
    uri: str  # otpauth://… for the authenticator app (QR code)
    recovery_codes: tuple[str, ...]  # each works once, in place of a code from the app


def _enrol(user: AbstractUser) -> tuple[TotpEnrolment, int]:
    """Inside a transaction: replace the user's devices with one TOTP device and fresh recovery
    codes. Returns the enrolment and how many devices it replaced."""
    replaced = TOTPDevice.objects.filter(user=user).delete()[0]
    StaticDevice.objects.filter(user=user).delete()
    device = TOTPDevice.objects.create(user=user, name="default", confirmed=True)
    recovery = StaticDevice.objects.create(user=user, name="recovery codes", confirmed=True)
    codes = tuple(StaticToken.random_token() for _ in range(RECOVERY_CODES))
    StaticToken.objects.bulk_create([StaticToken(device=recovery, token=code) for code in codes])
    return TotpEnrolment(uri=str(device.config_url), recovery_codes=codes), replaced


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
            enrolment = _enrol(user)[0] if with_totp else None
            audit_record(
                actor=actor,
                action="staff.created",
                target=user,
                after={"username": username, "roles": sorted(roles), "superuser": superuser, "totp": with_totp},
            )
    except IntegrityError as exc:
        raise ValueError(f"A user named {username!r} already exists") from exc
    return CreatedStaffUser(
        user=user,
        password=password,
        totp_uri=enrolment.uri if enrolment else None,
        recovery_codes=enrolment.recovery_codes if enrolment else (),
    )


def staff_password_reset(*, user: AbstractUser, actor: Actor) -> str:
    password = secrets.token_urlsafe(18)
    with transaction.atomic():
        user.set_password(password)
        user.save(update_fields=["password"])
        audit_record(actor=actor, action="staff.password_reset", target=user)
    return password


def staff_superuser_create(*, username: str, email: str, password: str | None, actor: Actor) -> AbstractUser:
    """A superuser made from the shell (manage.py createsuperuser; its input checked by the command),
    audited as staff.created in the transaction that creates it, as the admin's "add user" is: its
    privileges and whether its password is usable, never the password or its hash. No password:
    an unusable one (set it with manage.py changepassword)."""
    try:
        with transaction.atomic():
            user = get_user_model().objects.create_superuser(username=username, email=email, password=password)
            created = {name: getattr(user, name) for name in PRIVILEGES}
            audit_record(
                actor=actor,
                action="staff.created",
                target=user,
                after={**created, "usable_password": user.has_usable_password()},
            )
    except IntegrityError as exc:
        raise ValueError(f"A user named {username!r} already exists") from exc
    return user


def staff_password_set(*, user: AbstractUser, password: str, actor: Actor) -> None:
    """Set `user`'s password (checked by the caller), audited as staff.password_changed in the same
    transaction: only that it changed, never the password or its hash."""
    with staff_user_audited(user=user, actor=actor):
        user.set_password(password)
        user.save(update_fields=["password"])


def staff_totp_enrol(*, user: AbstractUser, actor: Actor) -> TotpEnrolment:
    """A new authenticator device and recovery codes for `user`, replacing what they had (a lost
    phone, a new member of staff). Shown once (QR code and codes), stored nowhere else in clear."""
    with transaction.atomic():
        enrolment, replaced = _enrol(user)
        audit_record(actor=actor, action="staff.totp_enrolled", target=user, after={"replaced_devices": replaced})
    return enrolment
