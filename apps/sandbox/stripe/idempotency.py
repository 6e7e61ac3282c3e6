"""Stripe's idempotency for POSTs: the first request with a key claims it (one INSERT on a unique
(account, key) constraint, committed before the endpoint runs); its answer, once the endpoint has
run, is stored in the same transaction as the work and replayed for every repeat with the same
method, path and parameters (`Idempotent-Replayed: true`). A different request with the key is an
idempotency_error (400); a repeat while the first is still running gets 409. Answers that never
reached the endpoint's execution (validation errors) are not stored: the claim is released.

A claim left in flight by a crashed process is taken over after STALE_AFTER; keys are forgotten
after 24 hours, as Stripe prunes them."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.sandbox.models import StripeAccount, StripeIdempotencyKey

from .errors import StripeError, idempotency_in_use, idempotency_mismatch
from .params import Params

MAX_KEY_LENGTH = 255
STALE_AFTER = timedelta(minutes=2)
FORGET_AFTER = timedelta(hours=24)


@dataclass(frozen=True)
class Replay:
    status: int
    body: bytes


def fingerprint(method: str, path: str, params: Params) -> str:
    canonical = json.dumps([method, path, params], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def claim(*, account: StripeAccount, key: str, fingerprint: str, request_id: str) -> Replay | None:
    """None: this request owns the key and runs. A Replay: the stored answer. Raises the 400/409."""
    if len(key) > MAX_KEY_LENGTH:
        raise StripeError(f"Idempotency-Key must be at most {MAX_KEY_LENGTH} characters long.", param="Idempotency-Key")
    for _ in range(3):
        try:
            with transaction.atomic():
                StripeIdempotencyKey.objects.create(
                    account=account, key=key, fingerprint=fingerprint, request_id=request_id
                )
            return None
        except IntegrityError:
            pass
        row = StripeIdempotencyKey.objects.filter(account=account, key=key).first()
        if row is None:
            continue  # released in between: claim again
        now = timezone.now()
        if row.created_at < now - FORGET_AFTER:
            StripeIdempotencyKey.objects.filter(pk=row.pk, created_at=row.created_at).delete()
            continue
        if row.fingerprint != fingerprint:
            raise idempotency_mismatch(key)
        if row.status_code is None:
            if row.created_at < now - STALE_AFTER and StripeIdempotencyKey.objects.filter(
                pk=row.pk, status_code__isnull=True, request_id=row.request_id
            ).update(request_id=request_id, created_at=now):
                return None
            raise idempotency_in_use()
        return Replay(status=row.status_code, body=bytes(row.body or b""))
    raise idempotency_in_use()


def store(*, account: StripeAccount, key: str, request_id: str, status: int, body: bytes) -> None:
    """Record the answer (inside the transaction of the work it describes)."""
    StripeIdempotencyKey.objects.filter(account=account, key=key, request_id=request_id).update(
        status_code=status, body=body
    )


def release(*, account: StripeAccount, key: str, request_id: str) -> None:
    """Give the key back: the request never reached execution (or failed unexpectedly)."""
    StripeIdempotencyKey.objects.filter(
        account=account, key=key, request_id=request_id, status_code__isnull=True
    ).delete()
