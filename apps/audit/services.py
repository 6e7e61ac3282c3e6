from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import connection, models, transaction
from django.utils import timezone

from apps.core.context import current_context

from .actors import Actor
from .chain import GENESIS_HASH, canonical, compute_hash, to_json_value
from .models import AuditEvent

# First key of the pg_advisory_xact_lock(key, chain) that serialises appends to one chain
# ("AUDT"; migration 0007 holds the same number).
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


def chain_for(merchant_id: int | None) -> int:
    """The chain a transaction whose first audit row is about this merchant appends to: a
    merchant's events stay in one chain, and merchants spread evenly over AUDIT_CHAINS."""
    chains: int = settings.AUDIT_CHAINS
    return (merchant_id or 0) % chains


def _append_postgresql(fields: dict[str, Any]) -> AuditEvent:
    """One statement: lock the transaction's chain and read its head (audit_chain_append_point(),
    migration 0007, reads with a fresh snapshot after the lock), compute the hash and insert."""
    event = AuditEvent(**fields)
    by_attname = {field.attname: field for field in AuditEvent._meta.concrete_fields}
    columns = [by_attname[name] for name in fields]
    values = [field.get_db_prep_save(getattr(event, field.attname), connection) for field in columns]
    column_sql = ", ".join(connection.ops.quote_name(field.column or field.attname) for field in columns)
    placeholders = ", ".join(["%s"] * len(columns))
    sql = (
        f"INSERT INTO {AuditEvent._meta.db_table} ({column_sql}, chain, prev_hash, hash) "  # noqa: S608 - our own names
        f"SELECT {placeholders}, point.chain_no, point.head, "
        "encode(sha256(convert_to(point.head || E'\\n' || %s, 'UTF8')), 'hex') "
        "FROM (SELECT chain_no, COALESCE(head, %s) AS head FROM audit_chain_append_point(%s)) AS point "
        "RETURNING id, chain, prev_hash, hash"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [*values, canonical(fields), GENESIS_HASH, chain_for(fields["merchant_id"])])
        event.pk, event.chain, event.prev_hash, event.hash = cursor.fetchone()
    event._state.adding = False
    return event


def _append_python(fields: dict[str, Any]) -> AuditEvent:
    # SQLite (quickstart): transactions take the database write lock at BEGIN (IMMEDIATE), so
    # nothing else appends meanwhile.
    chain = chain_for(fields["merchant_id"])
    prev_hash = _head_python(chain)
    return AuditEvent.objects.create(**fields, chain=chain, prev_hash=prev_hash, hash=compute_hash(fields, prev_hash))


def _head_python(chain: int) -> str:
    latest = AuditEvent.objects.filter(chain=chain).order_by("-id").values_list("hash", flat=True).first()
    return latest or GENESIS_HASH


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

    The caller's change and its audit row commit or roll back together. Appends to one chain
    are serialised by a transaction-scoped advisory lock on that chain (PostgreSQL) or by
    SQLite's write lock, so no chain forks; keep the call near the end of the transaction. A
    transaction appends all its rows to the chain of its first one, so it holds one chain lock
    at most. On PostgreSQL the lock, the head, the hash and the insert are one statement.
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
    keys = ("target", "merchant_id", "before", "after")
    all_fields = [
        _fields(actor=entry["actor"], action=entry["action"], **{key: entry.get(key) for key in keys})
        for entry in entries
    ]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT chain_no, COALESCE(head, %s) FROM audit_chain_append_point(%s)",
            [GENESIS_HASH, chain_for(all_fields[0]["merchant_id"])],
        )
        chain, head = cursor.fetchone()
    rows = []
    for fields in all_fields:
        digest = compute_hash(fields, head)
        rows.append(AuditEvent(**fields, chain=chain, prev_hash=head, hash=digest))
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
