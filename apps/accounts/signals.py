"""Security events of staff accounts, written to the audit trail.

Django's auth signals, django-axes and django-otp only tell us through signals, so these
handlers are the one place where a signal leads to a write; each only records an audit event.
"""

from __future__ import annotations

from typing import Any

from axes.signals import user_locked_out
from django.contrib.auth import get_user_model
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.db.models.signals import m2m_changed
from django_otp.forms import otp_verification_failed

from apps.audit.actors import Actor
from apps.audit.services import audit_record_atomic


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


def _role_names(user: Any) -> list[str]:
    return sorted(user.groups.values_list("name", flat=True))


_TRACKED = {"pre_add", "post_add", "pre_remove", "post_remove", "pre_clear", "post_clear"}


def on_groups_changed(
    sender: Any, instance: Any, action: str, reverse: bool, pk_set: set[int] | None, **_: Any
) -> None:
    """Role changes, from either side (user.groups.add(...) or group.user_set.add(...))."""
    if action not in _TRACKED:
        return
    if reverse:  # instance is the group; pk_set holds user ids
        if action == "pre_clear":
            user_ids = list(instance.user_set.values_list("pk", flat=True))
        elif action == "post_clear":
            user_ids = list(getattr(instance, "_audit_roles_before", {}))
        else:
            user_ids = list(pk_set or [])
        users = list(get_user_model().objects.filter(pk__in=user_ids))
        via_group = instance.name
    else:
        users = [instance]
        via_group = None
    if action.startswith("pre_"):
        instance._audit_roles_before = {user.pk: _role_names(user) for user in users}
        return
    before_by_user: dict[int, list[str]] = getattr(instance, "_audit_roles_before", {})
    for user in users:
        before = before_by_user.get(user.pk)
        after = _role_names(user)
        if before == after:
            continue
        audit_record_atomic(
            actor=Actor.from_request(),
            action="staff.roles_changed",
            target=user,
            merchant_id=None,
            before={"roles": before} if before is not None else None,
            after={"roles": after, "via_group": via_group},
        )


def connect() -> None:
    user_logged_in.connect(on_logged_in, dispatch_uid="audit_logged_in")
    user_logged_out.connect(on_logged_out, dispatch_uid="audit_logged_out")
    user_login_failed.connect(on_login_failed, dispatch_uid="audit_login_failed")
    user_locked_out.connect(on_locked_out, dispatch_uid="audit_locked_out")
    otp_verification_failed.connect(on_otp_failed, dispatch_uid="audit_otp_failed")
    m2m_changed.connect(on_groups_changed, sender=get_user_model().groups.through, dispatch_uid="audit_roles")
