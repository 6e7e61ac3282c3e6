"""Security events of staff accounts, written to the audit trail.

Django's auth signals, django-axes and django-otp only tell us through signals, so these
handlers are the one place where a signal leads to a write; each only records an audit event.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from axes.signals import user_locked_out
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.db.models import Model
from django.db.models.signals import m2m_changed
from django_otp.forms import otp_verification_failed

from apps.audit.actors import Actor
from apps.audit.services import audit_record_atomic

from .security_audit import permission_names


def on_logged_in(sender: Any, request: Any, user: Any, **_: Any) -> None:
    audit_record_atomic(actor=Actor.staff(user), action="staff.login", target=user)


def on_logged_out(sender: Any, request: Any, user: Any, **_: Any) -> None:
    if user is not None:
        audit_record_atomic(actor=Actor.staff(user), action="staff.logout", target=user)


def on_login_failed(sender: Any, credentials: dict[str, Any], request: Any = None, **_: Any) -> None:
    username = str(credentials.get("username", ""))[:150]
    audit_record_atomic(actor=Actor.anonymous(username), action="staff.login_failed", after={"username": username})


def on_locked_out(
    sender: Any, request: Any, username: str | None = None, ip_address: str | None = None, **_: Any
) -> None:
    audit_record_atomic(
        actor=Actor.anonymous(username or ""),
        action="staff.locked_out",
        after={"username": username, "ip_address": ip_address},
    )


def on_otp_failed(sender: Any, user: Any, **_: Any) -> None:
    audit_record_atomic(actor=Actor.staff(user), action="staff.otp_failed", target=user)


@dataclass(frozen=True)
class _Membership:
    """A many-to-many relation that grants privileges, audited from either side: the event is
    about the holder (a user, a role), listing what it holds before and after."""

    holder: type[Model]
    field: str  # the holder's many-to-many field
    action: str
    key: str  # the name of the list in the event

    def held(self, holder: Model) -> list[str]:
        related = getattr(holder, self.field)
        if related.model is Permission:
            return permission_names(related)
        return sorted(related.values_list("name", flat=True))


_TRACKED = {"pre_add", "post_add", "pre_remove", "post_remove", "pre_clear", "post_clear"}


def _membership_changed(membership: _Membership) -> Callable[..., None]:
    """user.groups.add(...) or group.user_set.add(...), permissions.set(...) from a role's admin
    form or permission.user_set.add(...) from a shell: each holder whose list changed gets an
    event. m2m signals run inside the transaction of the change."""
    stash = f"_audit_{membership.field}_before"

    def handler(sender: Any, instance: Any, action: str, reverse: bool, pk_set: set[int] | None, **_: Any) -> None:
        if action not in _TRACKED:
            return
        if reverse:  # instance is the other side; pk_set holds holders' ids
            if action == "pre_clear":
                holders = list(membership.holder._default_manager.filter(**{membership.field: instance}))
            else:
                ids = list(getattr(instance, stash, {})) if action == "post_clear" else list(pk_set or [])
                holders = list(membership.holder._default_manager.filter(pk__in=ids))
            via = {f"via_{instance._meta.model_name}": str(instance)}
        else:
            holders, via = [instance], {}
        if action.startswith("pre_"):
            setattr(instance, stash, {holder.pk: membership.held(holder) for holder in holders})
            return
        before_by_holder: dict[Any, list[str]] = getattr(instance, stash, {})
        for holder in holders:
            before, after = before_by_holder.get(holder.pk), membership.held(holder)
            if before == after:
                continue
            audit_record_atomic(
                actor=Actor.from_request(),
                action=membership.action,
                target=holder,
                merchant_id=None,
                before={membership.key: before} if before is not None else None,
                after={membership.key: after, **via},
            )

    return handler


def connect() -> None:
    user_logged_in.connect(on_logged_in, dispatch_uid="audit_logged_in")
    user_logged_out.connect(on_logged_out, dispatch_uid="audit_logged_out")
    user_login_failed.connect(on_login_failed, dispatch_uid="audit_login_failed")
    user_locked_out.connect(on_locked_out, dispatch_uid="audit_locked_out")
    otp_verification_failed.connect(on_otp_failed, dispatch_uid="audit_otp_failed")
    user = get_user_model()
    memberships = [
        (user.groups.through, _Membership(user, "groups", "staff.roles_changed", "roles"), "audit_roles"),
        (
            user.user_permissions.through,
            _Membership(user, "user_permissions", "staff.permissions_changed", "permissions"),
            "audit_user_permissions",
        ),
        (
            Group.permissions.through,
            _Membership(Group, "permissions", "role.permissions_changed", "permissions"),
            "audit_role_permissions",
        ),
    ]
    for through, membership, uid in memberships:
        m2m_changed.connect(_membership_changed(membership), sender=through, dispatch_uid=uid, weak=False)
