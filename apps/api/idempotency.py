"""Idempotency-Key for mutating API calls, as in the IETF draft and Stripe.

- Same key, same request: the stored status and body are replayed with `Idempotent-Replayed: true`.
- Same key, different request (method, path or body): 422 `idempotency_key_reused`.
- Same key while the first request still runs: 409 `idempotency_request_in_progress`.
- Keys are scoped to the merchant and expire after IDEMPOTENCY_KEY_TTL_HOURS.

A response is kept once the endpoint has started doing work: successes and business refusals
(402, 404, 409, 422, a refused state change ...). Validation errors (parameter_invalid,
parameter_missing, invalid_json) and server errors (5xx) release the key so the client may fix
the request or retry.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from apps.core.errors import ApplicationError, ConflictError, ErrorType
from apps.merchants.models import Merchant

from .models import IdempotencyRecord

HEADER = "Idempotency-Key"
REPLAY_HEADER = "Idempotent-Replayed"
MAX_KEY_LENGTH = 255


class IdempotencyKeyInvalid(ApplicationError):
    error_type = ErrorType.IDEMPOTENCY
    code = "idempotency_key_invalid"
    default_message = f"Idempotency-Key must be 1 to {MAX_KEY_LENGTH} printable ASCII characters."


class IdempotencyKeyReused(ApplicationError):
    status_code = 422
    error_type = ErrorType.IDEMPOTENCY
    code = "idempotency_key_reused"
    default_message = "This Idempotency-Key was already used with a different request."


class IdempotencyRequestInProgress(ConflictError):
    error_type = ErrorType.IDEMPOTENCY
    code = "idempotency_request_in_progress"
    default_message = "A request with this Idempotency-Key is still being processed; retry later."


@dataclass(frozen=True)
class StoredResponse:
    status: int
    body: Any


def validate_key(key: str) -> str:
    if not key or len(key) > MAX_KEY_LENGTH or not key.isascii() or not key.isprintable():
        raise IdempotencyKeyInvalid(param=HEADER)
    return key


def request_fingerprint(*, method: str, path: str, body: Any) -> str:
    canonical_body = json.dumps(body, sort_keys=True, separators=(",", ":"), cls=DjangoJSONEncoder)
    return hashlib.sha256(f"{method} {path}\n{canonical_body}".encode()).hexdigest()


def idempotency_begin(
    *, merchant: Merchant, key: str, method: str, path: str, fingerprint: str
) -> IdempotencyRecord | StoredResponse:
    """Claim the key (returns the new record) or return the stored response to replay.

    Claiming is one INSERT ... ON CONFLICT DO NOTHING against a unique (merchant, key)
    constraint, so of many concurrent requests with one key exactly one proceeds; the others
    see it in progress. A new key costs one statement, a replay two.
    """
    now = timezone.now()
    claimed = _claim(merchant=merchant, key=key, method=method, path=path, fingerprint=fingerprint, now=now)
    if claimed is not None:
        return claimed
    existing = IdempotencyRecord.objects.get(merchant=merchant, key=key)
    if existing.expires_at <= now:
        # An expired key is a new key: drop the old record (if still there) and claim again.
        IdempotencyRecord.objects.filter(pk=existing.pk, expires_at__lte=now).delete()
        return idempotency_begin(merchant=merchant, key=key, method=method, path=path, fingerprint=fingerprint)
    if existing.fingerprint != fingerprint:
        raise IdempotencyKeyReused(param=HEADER)
    if existing.state != IdempotencyRecord.State.COMPLETED or existing.response_status is None:
        raise IdempotencyRequestInProgress(param=HEADER)
    return StoredResponse(status=existing.response_status, body=existing.response_body)


# Refusals of the request's shape, decided before any work: fixing them must not need a new key.
_UNSTORED_CODES = frozenset({"parameter_invalid", "parameter_missing", "invalid_json", "unsupported_media_type"})


def _claim(
    *, merchant: Merchant, key: str, method: str, path: str, fingerprint: str, now: datetime
) -> IdempotencyRecord | None:
    """Insert the key unless it exists; None when another request holds it already."""
    record = IdempotencyRecord(
        merchant=merchant,
        key=key,
        method=method,
        path=path[:512],
        fingerprint=fingerprint,
        created_at=now,
        expires_at=now + timedelta(hours=settings.IDEMPOTENCY_KEY_TTL_HOURS),
    )
    if connection.vendor == "postgresql" and not connection.in_atomic_block:
        # One round trip (no BEGIN/COMMIT around it): INSERT ... ON CONFLICT DO NOTHING.
        table = IdempotencyRecord._meta.db_table
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {table} (merchant_id, key, method, path, fingerprint, state, created_at, expires_at) "  # noqa: S608
                "VALUES (%s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT (merchant_id, key) DO NOTHING RETURNING id",
                [merchant.pk, key, method, record.path, fingerprint, record.state, now, record.expires_at],
            )
            row = cursor.fetchone()
        if row is None:
            return None
        record.pk = row[0]
        record._state.adding = False
        return record
    try:
        with transaction.atomic():
            record.save(force_insert=True)
    except IntegrityError:
        return None
    return record


def should_store(status: int, body: Any) -> bool:
    if status >= 500 or status in (401, 403, 429):
        return False
    error = body.get("error") if isinstance(body, dict) else None
    return not (isinstance(error, dict) and error.get("code") in _UNSTORED_CODES)


def idempotency_finish(*, record: IdempotencyRecord, status: int, body: Any) -> None:
    """Store the response for replay, or release the key when the request did not really run."""
    if should_store(status, body):
        IdempotencyRecord.objects.filter(pk=record.pk).update(
            state=IdempotencyRecord.State.COMPLETED,
            response_status=status,
            response_body=json.loads(json.dumps(body, cls=DjangoJSONEncoder)),
            completed_at=timezone.now(),
        )
    else:
        IdempotencyRecord.objects.filter(pk=record.pk, state=IdempotencyRecord.State.IN_PROGRESS).delete()


def idempotency_purge_expired(*, batch_size: int = 5000) -> int:
    """Delete expired keys in batches; returns how many went."""
    total = 0
    while True:
        ids = list(
            IdempotencyRecord.objects.filter(expires_at__lte=timezone.now()).values_list("pk", flat=True)[:batch_size]
        )
        if not ids:
            return total
        total += IdempotencyRecord.objects.filter(pk__in=ids).delete()[0]
