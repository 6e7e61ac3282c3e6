"""Idempotency-Key for mutating API calls, as in the IETF draft and Stripe, made safe under faults.

- Same key, same request: the stored status and body are replayed with `Idempotent-Replayed: true`,
  byte for byte as first sent (the body's bytes and content type are stored, not its JSON).
- Same key, different request (method, path or body): 422 `idempotency_key_reused`.
- Same key while the first request still runs (holds the key's lease): 409
  `idempotency_request_in_progress`, which is never stored: retry.
- Keys are scoped to the merchant and expire after IDEMPOTENCY_KEY_TTL_HOURS.

A request holds its key for IDEMPOTENCY_LEASE_SECONDS. What is stored at the end:
- a final answer (2xx, or a refusal such as 402, 404, 422 or a refused state change): replayed;
- a refusal of the request's shape (parameter_invalid, invalid_json ...) or a conflict that means
  "try again" (an operation in flight): not stored, so a fix or a retry is possible;
- a 5xx, an answer that is not final yet (a charge whose outcome the gateway has not told), or no
  answer at all (the process died): if the request committed nothing, the key is forgotten;
  otherwise it is kept as `outcome_pending`, and the next retry runs the request again. Every
  endpoint that calls a gateway finds there what the first run did, by the idempotency reference
  derived from the key (`record_reference`), and answers with it: never a second charge.
  "Committed nothing" is read from the audit trail, which every change writes in its own
  transaction, tagged with the request's id; a key that was ever taken over is never forgotten.

Each holder of a key gets a token of its own: a holder that outlived its lease (and was taken
over) can no longer store, keep or forget the key. A key whose outcome is pending does not expire.
"""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import IntegrityError, connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from apps.audit.selectors import changes_committed_by
from apps.core.cards import card_number_spans
from apps.core.context import current_request_id
from apps.core.db import DISCONNECTED, run_with_reconnect
from apps.core.errors import ApplicationError, ConflictError, ErrorType
from apps.core.ids import digest_token

from .models import IdempotencyRecord

if TYPE_CHECKING:  # below the merchants app, whose model it names
    from apps.merchants.models import Merchant

logger = logging.getLogger(__name__)

HEADER = "Idempotency-Key"
REPLAY_HEADER = "Idempotent-Replayed"
MAX_KEY_LENGTH = 255
State = IdempotencyRecord.State


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
    body: Any  # the JSON of a row stored before its bytes were (replayed from it, as then)
    content: bytes | None = None  # the body exactly as sent
    content_type: str = ""


def validate_key(key: str) -> str:
    if not key or len(key) > MAX_KEY_LENGTH or not key.isascii() or not key.isprintable():
        raise IdempotencyKeyInvalid(param=HEADER)
    if card_number_spans(key):  # a key is stored and logged: never a card number
        raise IdempotencyKeyInvalid("Idempotency-Key must not be a card number; use a UUID.", param=HEADER)
    return key


def request_fingerprint(*, method: str, path: str, body: Any) -> str:
    canonical_body = json.dumps(body, sort_keys=True, separators=(",", ":"), cls=DjangoJSONEncoder)
    return hashlib.sha256(f"{method} {path}\n{canonical_body}".encode()).hexdigest()


def idempotency_reference(*, merchant_id: int, key: str, created_at: datetime) -> str:
    """The idempotency reference of one use of a key: 17 characters, the same for the first run
    and every retry, different once an expired key is used again. Gateway calls append an attempt
    number (see apps.payments.attempts) and stay within Authorize.Net's 20-character refId."""
    return "k" + digest_token(str(merchant_id), key, created_at.isoformat())


def record_reference(record: IdempotencyRecord) -> str:
    return idempotency_reference(merchant_id=record.merchant_id, key=record.key, created_at=record.created_at)


def idempotency_begin(
    *, merchant: Merchant, key: str, method: str, path: str, fingerprint: str
) -> IdempotencyRecord | StoredResponse:
    """Claim the key (returns the record) or return the stored response to replay.

    Claiming is one INSERT ... ON CONFLICT DO NOTHING against a unique (merchant, key)
    constraint, so of many concurrent requests with one key exactly one proceeds; the others
    see it in progress. A key whose holder's lease ran out, or whose outcome is pending, is taken
    over by one guarded UPDATE, so again exactly one retry proceeds. On PostgreSQL a new key and
    a replay each cost one statement (the claim reads the existing key in the same statement).
    """
    now = timezone.now()
    claimed, existing = _claim(merchant=merchant, key=key, method=method, path=path, fingerprint=fingerprint, now=now)
    if claimed is not None:
        return claimed
    if existing is None:  # forgotten a moment ago, or claimed after the claim's snapshot: look again
        return idempotency_begin(merchant=merchant, key=key, method=method, path=path, fingerprint=fingerprint)
    if existing.expires_at <= now and existing.state != State.OUTCOME_PENDING:
        # An expired key is a new key: drop the old record (if still there) and claim again. One
        # whose outcome is pending stays: its retry must still find what was done.
        IdempotencyRecord.objects.filter(pk=existing.pk, expires_at__lte=now).exclude(
            state=State.OUTCOME_PENDING
        ).delete()
        return idempotency_begin(merchant=merchant, key=key, method=method, path=path, fingerprint=fingerprint)
    if existing.fingerprint != fingerprint:
        raise IdempotencyKeyReused(param=HEADER)
    if existing.state == State.COMPLETED and existing.response_status is not None:
        content = existing.response_content
        return StoredResponse(
            status=existing.response_status,
            body=existing.response_body,
            content=bytes(content) if content is not None else None,
            content_type=existing.response_content_type,
        )
    return _take_over(existing, now=now)


def _lease_end(now: datetime) -> datetime:
    return now + timedelta(seconds=settings.IDEMPOTENCY_LEASE_SECONDS)


def _take_over(record: IdempotencyRecord, *, now: datetime) -> IdempotencyRecord:
    """A retry of a request that died, failed after committing something, or is not final yet:
    hold the key and run the request again (it finds what the first run did)."""
    lease_over = Q(locked_until__isnull=True) | Q(locked_until__lte=now)
    # Whether an earlier holder committed anything is settled before its request id is replaced.
    committed = record.committed or changes_committed_by([record.request_id])
    holder = _new_holder()
    taken = (
        IdempotencyRecord.objects.filter(pk=record.pk, holder=record.holder, state=record.state)
        .filter(Q(state=State.OUTCOME_PENDING) | (Q(state=State.IN_PROGRESS) & lease_over))
        .update(
            state=State.IN_PROGRESS,
            holder=holder,
            locked_until=_lease_end(now),
            committed=committed,
            request_id=(current_request_id() or "")[:128],
            recoveries=F("recoveries") + 1,
        )
    )
    if not taken:
        raise IdempotencyRequestInProgress(param=HEADER)
    logger.info("idempotency_key_recovered", extra={"key_id": record.pk, "previous_state": record.state})
    record.refresh_from_db()
    return record


def _new_holder() -> str:
    return secrets.token_hex(16)


def _claim(
    *, merchant: Merchant, key: str, method: str, path: str, fingerprint: str, now: datetime
) -> tuple[IdempotencyRecord | None, IdempotencyRecord | None]:
    """Insert the key unless it exists: (the claimed record, None), or (None, the existing record).
    (None, None) when the existing record cannot be seen: claimed by a request that committed
    after this statement began, or forgotten since."""
    record = IdempotencyRecord(
        merchant=merchant,
        key=key,
        method=method,
        path=path[:512],
        fingerprint=fingerprint,
        holder=_new_holder(),
        request_id=(current_request_id() or "")[:128],
        created_at=now,
        locked_until=_lease_end(now),
        expires_at=now + timedelta(hours=settings.IDEMPOTENCY_KEY_TTL_HOURS),
    )
    if connection.vendor == "postgresql" and not connection.in_atomic_block:
        return _claim_or_read(record)
    try:
        with transaction.atomic():
            record.save(force_insert=True)
    except IntegrityError:
        return None, IdempotencyRecord.objects.filter(merchant=merchant, key=key).first()
    return record, None


_FIELDS = IdempotencyRecord._meta.concrete_fields
_JSON_IF_NO_BYTES = "CASE WHEN response_content IS NULL THEN response_body END AS response_body"
_COLUMNS = ", ".join(str(field.column) for field in _FIELDS)
_EXISTING_COLUMNS = ", ".join(
    _JSON_IF_NO_BYTES if field.column == "response_body" else str(field.column) for field in _FIELDS
)
_ATTNAMES = [field.attname for field in _FIELDS]
_TABLE = IdempotencyRecord._meta.db_table
# The key's row if it exists (a replay of a row with its bytes does not read its JSON, nor send it
# over the wire), else the claim: an INSERT of no row when it exists, so a replay touches only the
# key's index entry. ON CONFLICT covers a claim that committed after the statement's snapshot.
_CLAIM_OR_READ = (
    f"WITH existing AS (SELECT {_COLUMNS} FROM {_TABLE} WHERE merchant_id = %s AND key = %s), "  # noqa: S608 (names from the model)
    f"claimed AS (INSERT INTO {_TABLE} (merchant_id, key, method, path, fingerprint, state, holder, request_id, "
    "committed, recoveries, created_at, locked_until, expires_at) "
    "SELECT %s, %s, %s, %s, %s, %s, %s, %s, false, 0, %s, %s, %s WHERE NOT EXISTS (SELECT 1 FROM existing) "
    f"ON CONFLICT (merchant_id, key) DO NOTHING RETURNING {_COLUMNS}) "
    f"SELECT true, * FROM claimed UNION ALL SELECT false, {_EXISTING_COLUMNS} "
    "FROM existing"
)


def _claim_or_read(record: IdempotencyRecord) -> tuple[IdempotencyRecord | None, IdempotencyRecord | None]:
    """One round trip, in autocommit: the existing row, or the claim (None, None when another
    request's claim committed after the statement's snapshot: not seen, and not claimed)."""
    params: list[Any] = [
        record.merchant_id, record.key,
        record.merchant_id, record.key, record.method, record.path, record.fingerprint, record.state,
        record.holder, record.request_id, record.created_at, record.locked_until, record.expires_at,
    ]  # fmt: skip
    with connection.cursor() as cursor:
        cursor.execute(_CLAIM_OR_READ, params)
        row = cursor.fetchone()
    if row is None:
        return None, None
    found = IdempotencyRecord.from_db(connection.alias, _ATTNAMES, row[1:])
    if isinstance(found.response_body, str):  # jsonb comes as text: the field decodes it on reads it runs
        found.response_body = json.loads(found.response_body)
    return (found, None) if row[0] else (None, found)


# Refusals of the request's shape, decided before any work: fixing them must not need a new key.
# Conflicts that mean "try again shortly": storing them would refuse every retry.
_UNSTORED_CODES = frozenset(
    {
        "parameter_invalid",
        "parameter_missing",
        "invalid_json",
        "unsupported_media_type",
        "payment_operation_in_progress",
        "subscription_change_in_progress",
        "subscription_schedule_unconfirmed",
        "idempotency_request_in_progress",
    }
)


def should_store(status: int, body: Any) -> bool:
    if status >= 500 or status in (401, 403, 429):
        return False
    error = body.get("error") if isinstance(body, dict) else None
    return not (isinstance(error, dict) and error.get("code") in _UNSTORED_CODES)


@dataclass(frozen=True)
class SentResponse:
    """A response as sent: its status, its data (what decides whether it is stored) and its
    rendered bytes with their content type (what is stored and replayed)."""

    status: int
    body: Any
    content: bytes | None
    content_type: str


def idempotency_finish(*, record: IdempotencyRecord, response: SentResponse, final: bool = True) -> None:
    """Store the response for replay, keep the key for a retry that finds the outcome, or forget
    the key when the request provably did nothing. Survives a lost database connection (the
    answer is worth recording); if the database stays away, the lease runs out instead."""
    try:
        run_with_reconnect(lambda: _finish(record, response, final), what="idempotency_finish")
    except DISCONNECTED:
        logger.exception("idempotency_finish_failed", extra={"key_id": record.pk, "status": response.status})


def _finish(record: IdempotencyRecord, response: SentResponse, final: bool) -> None:
    now = timezone.now()
    stored = {
        "response_status": response.status,
        "response_content": response.content,
        "response_content_type": response.content_type[:255],
        # Its JSON too, for a release that replays from it (a rolling deploy's old processes, or a
        # rollback): without it they would replay an empty body.
        "response_body": json.loads(json.dumps(response.body, cls=DjangoJSONEncoder)),
    }
    # Only while this request still holds the key: one that outlived its lease changes nothing.
    held = IdempotencyRecord.objects.filter(pk=record.pk, holder=record.holder, state=State.IN_PROGRESS)
    if should_store(response.status, response.body) and final:
        done = held.update(state=State.COMPLETED, completed_at=now, **stored)
    elif record.committed or record.recoveries or changes_committed_by([record.request_id]):
        # Something happened (or may have, under an earlier holder): a retry must find it, not
        # start afresh. The lease ends now.
        done = held.update(state=State.OUTCOME_PENDING, locked_until=now, **stored)
    else:
        done = held.delete()[0]
    if not done:
        logger.warning("idempotency_key_taken_over", extra={"key_id": record.pk, "status": response.status})


def idempotency_purge_expired(*, batch_size: int = 5000) -> int:
    """Delete expired keys in batches; returns how many went."""
    total = 0
    while True:
        expired = IdempotencyRecord.objects.filter(expires_at__lte=timezone.now()).exclude(state=State.OUTCOME_PENDING)
        ids = list(expired.values_list("pk", flat=True)[:batch_size])
        if not ids:
            return total
        total += IdempotencyRecord.objects.filter(pk__in=ids).delete()[0]
