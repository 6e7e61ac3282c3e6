"""The quickstart without Redis (REDIS_URL empty): every token is checked against the database,
so revocations hold there too; the per-customer limit is counted in the default cache."""

from __future__ import annotations

import jwt
import pytest
from django.core.cache import cache

from apps.sessions_api.models import CustomerSession
from apps.sessions_api.services import customer_session_revoke, customer_sessions_revoke_all
from apps.sessions_api.verification import merchant_throttle
from tests.factories import CustomerFactory, PaymentFactory

from .tokens import ACTOR, error_code

pytestmark = [pytest.mark.sqlite, pytest.mark.django_db]

PAYMENTS = "/api/v1/payments"


@pytest.fixture(autouse=True)
def no_redis(settings):
    settings.REDIS_URL = ""


def test_a_token_reads_and_a_revoked_one_is_refused(customer, mint, bearer):
    PaymentFactory(merchant=customer.merchant, customer=customer)
    token, other = mint(customer), mint(customer)
    assert len(bearer(token).get(PAYMENTS).json()["data"]) == 1

    customer_session_revoke(session=CustomerSession.objects.get(jti__in=[_jti(token)]), actor=ACTOR)

    assert error_code(bearer(token).get(PAYMENTS)) == "session_revoked"
    assert bearer(other).get(PAYMENTS).status_code == 200
    customer_sessions_revoke_all(customer=customer, actor=ACTOR)
    assert error_code(bearer(other).get(PAYMENTS)) == "session_revoked"
    assert bearer(mint(customer)).get(PAYMENTS).status_code == 200


def test_the_customer_limit_is_counted_in_the_cache(customer, mint, bearer, settings):
    settings.CUSTOMER_SESSION_THROTTLE_RATE = "2/h"  # one window for the whole test
    client = bearer(mint(customer))

    assert [client.get(PAYMENTS).status_code for _ in range(3)] == [200, 200, 429]


def _jti(token: str) -> str:
    jti: str = jwt.decode(token, options={"verify_signature": False})["jti"]
    return jti


def test_the_merchants_cap_is_counted_in_the_cache_too(customer, mint, bearer, settings):
    settings.CUSTOMER_SESSION_MERCHANT_THROTTLE_RATE = "2/h"
    cache.delete(merchant_throttle(customer.merchant_id)[0])  # a window of an earlier run
    first, second = bearer(mint(customer)), bearer(mint(CustomerFactory(merchant=customer.merchant)))

    assert [client.get(PAYMENTS).status_code for client in (first, second, first)] == [200, 200, 429]
