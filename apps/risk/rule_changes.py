"""Maker-checker on live rules: a change that touches a live rule waits for a second person.

A rule is live when its mode is live and it is enabled. Creating a live rule, changing a live
rule (disabling it included), making a rule live (switching it to live mode, enabling a
live-mode rule) and deleting a live rule become a RuleChange proposal; another risk analyst
approves it, and it is applied through the rule services (version +1, audited) in the approval's
transaction, or rejects it. Changes to rules that are not live and stay so apply at once: that
is how a rule is tried in log-only mode first.

A proposal names the rule's version it was made against: once the rule has changed (or gone),
the proposal is superseded when someone tries to approve it, and must be made again. The
proposal row is locked on approval, so two approvers at once apply it once. Expressions are
compiled when proposed and again when applied.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from apps.audit.actors import Actor
from apps.audit.services import audit_record, audit_record_atomic
from apps.core.errors import ConflictError

from .errors import RuleChangeNotAllowed, RuleChangeStale, RuleChangeStateError, SelfApprovalRefused
from .models import Rule, RuleChange, RuleChangeKind, RuleChangeStatus, RuleMode
from .services import (
    RULE_CHANGEABLE,
    refuse_built_in_rename,
    rule_create,
    rule_delete,
    rule_fields_clean,
    rule_update,
)

APPROVE_PERMISSION = "risk.approve_rulechange"
CREATION_DEFAULTS: dict[str, Any] = {"description": "", "mode": RuleMode.LIVE, "enabled": True}


def rule_is_live(fields: dict[str, Any]) -> bool:
    """Whether a rule with these values acts on payments (live mode and enabled)."""
    return fields.get("mode") == RuleMode.LIVE and bool(fields.get("enabled"))


def rule_current_fields(rule: Rule) -> dict[str, Any]:
    return {name: getattr(rule, name) for name in RULE_CHANGEABLE}


@dataclass(frozen=True)
class RuleSubmitted:
    """What became of a submitted change: applied at once (`rule`, None once deleted, and no
    `change`), or a proposal waiting for another risk analyst (`change`, the rule unchanged)."""

    rule: Rule | None
    change: RuleChange | None


def _creation_fields(fields: dict[str, Any]) -> dict[str, Any]:
    cleaned = rule_fields_clean({**CREATION_DEFAULTS, **fields})
    missing = [name for name in ("name", "expression", "outcome") if not cleaned.get(name)]
    if missing:
        raise ValidationError(dict.fromkeys(missing, "This field is required."))
    return cleaned


def _lock_rule(rule: Rule) -> Rule:
    locked = Rule.objects.select_for_update().filter(pk=rule.pk).first()
    if locked is None:
        raise ConflictError("The rule was deleted in the meantime.", code="risk_rule_gone")
    return locked


def _propose(*, kind: str, rule: Rule | None, fields: dict[str, Any], proposed_by: User) -> RuleChange:
    """In the caller's transaction, with `rule` locked (an update or a deletion)."""
    name = fields.get("name")
    if name is not None:
        others = Rule.objects.filter(name=name) if rule is None else Rule.objects.filter(name=name).exclude(pk=rule.pk)
        if others.exists():  # a friendly early answer; the unique name is kept by the database on approval
            raise ValidationError({"name": f"A rule named {name!r} exists already."})
    if kind == RuleChangeKind.DELETE and rule is not None and rule.built_in:
        raise ConflictError("A built-in rule cannot be deleted; disable it instead.", code="risk_rule_built_in")
    change = RuleChange.objects.create(
        rule=rule,
        rule_name=rule.name if rule is not None else str(name),
        kind=kind,
        fields=fields,
        rule_version=rule.version if rule is not None else None,
        proposed_by=proposed_by,
    )
    current = rule_current_fields(rule) if rule is not None else None
    if current is not None and kind == RuleChangeKind.UPDATE:
        current = {name: current[name] for name in fields}
    audit_record(
        actor=Actor.staff(proposed_by),
        action="risk_rule_change.proposed",
        target=change,
        before=current,
        after={
            "kind": kind,
            "rule": rule.public_id if rule is not None else None,
            "rule_version": change.rule_version,
            "fields": fields,
        },
    )
    return change


def rule_change_propose(
    *, kind: str, proposed_by: User, rule: Rule | None = None, fields: dict[str, Any] | None = None
) -> RuleChange:
    """Propose creating a rule (`fields`), changing `rule` (the `fields` that change) or deleting
    it, for another risk analyst's approval. Validated as the change itself is: ValidationError
    for an expression that does not compile or a name that is taken, ConflictError for deleting
    a built-in rule."""
    fields = fields or {}
    if kind not in RuleChangeKind.values:
        raise ValueError(f"Not a kind of rule change: {kind!r}")
    if kind == RuleChangeKind.CREATE:
        if rule is not None:
            raise ValueError("A creation names no rule")
        cleaned = _creation_fields(fields)
        with transaction.atomic():
            return _propose(kind=kind, rule=None, fields=cleaned, proposed_by=proposed_by)
    if rule is None:
        raise ValueError(f"A {kind!r} change needs a rule")
    cleaned = rule_fields_clean(fields) if kind == RuleChangeKind.UPDATE else {}
    with transaction.atomic():
        locked = _lock_rule(rule)
        current = rule_current_fields(locked)
        cleaned = {name: value for name, value in cleaned.items() if current[name] != value}
        if kind == RuleChangeKind.UPDATE and not cleaned:
            raise ValidationError("The proposal changes nothing.")
        return _propose(kind=kind, rule=locked, fields=cleaned, proposed_by=proposed_by)


def rule_change_submit(
    *, kind: str, user: User, rule: Rule | None = None, fields: dict[str, Any] | None = None
) -> RuleSubmitted:
    """A risk analyst's change as the admin submits it: proposed when it touches a live rule
    (before or after it), applied at once otherwise. Decided with the rule locked, so a rule
    made live meanwhile is not changed without approval."""
    actor = Actor.staff(user)
    fields = fields or {}
    if kind == RuleChangeKind.CREATE:
        cleaned = _creation_fields(fields)
        if rule_is_live(cleaned):
            return RuleSubmitted(None, rule_change_propose(kind=kind, fields=cleaned, proposed_by=user))
        return RuleSubmitted(rule_create(**cleaned, actor=actor), None)
    if rule is None:
        raise ValueError(f"A {kind!r} change needs a rule")
    cleaned = rule_fields_clean(fields) if kind == RuleChangeKind.UPDATE else {}
    with transaction.atomic():
        locked = _lock_rule(rule)
        current = rule_current_fields(locked)
        if kind == RuleChangeKind.DELETE:
            if rule_is_live(current):
                return RuleSubmitted(locked, _propose(kind=kind, rule=locked, fields={}, proposed_by=user))
            rule_delete(rule=locked, actor=actor)
            return RuleSubmitted(None, None)
        changes = {name: value for name, value in cleaned.items() if current[name] != value}
        if not changes:
            return RuleSubmitted(locked, None)
        refuse_built_in_rename(locked, changes)
        if rule_is_live(current) or rule_is_live({**current, **changes}):
            return RuleSubmitted(locked, _propose(kind=kind, rule=locked, fields=changes, proposed_by=user))
        return RuleSubmitted(rule_update(rule=locked, changes=changes, actor=actor), None)


def _lock_pending(change: RuleChange, *, verb: str) -> RuleChange:
    locked = RuleChange.objects.select_for_update().get(pk=change.pk)
    if locked.status != RuleChangeStatus.PENDING:
        raise RuleChangeStateError(
            f"Only changes waiting for approval can be {verb}; this one is {locked.get_status_display().lower()}."
        )
    return locked


def _decide(change: RuleChange, *, status: str, user: User, note: str) -> None:
    change.status, change.decided_by, change.decided_at, change.note = status, user, timezone.now(), note[:255]
    change.save(update_fields=["status", "decided_by", "decided_at", "note", "rule"])


def _stale_reason(change: RuleChange, rule: Rule | None) -> str:
    if change.kind == RuleChangeKind.CREATE:
        return ""  # a name taken since is refused by rule_create, as any creation
    if rule is None:
        return f"The rule {change.rule_name!r} was deleted after this change was proposed."
    if rule.version != change.rule_version:
        return (
            f"The rule {rule.name!r} changed after this was proposed (proposed against version "
            f"{change.rule_version}, it is at version {rule.version} now): propose the change again."
        )
    return ""


def _apply(change: RuleChange, rule: Rule | None, actor: Actor) -> Rule | None:
    """Through the rule services: validated again, versioned and audited."""
    if change.kind == RuleChangeKind.CREATE:
        return rule_create(**_creation_fields(change.fields), actor=actor)
    if rule is None:  # _stale_reason says so first
        raise RuleChangeStale(f"The rule {change.rule_name!r} does not exist any more.")
    if change.kind == RuleChangeKind.DELETE:
        rule_delete(rule=rule, actor=actor)
        return None
    return rule_update(rule=rule, changes=change.fields, actor=actor)


def rule_change_approve(*, change: RuleChange, approver: User, note: str = "") -> RuleChange:
    """Another risk analyst approves a pending change: it is applied, and the approval audited,
    in one transaction. The proposer's own attempt is refused (SelfApprovalRefused) and audited;
    a change made against an older version of the rule is superseded (RuleChangeStale)."""
    actor = Actor.staff(approver)
    if not approver.has_perm(APPROVE_PERMISSION):
        raise RuleChangeNotAllowed("Approving changes to live rules needs the Risk analyst role.")
    stale = ""
    try:
        with transaction.atomic():
            locked = _lock_pending(change, verb="approved")
            if locked.proposed_by_id == approver.pk:
                raise SelfApprovalRefused(
                    "A change to a live rule needs an approver other than the person who proposed it."
                )
            rule = Rule.objects.select_for_update().filter(pk=locked.rule_id).first() if locked.rule_id else None
            stale = _stale_reason(locked, rule)
            if stale:
                _decide(locked, status=RuleChangeStatus.SUPERSEDED, user=approver, note=stale)
                audit_record(actor=actor, action="risk_rule_change.superseded", target=locked, after={"reason": stale})
            else:
                applied = _apply(locked, rule, actor)
                # A deleted rule's changes lost their link (SET NULL); a created rule's is set now.
                locked.rule = applied
                _decide(locked, status=RuleChangeStatus.APPROVED, user=approver, note=note)
                subject = applied or rule
                audit_record(
                    actor=actor,
                    action="risk_rule_change.approved",
                    target=locked,
                    after={
                        "kind": locked.kind,
                        "rule": subject.public_id if subject is not None else None,
                        "rule_version": applied.version if applied is not None else None,
                        "proposed_by": locked.proposed_by.get_username(),
                        "fields": locked.fields,
                        "note": note,
                    },
                )
    except SelfApprovalRefused as refused:
        # The refusal rolled its transaction back; the attempt is kept in a transaction of its own.
        # `locked` is the row as read under the lock, unchanged before the refusal.
        audit_record_atomic(
            actor=actor,
            action="risk_rule_change.approval_refused",
            target=locked,
            after={"reason": refused.message, "kind": locked.kind, "fields": locked.fields, "note": note},
        )
        raise
    if stale:
        raise RuleChangeStale(stale)
    return locked


def rule_change_reject(*, change: RuleChange, approver: User, note: str = "") -> RuleChange:
    """A risk analyst rejects a pending change (the proposer may withdraw their own); the rule
    stays as it is."""
    if not approver.has_perm(APPROVE_PERMISSION):
        raise RuleChangeNotAllowed("Rejecting changes to live rules needs the Risk analyst role.")
    with transaction.atomic():
        locked = _lock_pending(change, verb="rejected")
        _decide(locked, status=RuleChangeStatus.REJECTED, user=approver, note=note)
        audit_record(
            actor=Actor.staff(approver),
            action="risk_rule_change.rejected",
            target=locked,
            after={"kind": locked.kind, "rule": locked.rule.public_id if locked.rule else None, "note": note},
        )
    return locked
