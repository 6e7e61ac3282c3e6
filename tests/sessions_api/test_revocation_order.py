"""Revocations reach Redis before their transaction begins (no network call inside one): a
transaction that then fails leaves the token refused (fail closed) and the retry records it; a
Redis that cannot take them changes nothing. And a field-key rotation re-encrypts signing keys."""

from __future__ import annotations

import threading
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import OperationalError, connection, transaction

from apps.audit.models import AuditEvent
from apps.core import crypto
from apps.core.redis_client import redis_client
from apps.sessions_api import key_cache, services
from apps.sessions_api.errors import SessionsUnavailable
from apps.sessions_api.models import CustomerSession
from apps.sessions_api.revocations import loaded_key, revoked_key
from apps.sessions_api.services import customer_session_revoke, customer_sessions_revoke_all

from .tokens import ACTOR, error_code

pytestmark = pytest.mark.django_db(transaction=True)

PAYMENTS = "/api/v1/payments"


class RowHeld:
    """Another connection holds the session's row lock until released."""

    def __init__(self, pk: int) -> None:
        self.pk, self.locked, self.release = pk, threading.Event(), threading.Event()
        self.thread = threading.Thread(target=self._hold)

    def _hold(self) -> None:
        try:
            with transaction.atomic():
                CustomerSession.objects.select_for_update().get(pk=self.pk)
                self.locked.set()
                self.release.wait(15)
        finally:
            connection.close()

    def __enter__(self) -> RowHeld:
        self.thread.start()
        assert self.locked.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        self.release.set()
        self.thread.join(15)


def test_a_revocation_whose_transaction_fails_after_redis_took_it_fails_closed_and_a_retry_records_it(
    customer, mint, bearer
):
    token = mint(customer)
    session = CustomerSession.objects.get(customer=customer)
    with RowHeld(session.pk):
        with connection.cursor() as cursor:
            cursor.execute("SET lock_timeout = '300ms'")
        try:
            with pytest.raises(OperationalError):  # the lock never came: the transaction failed
                customer_session_revoke(session=session, actor=ACTOR)
        finally:
            with connection.cursor() as cursor:
                cursor.execute("RESET lock_timeout")

    session.refresh_from_db()
    assert session.revoked_at is None and not AuditEvent.objects.filter(action="customer_session.revoked").exists()
    assert error_code(bearer(token).get(PAYMENTS)) == "session_revoked"  # refused all the same

    customer_session_revoke(session=session, actor=ACTOR)

    session.refresh_from_db()
    assert session.revoked_at is not None
    assert AuditEvent.objects.filter(action="customer_session.revoked").count() == 1


def test_revoking_all_with_redis_unreachable_changes_nothing(customer, mint, settings):
    mint(customer)
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens there

    with pytest.raises(SessionsUnavailable):
        customer_sessions_revoke_all(customer=customer, actor=ACTOR)

    assert not CustomerSession.objects.filter(revoked_at__isnull=False).exists()
    assert not AuditEvent.objects.filter(action="customer_sessions.revoked_all").exists()


def test_revoking_all_revokes_in_the_database_exactly_what_redis_refuses(customer, mint, bearer):
    tokens = [mint(customer), mint(customer)]

    revoked = customer_sessions_revoke_all(customer=customer, actor=ACTOR)

    assert len(revoked.sessions) == 2
    assert set(CustomerSession.objects.filter(revoked_at__isnull=False).values_list("public_id", flat=True)) == set(
        revoked.sessions
    )
    for token in tokens:
        assert error_code(bearer(token).get(PAYMENTS)) == "session_revoked"


def test_a_field_key_rotation_reencrypts_the_session_signing_keys(customer, mint, bearer, settings):
    token = mint(customer)
    old_key, new_key = settings.FIELD_ENCRYPTION_KEYS[0], crypto.generate_key()
    settings.FIELD_ENCRYPTION_KEYS = [new_key, old_key]
    printed = StringIO()

    call_command("rotate_field_encryption", stdout=printed)

    settings.FIELD_ENCRYPTION_KEYS = [new_key]  # the old field key is gone
    key_cache.forget_keys()
    assert bearer(token).get(PAYMENTS).status_code == 200  # the same signing key, read with the new field key
    assert "1 session signing key(s)" in printed.getvalue()
    assert AuditEvent.objects.filter(action="session_key.secret_reencrypted").count() == 1


def test_reloading_revocations_after_a_failover_refuses_the_revoked_tokens_again(customer, mint, bearer, settings):
    token = mint(customer)
    session = CustomerSession.objects.get(customer=customer)
    customer_session_revoke(session=session, actor=ACTOR)
    redis = redis_client(settings.REDIS_URL)
    redis.delete(revoked_key(session.jti))  # lost with a primary (failover) ...
    redis.set(loaded_key(), "kept")  # ... while the marker stayed
    assert bearer(token).get(PAYMENTS).status_code == 200  # what the runbook is for
    printed = StringIO()

    call_command("reload_session_revocations", stdout=printed)

    assert error_code(bearer(token).get(PAYMENTS)) == "session_revoked"
    assert printed.getvalue() == "1 revoked session(s) written to Redis.\n"


def test_sessions_minted_while_a_revoke_all_runs_are_refused_exactly_when_recorded(customer, mint, bearer, monkeypatch):
    """Between revoke-all's read of the customer's sessions and its transaction, two more sessions
    commit: one of an earlier second (a slow mint) and one minted now. Each is refused by Redis
    exactly when the database records it revoked."""
    mint(customer)  # the merchant's key
    late: list[CustomerSession] = []
    record_not_before = services.not_before_record

    def and_meanwhile(**kwargs: object) -> None:
        record_not_before(**kwargs)  # type: ignore[arg-type]
        minted_now = services.customer_session_create(customer=customer, abilities=["payments.read"], actor=ACTOR)
        slow = services.customer_session_create(customer=customer, abilities=["payments.read"], actor=ACTOR)
        earlier = slow.session.created_at - timedelta(seconds=2)  # its mint read the clock 2 s ago
        CustomerSession.objects.filter(pk=slow.session.pk).update(created_at=earlier)
        late.extend([minted_now.session, CustomerSession.objects.get(pk=slow.session.pk)])

    monkeypatch.setattr(services, "not_before_record", and_meanwhile)

    revoked = customer_sessions_revoke_all(customer=customer, actor=ACTOR)

    monkeypatch.undo()
    for session in late:
        session.refresh_from_db()
        response = bearer(services.session_token(session)).get(PAYMENTS)
        refused = response.status_code == 401 and error_code(response) == "session_revoked"
        assert refused == (session.revoked_at is not None) == (session.public_id in revoked.sessions), session
    assert late[1].revoked_at is not None  # the slow one, of an earlier second, is caught by "not before"
