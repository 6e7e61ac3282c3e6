"""The canonical serialisation and hash of an audit row."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder

GENESIS_HASH = "0" * 64
HASHED_FIELDS = (
    "occurred_at",
    "actor_type",
    "actor_id",
    "actor_label",
    "merchant_id",
    "action",
    "target_type",
    "target_id",
    "target_label",
    "before",
    "after",
    "correlation_id",
    "ip_address",
    "user_agent",
)


def to_json_value(value: Any) -> Any:
    """Plain JSON types only, exactly as they will come back from the database."""
    return json.loads(json.dumps(value, cls=DjangoJSONEncoder))


def canonical(fields: dict[str, Any]) -> str:
    """The row's content as compact JSON with sorted keys (timestamps in UTC, microseconds)."""
    data = dict(fields)
    occurred_at: datetime = data["occurred_at"]
    data["occurred_at"] = occurred_at.astimezone(UTC).isoformat(timespec="microseconds")
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def compute_hash(fields: dict[str, Any], prev_hash: str) -> str:
    """hash = SHA-256(prev_hash + "\n" + canonical(row)), hex. PostgreSQL computes the same in
    the INSERT itself (apps.audit.services), so Python and SQL must agree on this formula."""
    return hashlib.sha256(f"{prev_hash}\n{canonical(fields)}".encode()).hexdigest()


def row_fields(event: Any) -> dict[str, Any]:
    return {name: getattr(event, name) for name in HASHED_FIELDS}


def checkpoint_keys() -> list[bytes]:
    """The key that signs checkpoints first, then the older ones that still verify theirs
    (AUDIT_CHECKPOINT_KEY_FALLBACKS). Without AUDIT_CHECKPOINT_KEY: derived from SECRET_KEY."""
    configured = settings.AUDIT_CHECKPOINT_KEY
    first = (
        configured.encode()
        if configured
        else hmac.new(settings.SECRET_KEY.encode(), b"clearhouse.audit.checkpoint", hashlib.sha256).digest()
    )
    return [first, *(key.encode() for key in settings.AUDIT_CHECKPOINT_KEY_FALLBACKS if key)]


def checkpoint_stamp(created_at: datetime) -> str:
    """The signed form of a checkpoint's time: UTC, microseconds, whatever the connection's zone."""
    return created_at.astimezone(UTC).isoformat(timespec="microseconds")


def _checkpoint_message(created_at: str, heads: list[list[Any]], prev_signature: str) -> bytes:
    document = {"created_at": created_at, "heads": heads, "prev_signature": prev_signature}
    return json.dumps(document, sort_keys=True, separators=(",", ":")).encode()


def checkpoint_signature(*, created_at: str, heads: list[list[Any]], prev_signature: str) -> str:
    message = _checkpoint_message(created_at, heads, prev_signature)
    return hmac.new(checkpoint_keys()[0], message, hashlib.sha256).hexdigest()


def checkpoint_signature_valid(*, created_at: str, heads: list[list[Any]], prev_signature: str, signature: str) -> bool:
    """Signed with the current key or one of the fallbacks (a key rotation keeps the older
    checkpoints verifiable while the old key is listed)."""
    message = _checkpoint_message(created_at, heads, prev_signature)
    return any(
        hmac.compare_digest(hmac.new(key, message, hashlib.sha256).hexdigest(), signature) for key in checkpoint_keys()
    )
