"""Customer session tokens: what is accepted and what is refused, with real PostgreSQL and Redis.

Tests run with committed data (transactional_db): the stamps that tell every process a signing key
changed are set when a change commits."""

from __future__ import annotations

import time
from datetime import timedelta

import jwt
import pytest
from django.conf import settings as django_settings
from django.utils import timezone

from apps.core.redis_client import redis_client
from apps.sessions_api.keys import MAX_LIFETIME_SECONDS, public_jwk
from apps.sessions_api.models import CustomerSession, SigningAlgorithm, SigningKey
from apps.sessions_api.revocations import loaded_key, revoked_key
from apps.sessions_api.services import customer_session_revoke, customer_sessions_revoke_all, session_key_rotate
from apps.sessions_api.verification import session_token_verify
from tests.factories import CustomerFactory, PaymentFactory

from .factories import SigningKeyFactory
from .tokens import ACTOR, claims_for, error_code, hand_made, sign

pytestmark = pytest.mark.django_db(transaction=True)

PAYMENTS = "/api/v1/payments"


def test_a_minted_token_carries_the_claims_and_reads_the_customers_payments(customer, mint, bearer):
    payment = PaymentFactory(merchant=customer.merchant, customer=customer)

    token = mint(customer, ["payments.read"], expires_in=600)
    response = bearer(token).get(PAYMENTS)

    assert response.status_code == 200, response.content
    assert [p["id"] for p in response.json()["data"]] == [payment.public_id]
    header = jwt.get_unverified_header(token)
    key = SigningKey.objects.get(merchant=customer.merchant)
    assert header == {"alg": "HS256", "kid": key.kid, "typ": "JWT"}
    claims = jwt.decode(token, options={"verify_signature": False})
    session = CustomerSession.objects.get(jti=claims["jti"])
    assert (claims["aud"] == "clearhouse:customer" and claims["iss"] == "http://testserver") or claims["iss"]
    assert (claims["sub"], claims["mch"], claims["sid"]) == (
        customer.public_id, customer.merchant.public_id, session.public_id,
    )  # fmt: skip
    assert claims["nbf"] == claims["iat"] and claims["exp"] - claims["iat"] == 600
    assert claims["scope"] == "payments.read"


def test_a_kept_key_verifies_without_a_database_query(customer, mint, django_assert_num_queries):
    token = mint(customer)
    session_token_verify(token)  # the key read and kept

    with django_assert_num_queries(0):
        verified = session_token_verify(token)

    assert verified.scope.customer == customer.public_id


@pytest.mark.parametrize(
    ("shifts", "code"),
    [
        ({"exp": -60, "iat": -660, "nbf": -660}, "session_token_expired"),
        ({"nbf": 120}, "session_token_invalid"),  # not yet valid
        ({"iat": 120, "nbf": 120}, "session_token_invalid"),  # issued in the future
        ({"exp": MAX_LIFETIME_SECONDS + 60}, "session_token_invalid"),  # a longer life than we give
    ],
    ids=["expired", "not-yet-valid", "issued-in-the-future", "too-long"],
)
def test_tokens_outside_their_times_are_refused(customer, bearer, shifts, code):
    key = SigningKeyFactory(merchant=customer.merchant)
    now = int(time.time())  # seconds from now, as the test runs
    token = sign(claims_for(customer, **{claim: now + shift for claim, shift in shifts.items()}), key)

    response = bearer(token).get(PAYMENTS)

    assert response.status_code == 401 and error_code(response) == code


@pytest.mark.parametrize(
    "overrides",
    [
        {"aud": "clearhouse:merchant"},
        {"iss": "https://elsewhere.example"},
        {"exp": None},  # a required claim missing
        {"scope": "payments.read refunds.create"},  # an ability we never grant
    ],
    ids=["wrong-audience", "wrong-issuer", "no-exp", "unknown-ability"],
)
def test_claims_clearhouse_would_never_sign_are_refused(customer, bearer, overrides):
    key = SigningKeyFactory(merchant=customer.merchant)
    token = sign(claims_for(customer, **overrides), key)

    response = bearer(token).get(PAYMENTS)

    assert response.status_code == 401 and error_code(response) == "session_token_invalid"
    assert response["WWW-Authenticate"] == 'Bearer realm="api"'


def test_a_forged_signature_is_refused(customer, mint, bearer):
    token = mint(customer)
    header, claims, signature = token.split(".")
    forged = f"{header}.{claims}.{signature[:-4]}{'AAAA' if not signature.endswith('AAAA') else 'BBBB'}"
    other_secret = hand_made(jwt.get_unverified_header(token), jwt.decode(token, options={"verify_signature": False}),
                             b"a secret of my own")  # fmt: skip

    for attempt in (forged, other_secret):
        response = bearer(attempt).get(PAYMENTS)
        assert response.status_code == 401 and error_code(response) == "session_token_invalid"


def test_a_token_claiming_another_merchant_is_refused(customer, bearer):
    """One merchant's key never vouches for another merchant's customer."""
    other_customer = CustomerFactory()
    PaymentFactory(merchant=other_customer.merchant, customer=other_customer)
    own_key = SigningKeyFactory(merchant=customer.merchant)
    SigningKeyFactory(merchant=other_customer.merchant)

    token = sign(claims_for(other_customer), own_key)  # the other merchant's customer, our key
    response = bearer(token).get(PAYMENTS)

    assert response.status_code == 401 and error_code(response) == "session_token_invalid"


def test_a_token_naming_another_merchants_kid_is_refused(customer, bearer):
    own_key = SigningKeyFactory(merchant=customer.merchant)
    other_key = SigningKeyFactory()

    token = sign(claims_for(customer), own_key, kid=other_key.kid)  # signed with ours, names theirs

    response = bearer(token).get(PAYMENTS)
    assert response.status_code == 401 and error_code(response) == "session_token_invalid"


def test_a_token_without_a_kid_or_with_an_unknown_kid_is_refused(customer, bearer):
    key = SigningKeyFactory(merchant=customer.merchant)
    claims = claims_for(customer)
    no_kid = jwt.encode(claims, key.secret().encode(), algorithm="HS256")
    unknown_kid = jwt.encode(claims, key.secret().encode(), algorithm="HS256", headers={"kid": "csk_unknown"})

    refused = bearer(no_kid).get(PAYMENTS)
    assert refused.status_code == 401 and "kid" in refused.json()["error"]["message"]
    refused = bearer(unknown_kid).get(PAYMENTS)
    assert refused.status_code == 401 and error_code(refused) == "session_token_invalid"


def test_alg_none_is_refused(customer, bearer):
    key = SigningKeyFactory(merchant=customer.merchant)

    for alg in ("none", "None", "NONE"):
        token = hand_made({"alg": alg, "typ": "JWT", "kid": key.kid}, claims_for(customer), secret=None)
        response = bearer(token).get(PAYMENTS)
        assert response.status_code == 401 and error_code(response) == "session_token_invalid"


def test_an_hs256_token_signed_with_an_es256_keys_public_pem_is_refused(customer, bearer, mint):
    """Algorithm confusion: the public key is public (the JWKS), so it must never work as a secret."""
    key = SigningKeyFactory(merchant=customer.merchant, algorithm=SigningAlgorithm.ES256)
    assert bearer(mint(customer)).get(PAYMENTS).status_code == 200  # the ES256 key itself works

    confused = hand_made({"alg": "HS256", "typ": "JWT", "kid": key.kid}, claims_for(customer), key.public_key.encode())
    response = bearer(confused).get(PAYMENTS)

    assert response.status_code == 401 and error_code(response) == "session_token_invalid"


def test_an_es256_token_verifies_with_the_published_jwk(customer, mint):
    key = SigningKeyFactory(merchant=customer.merchant, algorithm=SigningAlgorithm.ES256)
    token = mint(customer)

    claims = jwt.decode(
        token, jwt.PyJWK(public_jwk(key)).key, algorithms=["ES256"], audience="clearhouse:customer",
        options={"verify_iss": False},
    )  # fmt: skip

    assert jwt.get_unverified_header(token)["alg"] == "ES256" and claims["sub"] == customer.public_id


def test_a_revoked_session_is_refused_at_once(customer, mint, bearer):
    token = mint(customer)
    client = bearer(token)
    assert client.get(PAYMENTS).status_code == 200  # its key is kept in this process

    session = CustomerSession.objects.get(customer=customer)
    customer_session_revoke(session=session, actor=ACTOR)

    response = client.get(PAYMENTS)
    assert response.status_code == 401 and error_code(response) == "session_revoked"


def test_a_redis_that_lost_its_revocations_is_filled_again_from_the_database(customer, mint, bearer):
    token = mint(customer)
    session = customer_session_revoke(session=CustomerSession.objects.get(customer=customer), actor=ACTOR)
    redis = redis_client(django_settings.REDIS_URL)
    redis.delete(revoked_key(session.jti), loaded_key())  # a Redis restarted without its data

    response = bearer(token).get(PAYMENTS)

    assert response.status_code == 401 and error_code(response) == "session_revoked"
    assert redis.exists(revoked_key(session.jti)) and redis.exists(loaded_key())


def test_without_redis_no_token_is_accepted(customer, mint, bearer, settings):
    """Fail closed: a revocation could not be seen."""
    token = mint(customer)
    assert bearer(token).get(PAYMENTS).status_code == 200

    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens there
    response = bearer(token).get(PAYMENTS)

    assert response.status_code == 503 and error_code(response) == "customer_sessions_unavailable"


def test_a_deactivated_merchants_tokens_are_refused(customer, mint, bearer):
    token = mint(customer)
    assert bearer(token).get(PAYMENTS).status_code == 200

    customer.merchant.is_active = False
    customer.merchant.save()

    response = bearer(token).get(PAYMENTS)
    assert response.status_code == 401 and error_code(response) == "merchant_inactive"


def test_after_a_rotation_the_old_keys_tokens_work_until_they_expire(customer, mint, bearer):
    old_token = mint(customer)
    old_key = SigningKey.objects.get(merchant=customer.merchant)
    assert bearer(old_token).get(PAYMENTS).status_code == 200

    new_key = session_key_rotate(merchant=customer.merchant, actor=ACTOR)
    new_token = mint(customer)

    assert jwt.get_unverified_header(new_token)["kid"] == new_key.kid != old_key.kid
    assert bearer(old_token).get(PAYMENTS).status_code == 200  # still within its life
    assert bearer(new_token).get(PAYMENTS).status_code == 200
    old_key.refresh_from_db()
    assert old_key.retired_at is not None and new_key.retired_at is None


def test_a_compromised_rotation_ends_every_token_of_the_old_keys_at_once(customer, mint, bearer):
    old_token = mint(customer)
    assert bearer(old_token).get(PAYMENTS).status_code == 200  # this process now keeps the key

    new_key = session_key_rotate(merchant=customer.merchant, actor=ACTOR, compromised=True)
    refused = bearer(old_token).get(PAYMENTS)
    new_token = mint(customer)

    assert refused.status_code == 401 and "withdrawn" in refused.json()["error"]["message"]
    assert jwt.get_unverified_header(new_token)["kid"] == new_key.kid
    assert bearer(new_token).get(PAYMENTS).status_code == 200
    assert SigningKey.objects.filter(merchant=customer.merchant, compromised_at__isnull=False).count() == 1


def test_a_kid_that_is_not_ours_is_refused_before_any_lookup(customer, bearer, django_assert_num_queries):
    token = sign(claims_for(customer), SigningKeyFactory(merchant=customer.merchant), kid="../../etc/passwd")
    with django_assert_num_queries(0):
        assert bearer(token).get(PAYMENTS).status_code == 401


def test_a_retired_key_verifies_only_what_it_signed_before_retiring_and_not_beyond_the_window(customer, bearer):
    key = SigningKeyFactory(merchant=customer.merchant)
    now = int(time.time())
    key.retired_at = timezone.now() - timedelta(seconds=3000)
    key.save()
    retired = int(key.retired_at.timestamp())
    signed_before = sign(claims_for(customer, iat=retired - 100, nbf=retired - 100, exp=retired - 100 + 3600), key)
    signed_after = sign(claims_for(customer, iat=now - 10, nbf=now - 10, exp=now + 600), key)

    assert bearer(signed_before).get(PAYMENTS).status_code == 200  # signed while active, not expired
    refused = bearer(signed_after).get(PAYMENTS)
    assert refused.status_code == 401 and "retired" in refused.json()["error"]["message"]

    # Past the window (retired longer ago than any token lives) it verifies nothing, even a token
    # claiming a life it was never given.
    key.retired_at = timezone.now() - timedelta(seconds=MAX_LIFETIME_SECONDS + 60)
    key.save()
    retired = int(key.retired_at.timestamp())
    stretched = sign(claims_for(customer, iat=retired - 10, nbf=retired - 10, exp=now + 600), key)
    assert bearer(stretched).get(PAYMENTS).status_code == 401
    assert bearer(signed_before).get(PAYMENTS).status_code == 401


def test_an_api_key_and_a_malformed_header_are_answered_as_before(api, customer, client_for):
    assert api.get(PAYMENTS).status_code == 200
    malformed = client_for("x.y.z")
    malformed.credentials(HTTP_AUTHORIZATION="Token a.b.c")

    response = malformed.get(PAYMENTS)

    assert response.status_code == 401 and error_code(response) == "authorization_malformed"


def test_revoking_all_refuses_a_token_issued_before_even_without_its_session_row(customer, mint, bearer):
    """The customer's "not before" alone refuses it: a token signed with the merchant's key whose
    session the database does not hold (so no revocation of its own could name it)."""
    mint(customer)  # the merchant's key
    key = SigningKey.objects.get(merchant=customer.merchant)
    earlier = int(time.time()) - 30
    token = sign(claims_for(customer, jti="jti-not-in-the-database", iat=earlier, nbf=earlier), key)
    assert bearer(token).get(PAYMENTS).status_code == 200

    customer_sessions_revoke_all(customer=customer, actor=ACTOR)

    refused = bearer(token).get(PAYMENTS)
    assert refused.status_code == 401 and error_code(refused) == "session_revoked"
