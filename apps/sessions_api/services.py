"""Customer sessions: minting, revoking, and the signing keys' rotation. Each write is one
transaction with its audit row. A revocation reaches Redis before its transaction begins (no
network call inside a transaction): should the transaction then fail, the token is refused though
the database does not say revoked yet, and the caller's retry records it (apps.sessions_api.revocations)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import jwt
import redis
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from apps.api.customer_scope import Ability
from apps.audit.actors import Actor
from apps.audit.services import audit_record
from apps.core import crypto
from apps.customers.models import Customer
from apps.merchants.models import Merchant

from .errors import SESSIONS_UNAVAILABLE_CODE, AbilityUnknown, SessionsUnavailable
from .keys import (
    AUDIENCE,
    DEFAULT_LIFETIME_SECONDS,
    LEEWAY_SECONDS,
    MAX_LIFETIME_SECONDS,
    issuer,
    new_key_material,
    signing_material,
)
from .models import CustomerSession, SigningAlgorithm, SigningKey
from .revocations import not_before_record, revocations_record
from .selectors import signing_key_active


def _key_snapshot(key: SigningKey) -> dict[str, object]:
    return {"kid": key.kid, "algorithm": key.algorithm, "retired_at": key.retired_at}


def _session_snapshot(session: CustomerSession) -> dict[str, object]:
    return {
        "id": session.public_id,
        "customer": session.customer.public_id,
        "abilities": session.abilities,
        "livemode": session.livemode,
        "kid": session.signing_key.kid,
        "expires_at": session.expires_at,
        "revoked_at": session.revoked_at,
    }


def _new_key(*, merchant: Merchant, algorithm: str) -> SigningKey:
    secret, public_pem = new_key_material(algorithm)
    key = SigningKey(merchant=merchant, algorithm=algorithm, public_key=public_pem)
    key.set_secret(secret)
    key.save()  # a new stamp for every process's kept keys (apps.sessions_api.key_cache)
    return key


def session_key_rotate(
    *, merchant: Merchant, actor: Actor, algorithm: str | None = None, compromised: bool = False
) -> SigningKey:
    """A new signing key for the merchant's new tokens (CUSTOMER_SESSION_ALGORITHM unless given);
    the active one is retired and still verifies the tokens it signed until they expire. With
    `compromised` (a key leaked), every key of the merchant that still verifies stops at once:
    every token of the merchant's customers is refused from then on."""
    algorithm = algorithm or settings.CUSTOMER_SESSION_ALGORITHM
    if algorithm not in SigningAlgorithm.values:
        raise ValueError(f"algorithm must be one of {SigningAlgorithm.values}")
    with transaction.atomic():
        Merchant.objects.select_for_update().filter(pk=merchant.pk).first()  # one rotation at a time
        now = timezone.now()
        retired = []
        for old in SigningKey.objects.filter(merchant=merchant, retired_at__isnull=True):
            old.retired_at = now
            old.save(update_fields=["retired_at"])
            retired.append(old.kid)
        withdrawn = []
        if compromised:
            for old in SigningKey.objects.filter(merchant=merchant, compromised_at__isnull=True):
                old.compromised_at = now
                old.save(update_fields=["compromised_at"])
                withdrawn.append(old.kid)
        key = _new_key(merchant=merchant, algorithm=algorithm)
        audit_record(
            actor=actor, action="session_key.rotated", target=key, merchant_id=merchant.pk,
            after={**_key_snapshot(key), "retired": retired, "compromised": withdrawn},
        )  # fmt: skip
    return key


def _signing_key(*, merchant: Merchant, actor: Actor) -> SigningKey:
    """The merchant's active key; its first one is made on its first session."""
    key = signing_key_active(merchant=merchant)
    if key is not None:
        return key
    try:
        with transaction.atomic():
            key = _new_key(merchant=merchant, algorithm=settings.CUSTOMER_SESSION_ALGORITHM)
            audit_record(
                actor=actor, action="session_key.created", target=key, merchant_id=merchant.pk,
                after=_key_snapshot(key),
            )  # fmt: skip
        return key
    except IntegrityError:  # made at the same moment by another request: one active key per merchant
        key = signing_key_active(merchant=merchant)
        if key is None:
            raise
        return key


def abilities_checked(abilities: Iterable[str]) -> list[str]:
    """The abilities asked for, each once, in our order; an unknown one is refused."""
    asked = list(abilities)
    unknown = [ability for ability in asked if ability not in frozenset(Ability)]
    if unknown or not asked:
        raise AbilityUnknown(
            f"abilities must name one or more of {', '.join(Ability)}; got {unknown or asked!r}.", param="abilities"
        )
    return [ability.value for ability in Ability if ability.value in asked]


@dataclass(frozen=True)
class MintedSession:
    session: CustomerSession
    token: str  # given to the caller; never stored


def session_token(session: CustomerSession) -> str:
    """The session's token, signed with the key that signed it first. Signing again gives a token
    with the same claims (same `jti`, times and abilities: revoking the session refuses both), so an
    Idempotency-Key replay hands the token out again without its ever being stored."""
    issued_at = int(session.created_at.timestamp())
    claims = {
        "iss": issuer(),
        "aud": AUDIENCE,
        "sub": session.customer.public_id,
        "mch": session.merchant.public_id,
        "sid": session.public_id,
        "jti": session.jti,
        "iat": issued_at,
        "nbf": issued_at,
        "exp": int(session.expires_at.timestamp()),
        "scope": " ".join(session.abilities),
        "livemode": session.livemode,
    }
    key = session.signing_key
    return jwt.encode(claims, signing_material(key), algorithm=key.algorithm, headers={"kid": key.kid})


def customer_session_create(
    *,
    customer: Customer,
    abilities: Iterable[str],
    expires_in: int = DEFAULT_LIFETIME_SECONDS,
    livemode: bool = False,
    actor: Actor,
) -> MintedSession:
    """A session token for the customer, signed with its merchant's active key. Audited.
    `livemode`: the mode of the key minting it, which its writes (a card saved) use."""
    granted = abilities_checked(abilities)
    if not 1 <= expires_in <= MAX_LIFETIME_SECONDS:
        raise ValueError(f"expires_in must be 1 to {MAX_LIFETIME_SECONDS} seconds")
    merchant = customer.merchant
    key = _signing_key(merchant=merchant, actor=actor)
    with transaction.atomic():
        # Under the customer's row lock, as revoking all its sessions is: no session escapes that.
        Customer.objects.select_for_update().filter(pk=customer.pk).first()
        created_at = datetime.fromtimestamp(int(timezone.now().timestamp()), UTC)
        session = CustomerSession.objects.create(
            merchant=merchant,
            customer=customer,
            signing_key=key,
            abilities=granted,
            livemode=livemode,
            created_at=created_at,
            expires_at=created_at + timedelta(seconds=expires_in),
        )
        audit_record(actor=actor, action="customer_session.created", target=session, after=_session_snapshot(session))
    return MintedSession(session=session, token=session_token(session))


def _revoke_in_redis(sessions: Iterable[CustomerSession]) -> None:
    if settings.REDIS_URL:
        revocations_record((session.jti, session.expires_at.timestamp()) for session in sessions)


def customer_session_revoke(*, session: CustomerSession, actor: Actor) -> CustomerSession:
    """Revoke one session: its token is refused from now on, in every process. Revoking a revoked
    (or expired) session changes nothing. Redis unreachable: SessionsUnavailable, nothing revoked.

    Redis first, then the database: a revocation the API confirmed is in force everywhere; one
    whose transaction failed after Redis took it is refused all the same (a retry records it)."""
    current = CustomerSession.objects.filter(pk=session.pk).only("revoked_at", "jti", "expires_at").get()
    if current.revoked_at is not None:
        return CustomerSession.objects.select_related("customer", "signing_key").get(pk=session.pk)
    try:
        _revoke_in_redis([current])
    except redis.RedisError as exc:
        raise SessionsUnavailable(code=SESSIONS_UNAVAILABLE_CODE) from exc
    with transaction.atomic():
        locked = (
            CustomerSession.objects.select_for_update().select_related("customer", "signing_key").get(pk=session.pk)
        )
        if locked.revoked_at is not None:  # revoked meanwhile by another call
            return locked
        before = _session_snapshot(locked)
        locked.revoked_at = timezone.now()
        locked.revoked_by = actor.label
        locked.save(update_fields=["revoked_at", "revoked_by"])
        audit_record(
            actor=actor, action="customer_session.revoked", target=locked, before=before,
            after=_session_snapshot(locked),
        )  # fmt: skip
    return locked


@dataclass(frozen=True)
class RevokedAll:
    customer: Customer
    sessions: list[str]  # public ids of the sessions revoked now
    revoked_at: datetime


def _live_sessions(customer: Customer, now: datetime) -> Q:
    return Q(customer=customer, revoked_at__isnull=True, expires_at__gt=now - timedelta(seconds=LEEWAY_SECONDS))


def customer_sessions_revoke_all(*, customer: Customer, actor: Actor) -> RevokedAll:
    """Revoke every session of the customer minted so far; sessions minted afterwards work.
    Audited. Redis unreachable: SessionsUnavailable, and the database records nothing (should
    Redis have taken part of it, those tokens are refused: over-revoked, never under; a retry
    records them).

    Redis first, outside the transaction: the customer's "not before" (tokens issued in an earlier
    second; it only ever moves forward) and each session already minted (those of this very
    second too). The transaction then records as revoked exactly what Redis refuses: a session
    minted in this second after the read above was minted after the revocation began, and keeps
    working."""
    now = timezone.now()
    minted = list(CustomerSession.objects.filter(_live_sessions(customer, now)).only("jti", "expires_at"))
    not_before = datetime.fromtimestamp(int(now.timestamp()), UTC)  # `iat` has whole seconds
    try:
        if settings.REDIS_URL:
            not_before_record(merchant_id=customer.merchant_id, customer=customer.public_id, at=now.timestamp())
        _revoke_in_redis(minted)
    except redis.RedisError as exc:
        raise SessionsUnavailable(code=SESSIONS_UNAVAILABLE_CODE) from exc
    with transaction.atomic():
        Customer.objects.select_for_update().filter(pk=customer.pk).first()  # as minting takes it
        live = list(
            CustomerSession.objects.select_for_update()
            .filter(_live_sessions(customer, now))
            .filter(Q(pk__in=[session.pk for session in minted]) | Q(created_at__lt=not_before))
            .order_by("id")
        )
        CustomerSession.objects.filter(pk__in=[session.pk for session in live]).update(
            revoked_at=now, revoked_by=actor.label
        )
        revoked = [session.public_id for session in live]
        audit_record(
            actor=actor, action="customer_sessions.revoked_all", target=customer, merchant_id=customer.merchant_id,
            after={"sessions": revoked, "revoked_at": now},
        )  # fmt: skip
    return RevokedAll(customer=customer, sessions=revoked, revoked_at=now)


def session_signing_keys_reencrypt(*, actor: Actor) -> int:
    """Re-encrypt every signing key's secret with the first FIELD_ENCRYPTION_KEYS key (a key
    rotation, `rotate_field_encryption`); the keys themselves stay the same. Audited."""
    count = 0
    for pk in SigningKey.objects.order_by("pk").values_list("pk", flat=True):
        with transaction.atomic():
            locked = SigningKey.objects.select_for_update().get(pk=pk)
            locked.secret_ciphertext = crypto.reencrypt(locked.secret_ciphertext)
            locked.save(update_fields=["secret_ciphertext"])
            audit_record(
                actor=actor, action="session_key.secret_reencrypted", target=locked, merchant_id=locked.merchant_id
            )
            count += 1
    return count
