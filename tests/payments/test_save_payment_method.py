"""POST /api/v1/payments/{id}/save-payment-method: the card of a succeeded Authorize.Net payment saved
as the customer's payment method through createCustomerProfileFromTransaction (SDK and sandbox),
without the card number being sent again."""

from __future__ import annotations

import json
import uuid

import pytest

from apps.audit.models import AuditEvent
from apps.customers.models import PaymentMethod, VaultProfile
from apps.payments.models import Payment, PaymentStatus
from apps.sandbox.models import AnetCustomerProfile, AnetPaymentProfile

from .helpers import VISA, purchase

pytestmark = pytest.mark.django_db(transaction=True)
MASTERCARD = {"type": "card", "number": "5424000000000015", "exp_month": 11, "exp_year": 2031, "cvc": "456"}


def customer(api, email="ada@example.com"):
    return api.post("/api/v1/customers", {"email": email, "name": "Ada"}, format="json").json()["id"]


def paid(api, customer_id=None, card=None, amount=1050, **extra):
    body = {"payment_method": dict(card or VISA), **extra}
    if customer_id:
        body["customer"] = customer_id
    response = purchase(api, amount, reference=f"order-{uuid.uuid4().hex[:8]}", **body)
    assert response.status_code in {201, 402}, response.json()
    return response.json()


def save(api, payment_id, body=None, key=None):
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key else {}
    return api.post(f"/api/v1/payments/{payment_id}/save-payment-method", body or {}, format="json", **headers)


def saved_state():
    return (
        list(PaymentMethod.objects.values()),
        list(VaultProfile.objects.values()),
        AnetPaymentProfile.objects.count(),
        AuditEvent.objects.filter(action="payment_method.added").count(),
    )


def test_the_card_of_a_payment_is_saved_once_for_its_customer(api, anet_account):
    customer_id = customer(api)
    payment = paid(api, customer_id, MASTERCARD)
    key = uuid.uuid4().hex

    response = save(api, payment["id"], key=key)
    replay = save(api, payment["id"], key=key)
    again = save(api, payment["id"])  # a new request: the card already saved

    method = response.json()
    assert response.status_code == 201, method
    assert (method["customer"], method["card"]) == (
        customer_id,
        {"brand": "mastercard", "last4": "0015", "exp_month": 11, "exp_year": 2031},
    )
    assert (replay.status_code, replay["Idempotent-Replayed"], replay.json()["id"]) == (201, "true", method["id"])
    assert (again.status_code, again.json()["id"]) == (201, method["id"])
    assert (PaymentMethod.objects.count(), VaultProfile.objects.count(), AnetPaymentProfile.objects.count()) == (
        1,
        1,
        1,
    )
    assert AuditEvent.objects.filter(action="payment_method.added", target_id=method["id"]).count() == 1
    vault = AnetCustomerProfile.objects.get()
    assert (vault.merchant_customer_id, vault.email) == (
        f"cus{PaymentMethod.objects.get().customer_id}",
        "ada@example.com",
    )
    assert "5424000000000015" not in json.dumps(list(AnetPaymentProfile.objects.values()), default=str)
    charged = api.get(f"/api/v1/customers/{customer_id}").json()
    assert charged["default_payment_method"] == method["id"]  # the customer's first card


def test_a_customer_with_a_vault_profile_gets_the_card_added_to_it(api, anet_account):
    customer_id = customer(api)
    first = api.post(f"/api/v1/customers/{customer_id}/payment-methods", VISA, format="json").json()
    payment = paid(api, customer_id, MASTERCARD)

    response = save(api, payment["id"])

    assert response.status_code == 201, response.json()
    assert response.json()["id"] != first["id"] and response.json()["is_default"] is False
    assert (VaultProfile.objects.count(), AnetCustomerProfile.objects.count()) == (1, 1)
    assert AnetPaymentProfile.objects.filter(customer_profile=AnetCustomerProfile.objects.get()).count() == 2


def test_the_card_is_saved_for_the_customer_named_when_the_payment_has_none(api, anet_account):
    payment = paid(api)
    customer_id = customer(api, "grace@example.com")
    before = saved_state()

    nobody = save(api, payment["id"])
    assert (nobody.status_code, nobody.json()["error"]["code"]) == (400, "customer_required")
    assert saved_state() == before

    response = save(api, payment["id"], {"customer": customer_id})

    assert (response.status_code, response.json()["customer"]) == (201, customer_id)


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"customer": "cus_nobody"}, 404, "resource_missing"),
        ({"customer": "cus_" + "x" * 60}, 400, None),
        ({"card": "4111111111111111"}, 400, None),
    ],
)
def test_bad_input_is_refused_and_nothing_is_saved(api, anet_account, body, status, code):
    payment = paid(api, customer(api))
    before = saved_state()

    response = save(api, payment["id"], body)

    assert response.status_code == status, response.json()
    if code:
        assert response.json()["error"]["code"] == code
    assert saved_state() == before


def test_a_declined_payment_or_another_merchants_payment_is_refused(
    api, anet_account, other_merchant, issue_key, client_for
):
    customer_id = customer(api)
    paid(api, customer_id, {**VISA, "billing_details": {"postal_code": "46282"}})
    declined = Payment.objects.get(status=PaymentStatus.FAILED)
    payment = paid(api, customer_id, amount=2000)
    other = client_for(issue_key(other_merchant).secret)
    before = saved_state()

    refused = save(api, declined.public_id)
    foreign = save(other, payment["id"])

    assert (refused.status_code, refused.json()["error"]["code"]) == (409, "payment_card_not_savable")
    assert foreign.status_code == 404
    assert saved_state() == before


def test_a_lost_answer_saves_nothing_here_and_the_retry_finds_the_card_saved_once(api, anet_account, sandbox_fault):
    customer_id = customer(api)
    payment = paid(api, customer_id)
    key = uuid.uuid4().hex
    sandbox_fault("drop_response", match="createCustomerProfileFromTransactionRequest")

    lost = save(api, payment["id"], key=key)

    assert lost.status_code == 503, lost.json()
    assert PaymentMethod.objects.count() == 0 and AnetPaymentProfile.objects.count() == 1  # the gateway did it
    retried = save(api, payment["id"], key=key)
    assert retried.status_code == 201, retried.json()
    assert (PaymentMethod.objects.count(), AnetCustomerProfile.objects.count(), AnetPaymentProfile.objects.count()) == (
        1,
        1,
        1,
    )
