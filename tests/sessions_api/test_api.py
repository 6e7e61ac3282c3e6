"""/api/v1/customer-sessions, revocations, the JWKS and the rotation command, through HTTP."""

from __future__ import annotations

from io import StringIO

import jwt
import pytest
from django.conf import settings as django_settings
from django.core.management import call_command

from apps.audit.models import AuditEvent
from apps.core.redis_client import redis_client
from apps.sessions_api.models import CustomerSession, SigningAlgorithm, SigningKey
from apps.sessions_api.revocations import not_before_key, revoked_key
from apps.sessions_api.services import customer_session_create
from tests.factories import CustomerFactory

from .factories import SigningKeyFactory
from .tokens import ACTOR, error_code

pytestmark = pytest.mark.django_db(transaction=True)

SESSIONS = "/api/v1/customer-sessions"
PAYMENTS = "/api/v1/payments"


def test_minting_returns_a_token_for_the_customer_and_records_the_session(api, customer, bearer):
    response = api.post(
        SESSIONS, {"customer": customer.public_id, "abilities": ["subscriptions.read", "payments.read"]}, format="json"
    )

    assert response.status_code == 201, response.content
    body = response.json()
    session = CustomerSession.objects.get(public_id=body["id"])
    assert body["id"].startswith("cs_") and body["object"] == "customer_session"
    assert body["customer"] == customer.public_id and body["abilities"] == ["payments.read", "subscriptions.read"]
    assert session.abilities == body["abilities"] and session.revoked_at is None
    assert (session.expires_at - session.created_at).total_seconds() == 900  # the default lifetime
    claims = jwt.decode(body["token"], options={"verify_signature": False})
    assert claims["jti"] == session.jti and claims["sid"] == session.public_id
    assert AuditEvent.objects.filter(action="customer_session.created", target_id=session.public_id).exists()
    assert bearer(body["token"]).get(PAYMENTS).status_code == 200


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"abilities": ["payments.read"]}, "customer"),
        ({"abilities": []}, "abilities"),
        ({"abilities": ["payments.write"]}, "abilities"),
        ({"abilities": ["payments.read"], "expires_in": 3601}, "expires_in"),
        ({"abilities": ["payments.read"], "expires_in": 0}, "expires_in"),
        ({"abilities": ["payments.read"], "scope": "all"}, "scope"),
    ],
    ids=["no-customer", "no-ability", "unknown-ability", "too-long", "zero", "unknown-parameter"],
)
def test_a_bad_mint_request_is_refused_and_mints_nothing(api, customer, body, param):
    body = {"customer": customer.public_id, **body} if param != "customer" else body

    response = api.post(SESSIONS, body, format="json")

    assert response.status_code == 400 and response.json()["error"]["param"].startswith(param)
    assert not CustomerSession.objects.exists()


def test_another_merchants_customer_is_not_found(api):
    stranger = CustomerFactory()

    response = api.post(SESSIONS, {"customer": stranger.public_id, "abilities": ["payments.read"]}, format="json")

    assert response.status_code == 404 and not CustomerSession.objects.exists()


def test_minting_again_with_the_same_idempotency_key_replays_the_same_token(api, customer):
    body = {"customer": customer.public_id, "abilities": ["payments.read"], "expires_in": 300}

    first = api.post(SESSIONS, body, format="json", HTTP_IDEMPOTENCY_KEY="signin-42")
    again = api.post(SESSIONS, body, format="json", HTTP_IDEMPOTENCY_KEY="signin-42")

    assert first.status_code == again.status_code == 201
    assert again["Idempotent-Replayed"] == "true" and again.json() == first.json()
    assert CustomerSession.objects.count() == 1


def test_revoking_a_session_refuses_its_token_and_is_audited(api, customer, bearer, mint):
    token = mint(customer)
    other_token = mint(customer)
    session_id = jwt.decode(token, options={"verify_signature": False})["sid"]
    assert bearer(token).get(PAYMENTS).status_code == 200

    response = api.post(f"{SESSIONS}/{session_id}/revoke")

    assert response.status_code == 200 and response.json()["revoked"] is True
    assert error_code(bearer(token).get(PAYMENTS)) == "session_revoked"
    assert bearer(other_token).get(PAYMENTS).status_code == 200  # only that session
    assert AuditEvent.objects.filter(action="customer_session.revoked", target_id=session_id).exists()
    assert api.post(f"{SESSIONS}/{session_id}/revoke").json()["revoked_at"] == response.json()["revoked_at"]


def test_revoking_all_of_a_customers_sessions_takes_effect_at_once(api, customer, bearer, mint):
    tokens = [mint(customer), mint(customer, ["subscriptions.read"])]
    someone_else = mint(CustomerFactory(merchant=customer.merchant))
    # Both authenticate: the second lacks payments.read (403), not a valid session.
    assert [bearer(token).get(PAYMENTS).status_code for token in tokens] == [200, 403]

    response = api.post(f"/api/v1/customers/{customer.public_id}/sessions/revoke")

    assert response.status_code == 200 and len(response.json()["revoked_sessions"]) == 2
    for token in tokens:
        assert error_code(bearer(token).get(PAYMENTS)) == "session_revoked"
    assert bearer(someone_else).get(PAYMENTS).status_code == 200
    assert bearer(mint(customer)).get(PAYMENTS).status_code == 200  # signing in again works
    assert CustomerSession.objects.filter(customer=customer, revoked_at__isnull=True).count() == 1
    assert redis_client(django_settings.REDIS_URL).exists(not_before_key(customer.merchant_id, customer.public_id))


def test_a_revocation_redis_cannot_take_is_refused_and_changes_nothing(api, customer, mint, settings):
    mint(customer)
    session = CustomerSession.objects.get(customer=customer)
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens there

    response = api.post(f"{SESSIONS}/{session.public_id}/revoke")

    assert response.status_code == 503 and error_code(response) == "customer_sessions_unavailable"
    session.refresh_from_db()
    assert session.revoked_at is None
    assert not AuditEvent.objects.filter(action="customer_session.revoked").exists()


def test_a_customer_token_cannot_mint_revoke_or_use_merchant_endpoints(customer, bearer, mint):
    client = bearer(mint(customer))
    session_id = CustomerSession.objects.get(customer=customer).public_id

    for method, path in [
        ("post", SESSIONS),
        ("post", f"{SESSIONS}/{session_id}/revoke"),
        ("post", f"/api/v1/customers/{customer.public_id}/sessions/revoke"),
        ("post", PAYMENTS),
        ("get", "/api/v1/merchant"),
        ("get", "/api/v1/customers"),
        ("get", f"/api/v1/customers/{customer.public_id}"),
        ("get", "/api/v1/events"),
        ("get", "/api/v1/catalog/products"),
    ]:
        response = getattr(client, method)(path, {}, format="json")
        assert response.status_code == 403, (path, response.content)
        assert response.json()["error"]["type"] == "permission_error"
    assert CustomerSession.objects.filter(revoked_at__isnull=True).count() == 1


def test_jwks_publishes_only_the_asymmetric_keys_that_still_verify(client, merchant, other_merchant):
    SigningKeyFactory(merchant=merchant)  # HS256: never published
    assert client.get("/.well-known/jwks.json").json() == {"keys": []}

    es256 = SigningKeyFactory(merchant=other_merchant, algorithm=SigningAlgorithm.ES256)
    keys = client.get("/.well-known/jwks.json").json()["keys"]

    assert len(keys) == 1
    assert {key: keys[0][key] for key in ("kty", "crv", "kid", "alg", "use")} == {
        "kty": "EC", "crv": "P-256", "kid": es256.kid, "alg": "ES256", "use": "sig",
    }  # fmt: skip
    assert "d" not in keys[0]  # never the private part


def test_the_rotation_command_retires_the_active_key_and_is_audited(merchant, settings):
    settings.CUSTOMER_SESSION_ALGORITHM = "ES256"
    old = SigningKeyFactory(merchant=merchant)
    printed = StringIO()

    call_command("rotate_session_key", merchant.slug, stdout=printed)

    new = SigningKey.objects.get(merchant=merchant, retired_at__isnull=True)
    old.refresh_from_db()
    assert old.retired_at is not None and new.algorithm == "ES256" and new.kid in printed.getvalue()
    event = AuditEvent.objects.get(action="session_key.rotated")
    assert event.after["retired"] == [old.kid] and "secret" not in str(event.after)
    assert new.secret_ciphertext and "PRIVATE KEY" not in new.secret_ciphertext  # stored encrypted


def test_the_first_session_of_a_merchant_makes_its_key(customer):
    assert not SigningKey.objects.exists()

    customer_session_create(customer=customer, abilities=["payments.read"], actor=ACTOR)
    customer_session_create(customer=customer, abilities=["payments.read"], actor=ACTOR)

    assert SigningKey.objects.filter(merchant=customer.merchant).count() == 1


def test_revoked_sessions_are_kept_in_redis_until_their_tokens_expire(api, customer, mint):
    mint(customer, expires_in=120)
    session = CustomerSession.objects.get(customer=customer)

    api.post(f"{SESSIONS}/{session.public_id}/revoke")

    ttl = redis_client(django_settings.REDIS_URL).ttl(revoked_key(session.jti))
    assert 100 < ttl <= 125
