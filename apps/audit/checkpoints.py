"""Checkpoints: every chain's head at one moment, signed with a key kept outside the database.

The hash chains detect an edited, removed or reordered row, but whoever can write the table can
also recompute every hash after a change, or drop a chain's newest rows. A checkpoint records each
chain's head (event id and hash) and signs it with an HMAC whose key is not in the database, and
each checkpoint signs the previous one's signature. `audit_chain_verify` then checks that the
latest checkpoint's heads are still in their chains with the same hashes, so a rewritten chain
or a tail dropped behind a checkpoint is named. Each checkpoint's digest is also written to the
log, a copy outside the database.
"""

from __future__ import annotations

import logging
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from .chain import checkpoint_signature, checkpoint_stamp
from .models import AuditCheckpoint, AuditEvent

logger = logging.getLogger(__name__)

# Every chain's newest event, by walking the (chain, id) index: one probe per chain, however
# many events there are.
HEADS_SQL = """
WITH RECURSIVE chains AS (
    SELECT min(chain) AS chain FROM audit_auditevent
    UNION ALL
    SELECT (SELECT min(chain) FROM audit_auditevent WHERE chain > chains.chain)
    FROM chains WHERE chains.chain IS NOT NULL
)
SELECT chains.chain, newest.id, newest.hash
FROM chains
CROSS JOIN LATERAL (
    SELECT e.id, e.hash FROM audit_auditevent e WHERE e.chain = chains.chain ORDER BY e.id DESC LIMIT 1
) AS newest
WHERE chains.chain IS NOT NULL
ORDER BY chains.chain
"""


def chain_heads() -> list[list[Any]]:
    """[[chain, event id, hash], ...] of the committed events, by chain."""
    if connection.vendor != "postgresql":  # SQLite (quickstart): no LATERAL; a small table.
        chains = AuditEvent.objects.order_by("chain").values_list("chain", flat=True).distinct()
        newest = (AuditEvent.objects.filter(chain=chain).order_by("-id").first() for chain in list(chains))
        return [[event.chain, event.id, event.hash] for event in newest if event is not None]
    with connection.cursor() as cursor:
        cursor.execute(HEADS_SQL)
        return [[chain, event_id, digest] for chain, event_id, digest in cursor.fetchall()]


def audit_checkpoint_create() -> AuditCheckpoint | None:
    """Sign every chain's head, unless nothing was appended since the last checkpoint (so running
    it twice, or on an idle system, adds nothing)."""
    with transaction.atomic():
        # One checkpointer at a time, so each one links to the one before it; the heads are read
        # under the lock, so a later checkpoint never records older heads than an earlier one.
        with connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                cursor.execute(f"LOCK TABLE {AuditCheckpoint._meta.db_table} IN EXCLUSIVE MODE")
        heads = chain_heads()
        previous = AuditCheckpoint.objects.order_by("-id").first()
        if not heads or (previous is not None and previous.heads == heads):
            return None
        created_at = timezone.now()
        stamp = checkpoint_stamp(created_at)
        prev_signature = previous.signature if previous else ""
        signature = checkpoint_signature(created_at=stamp, heads=heads, prev_signature=prev_signature)
        checkpoint = AuditCheckpoint.objects.create(
            created_at=created_at, heads=heads, prev_signature=prev_signature, signature=signature
        )
    logger.info(
        "audit checkpoint %s signed: %s:%s",
        checkpoint.pk,
        checkpoint.pk,
        signature,
        extra={"audit_checkpoint": checkpoint.pk, "signature": signature, "chains": len(heads)},
    )
    return checkpoint
