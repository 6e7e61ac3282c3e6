from __future__ import annotations

from typing import Any

from django.db import connection, models, transaction
from django.utils import timezone

from apps.core.context import current_context

from .actors import Actor
from .chain import GENESIS_HASH, canonical, compute_hash, to_json_value
from .models import AuditEvent

# pg_advisory_xact_lock key that serialises appends to the chain ("AUDT").
AUDIT_CHAIN_LOCK_ID = 0x41554454


class AuditOutsideTransaction(RuntimeError):
    pass


def _target_fields(target: models.Model | None) -> dict[str, str]:
    if target is None:
        return {"target_type": "", "target_id": "", "target_label": ""}
    return {
        "target_type": target._meta.label_lower,
        "target_id": str(getattr(target, "public_id", None) or target.pk),
        "target_label": str(target)[:255],
    }


def _append_postgresql(fields: dict[str, Any]) -> AuditEvent:
    """One statement: lock the chain, read its head (audit_chain_head(), migration 0003, reads
    with a fresh snapshot after the lock), compute the hash and insert."""
    event = AuditEvent(**fields)
    by_attname = {field.attname: field for field in AuditEvent._meta.concrete_fields}
    columns = [by_attname[name] for name in fields]
    values = [field.get_db_prep_save(getattr(event, field.attname), connection) for field in columns]
    column_sql = ", ".join(connection.ops.quote_name(field.column or field.attname) for field in columns)
    placeholders = ", ".join(["%s"] * len(columns))
    sql = (
        f"INSERT INTO {AuditEvent._meta.db_table} ({column_sql}, prev_hash, hash) "  # noqa: S608 - our own names
        f"SELECT {placeholders}, chain.head, "
        "encode(sha256(convert_to(chain.head || E'\\n' || %s, 'UTF8')), 'hex') "
        "FROM (SELECT COALESCE(audit_chain_head(%s), %s) AS head) AS chain "
        "RETURNING id, prev_hash, hash"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [*values, canonical(fields), AUDIT_CHAIN_LOCK_ID, GENESIS_HASH])
        event.pk, event.prev_hash, event.hash = cursor.fetchone()
    event._state.adding = False
    return event


def _append_python(fields: dict[str, Any]) -> AuditEvent:
    # SQLite (quickstart): transactions take the database write lock at BEGIN (IMMEDIATE).
    prev_hash = AuditEvent.objects.order_by("-id").values_list("hash", flat=True).first() or GENESIS_HASH
    return AuditEvent.objects.create(**fields, prev_hash=prev_hash, hash=compute_hash(fields, prev_hash))


def _fields(
    *,
    actor: Actor,
    action: str,
    target: models.Model | None,
    merchant_id: int | None,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
) -> dict[str, Any]:
    if merchant_id is None and target is not None:
        merchant_id = getattr(target, "merchant_id", None)
        if merchant_id is None and target._meta.label_lower == "merchants.merchant":
            merchant_id = target.pk
    context = current_context()
    fields: dict[str, Any] = {
        "occurred_at": timezone.now(),
        "actor_type": actor.type,
        "actor_id": actor.id,
        "actor_label": actor.label[:255],
        "merchant_id": merchant_id,
        "action": action,
        **_target_fields(target),
        "before": to_json_value(before) if before is not None else None,
        "after": to_json_value(after) if after is not None else None,
        "correlation_id": (context.request_id if context else "")[:128],
        "ip_address": (context.ip_address or "") if context else "",
        "user_agent": (context.user_agent if context else "")[:512],
    }
    return fields


def audit_record(
    *,
    actor: Actor,
    action: str,
    target: models.Model | None = None,
    merchant_id: int | None = None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> AuditEvent:
    """Append an audit event inside the caller's transaction.

    The caller's change and its audit row commit or roll back together. Appends are
    serialised by a transaction-scoped advisory lock (PostgreSQL) or by SQLite's write lock,
    so the chain never forks; keep the call near the end of the transaction. On PostgreSQL the
    lock, the head, the hash and the insert are one statement.
    """
    if not connection.in_atomic_block:
        raise AuditOutsideTransaction("audit_record must run inside the transaction that makes the change")
    fields = _fields(actor=actor, action=action, target=target, merchant_id=merchant_id, before=before, after=after)
    if connection.vendor == "postgresql":
        return _append_postgresql(fields)
    return _append_python(fields)


def audit_record_many(entries: list[dict[str, Any]]) -> None:
    """Append several audit events, in order, inside the caller's transaction (each entry holds
    audit_record's keyword arguments). One lock, one read of the head, one INSERT: for batch
    work such as billing runs."""
    if not entries:
        return
    if not connection.in_atomic_block:
        raise AuditOutsideTransaction("audit_record_many must run inside the transaction that makes the change")
    if connection.vendor != "postgresql":
        for entry in entries:
            audit_record(**entry)
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT COALESCE(audit_chain_head(%s), %s)", [AUDIT_CHAIN_LOCK_ID, GENESIS_HASH])
        head = cursor.fetchone()[0]
    rows = []
    for entry in entries:
        fields = _fields(
            actor=entry["actor"], action=entry["action"], target=entry.get("target"),
            merchant_id=entry.get("merchant_id"), before=entry.get("before"), after=entry.get("after"),
        )  # fmt: skip
        digest = compute_hash(fields, head)
        rows.append(AuditEvent(**fields, prev_hash=head, hash=digest))
        head = digest
    # Ids come from the sequence in row order, so the chain's order (by id) is this order.
    AuditEvent.objects.bulk_create(rows)


def audit_record_atomic(**kwargs: Any) -> AuditEvent:
    """For events that are not part of a larger change (a login, a failed login)."""
    with transaction.atomic():
        return audit_record(**kwargs)


def audited_update(
    *, target: models.Model, changes: dict[str, Any], allowed: tuple[str, ...], action: str, actor: Actor
) -> bool:
    """Inside the caller's transaction, on a row it has locked: set `changes` (only fields in
    `allowed`), save them, and audit before and after. Returns whether anything changed."""
    unknown = set(changes) - set(allowed)
    if unknown:
        raise ValueError(f"{target._meta.label} cannot change {', '.join(sorted(unknown))} here")
    before = {name: getattr(target, name) for name in changes}
    for name, value in changes.items():
        setattr(target, name, value)
    changed = [name for name in changes if before[name] != getattr(target, name)]
    if not changed:
        return False
    update_fields = [*changed, *(["updated_at"] if hasattr(target, "updated_at") else [])]
    target.save(update_fields=update_fields)
    audit_record(
        actor=actor,
        action=action,
        target=target,
        before={name: before[name] for name in changed},
        after={name: getattr(target, name) for name in changed},
    )
    return True
