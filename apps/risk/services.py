"""Writes of risk rules and list entries: one transaction each, audited inside it.

A rule's expression is compiled before it is stored, so a stored rule always compiles; every
change of a rule raises its version (compiled expressions are cached per rule and version).
Built-in rules (shipped by a migration) may be changed or disabled but not deleted. A list entry
is deployment-wide (our staff's, no merchant) or one merchant's (its API); the value is unique
per scope and list.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from ipaddress import ip_network
from typing import TYPE_CHECKING, Any

from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.audit.actors import Actor
from apps.audit.services import audit_record
from apps.core.cards import contains_card_number
from apps.core.errors import ConflictError

from .expressions import compile_expression
from .lists import CARD_NUMBER_REFUSED, normalise_list_value
from .models import ListAction, ListEntry, ListKind, Outcome, Rule, RuleMode
from .selectors import list_entry_find

if TYPE_CHECKING:  # tenancy is named, not imported
    from apps.merchants.models import Merchant

RULE_CHANGEABLE = ("name", "description", "expression", "outcome", "mode", "enabled")
LIST_ENTRY_CHANGEABLE = ("reason", "expires_at")

# An allow entry skips every rule: a range wider than this would switch risk off for a crowd.
MAX_ALLOWED_RANGE = 256


def _rule_fields(rule: Rule) -> dict[str, Any]:
    return {name: getattr(rule, name) for name in (*RULE_CHANGEABLE, "version")}


def _check_choice(value: str, choices: list[str], field: str) -> None:
    if value not in choices:
        raise ValidationError({field: f"{value!r} is not one of {', '.join(choices)}."})


def _name_taken(name: str) -> ValidationError:
    return ValidationError({"name": f"A rule named {name!r} exists already."})


def rule_fields_clean(fields: dict[str, Any]) -> dict[str, Any]:
    """`fields` of a rule as they would be stored (name and expression stripped); ValueError for a
    field that cannot change, ValidationError when the expression does not compile or a choice is
    not one."""
    unknown = set(fields) - set(RULE_CHANGEABLE)
    if unknown:
        raise ValueError(f"A rule cannot change {', '.join(sorted(unknown))} here")
    cleaned = dict(fields)
    if "name" in cleaned:
        cleaned["name"] = str(cleaned["name"]).strip()
    if "expression" in cleaned:
        cleaned["expression"] = str(cleaned["expression"]).strip()
        compile_expression(cleaned["expression"])
    if "outcome" in cleaned:
        _check_choice(cleaned["outcome"], Outcome.values, "outcome")
    if "mode" in cleaned:
        _check_choice(cleaned["mode"], RuleMode.values, "mode")
    return cleaned


def rule_create(
    *,
    name: str,
    expression: str,
    outcome: str,
    mode: str = RuleMode.LIVE,
    description: str = "",
    enabled: bool = True,
    actor: Actor,
) -> Rule:
    """A new rule; ValidationError when its expression does not compile or its name is taken."""
    compile_expression(expression)
    _check_choice(outcome, Outcome.values, "outcome")
    _check_choice(mode, RuleMode.values, "mode")
    try:
        with transaction.atomic():
            rule = Rule.objects.create(
                name=name.strip(),
                description=description,
                expression=expression.strip(),
                outcome=outcome,
                mode=mode,
                enabled=enabled,
            )
            audit_record(actor=actor, action="risk_rule.created", target=rule, after=_rule_fields(rule))
    except IntegrityError:
        raise _name_taken(name) from None
    return rule


def refuse_built_in_rename(rule: Rule, changed: Iterable[str]) -> None:
    """A built-in rule keeps its name: `built_in_rules_install` finds it by name after every
    migrate, and one renamed would be installed again (live, with its first thresholds)."""
    if rule.built_in and "name" in changed:
        raise ValidationError({"name": "A built-in rule keeps its name; change its description instead."})


def rule_update(*, rule: Rule, changes: dict[str, Any], actor: Actor) -> Rule:
    """Change a rule's name, description, expression, outcome, mode or whether it is enabled.
    A real change raises its version by one and is audited; no change changes nothing."""
    changes = rule_fields_clean(changes)
    try:
        with transaction.atomic():
            locked = Rule.objects.select_for_update().get(pk=rule.pk)
            before = _rule_fields(locked)
            changed = [name for name, value in changes.items() if before[name] != value]
            if not changed:
                return locked
            refuse_built_in_rename(locked, changed)
            for name in changed:
                setattr(locked, name, changes[name])
            locked.version = before["version"] + 1
            locked.save(update_fields=[*changed, "version", "updated_at"])
            audit_record(
                actor=actor,
                action="risk_rule.updated",
                target=locked,
                before={name: before[name] for name in (*changed, "version")},
                after={name: getattr(locked, name) for name in (*changed, "version")},
            )
    except IntegrityError:
        raise _name_taken(changes.get("name", "")) from None
    return locked


def rule_delete(*, rule: Rule, actor: Actor) -> None:
    """Delete a rule of our staff's own; a built-in rule is disabled instead (ConflictError)."""
    with transaction.atomic():
        locked = Rule.objects.select_for_update().get(pk=rule.pk)
        if locked.built_in:
            raise ConflictError("A built-in rule cannot be deleted; disable it instead.", code="risk_rule_built_in")
        audit_record(actor=actor, action="risk_rule.deleted", target=locked, before=_rule_fields(locked))
        locked.delete()


def _entry_fields(entry: ListEntry) -> dict[str, Any]:
    return {
        "merchant": entry.merchant.public_id if entry.merchant else None,
        "kind": entry.kind,
        "action": entry.action,
        "value": entry.value,
        "reason": entry.reason,
        "expires_at": entry.expires_at,
    }


def check_allowed_range(kind: str, action: str, normalised: str) -> None:
    """An IP allow entry covers at most a /24: allowing more would exempt a whole network."""
    if kind == ListKind.IP and action == ListAction.ALLOW and ip_network(normalised).num_addresses > MAX_ALLOWED_RANGE:
        raise ValidationError({"value": f"An allow entry covers at most {MAX_ALLOWED_RANGE} addresses (a /24)."})


class ListEntryExists(ValidationError):
    """The value is on that list of that scope already: `entry` is the one there."""

    def __init__(self, entry: ListEntry) -> None:
        super().__init__({"value": f"{entry.value} is on the {entry.action} list of {entry.kind} already."})
        self.entry = entry


def list_entry_add(
    *,
    kind: str,
    action: str,
    value: str,
    reason: str = "",
    expires_at: datetime | None = None,
    merchant: Merchant | None = None,
    created_by: User | None = None,
    actor: Actor,
) -> ListEntry:
    """Put a value on the allow or block list of its kind (normalised first): the deployment's
    (no merchant) or one merchant's. ValidationError when it is not a value of that kind, holds a
    card number (as does the reason), expires already, or is on that list already
    (ListEntryExists, naming the entry there)."""
    _check_choice(kind, ListKind.values, "kind")
    _check_choice(action, ListAction.values, "action")
    try:
        normalised = normalise_list_value(kind, value)
    except ValidationError as exc:
        raise ValidationError({"value": exc.messages}) from None
    if contains_card_number(reason):
        raise ValidationError({"reason": CARD_NUMBER_REFUSED})
    if expires_at is not None and expires_at <= timezone.now():
        raise ValidationError({"expires_at": "An entry must expire in the future."})
    check_allowed_range(kind, action, normalised)
    try:
        with transaction.atomic():
            entry = ListEntry.objects.create(
                merchant=merchant,
                kind=kind,
                action=action,
                value=normalised,
                reason=reason,
                expires_at=expires_at,
                created_by=created_by,
            )
            audit_record(actor=actor, action="risk_list_entry.added", target=entry, after=_entry_fields(entry))
    except IntegrityError:
        existing = list_entry_find(merchant=merchant, kind=kind, action=action, value=normalised)
        if existing is None:  # removed again in the meantime: say what happened, do not retry
            raise ValidationError({"value": f"{normalised} was on the {action} list of {kind}."}) from None
        raise ListEntryExists(existing) from None
    return entry


def list_entry_add_or_get(
    *,
    merchant: Merchant,
    kind: str,
    action: str,
    value: str,
    reason: str = "",
    expires_at: datetime | None = None,
    actor: Actor,
) -> tuple[ListEntry, bool]:
    """A merchant's new entry (True), or its entry with that value on that list already, unchanged:
    its reason and expiry stay as they were (False). Adding is refused as list_entry_add refuses it."""
    try:
        entry = list_entry_add(
            merchant=merchant, kind=kind, action=action, value=value, reason=reason, expires_at=expires_at, actor=actor
        )
    except ListEntryExists as exists:
        return exists.entry, False
    return entry, True


def list_entry_update(*, entry: ListEntry, changes: dict[str, Any], actor: Actor) -> ListEntry:
    """Change an entry's reason or expiry (to change its value, remove it and add another)."""
    unknown = set(changes) - set(LIST_ENTRY_CHANGEABLE)
    if unknown:
        raise ValueError(f"A list entry cannot change {', '.join(sorted(unknown))} here")
    with transaction.atomic():
        locked = ListEntry.objects.select_for_update().get(pk=entry.pk)
        before = _entry_fields(locked)
        changed = [name for name, value in changes.items() if before[name] != value]
        if not changed:
            return locked
        for name in changed:
            setattr(locked, name, changes[name])
        locked.save(update_fields=changed)
        audit_record(
            actor=actor,
            action="risk_list_entry.updated",
            target=locked,
            before={name: before[name] for name in changed},
            after={name: getattr(locked, name) for name in changed},
        )
    return locked


def list_entry_remove(*, entry: ListEntry, actor: Actor) -> None:
    with transaction.atomic():
        locked = ListEntry.objects.select_for_update().filter(pk=entry.pk).first()
        if locked is None:
            return  # removed already (by someone else, or a second click)
        audit_record(actor=actor, action="risk_list_entry.removed", target=locked, before=_entry_fields(locked))
        locked.delete()
