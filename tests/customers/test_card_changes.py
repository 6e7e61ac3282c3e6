"""Changing a saved card (PATCH …/payment-methods/{pm}: expiry and billing address) through the API,
the SDK and the Authorize.Net sandbox's vault, without the card number ever being sent again."""

from __future__ import annotations

import uuid

import pytest

from apps.audit.models import AuditEvent
from apps.customers.models import PaymentMethod
from apps.events.models import Event
from apps.sandbox.models import AnetPaymentProfile
from tests.payments.helpers import VISA

pytestmark = pytest.mark.django_db(transaction=True)


def saved_card(api):
    customer = api.post("/api/v1/customers", {"email": "ada@example.com", "name": "Ada"}, format="json").json()
    body = {**VISA, "billing_details": {"name": "Ada Lovelace", "postal_code": "10001"}}
    method = api.post(f"/api/v1/customers/{customer['id']}/payment-methods", body, format="json").json()
    return f"/api/v1/customers/{customer['id']}/payment-methods/{method['id']}", method


def change(api, url, body, key=None):
    return api.patch(url, body, format="json", HTTP_IDEMPOTENCY_KEY=key or uuid.uuid4().hex)


def state():
    """Everything a refused change must leave as it was: ours, the vault's, the audit and events."""
    return (
        list(PaymentMethod.objects.values()),
        list(AnetPaymentProfile.objects.values()),
        AuditEvent.objects.filter(action="payment_method.updated").count(),
        Event.objects.filter(type="payment_method.updated").count(),
    )


def test_a_saved_cards_expiry_and_billing_address_change_at_the_vault_and_here(api, anet_account):
    url, method = saved_card(api)
    fingerprint = AnetPaymentProfile.objects.get().card_fingerprint
    body = {
        "exp_month": 6,
        "exp_year": 2033,
        "billing_address": {"name": "Ada King", "line1": "12 St James's Square", "city": "London",
                            "postal_code": "10001", "country": "GB"},
    }  # fmt: skip
    key = uuid.uuid4().hex

    response = change(api, url, body, key)
    replay = change(api, url, body, key)

    assert response.status_code == 200, response.json()
    assert response.json()["card"] == {"brand": "visa", "last4": "1111", "exp_month": 6, "exp_year": 2033}
    assert response.json()["id"] == method["id"]
    assert (replay.status_code, replay["Idempotent-Replayed"]) == (200, "true")
    assert (replay.json()["id"], replay.json()["card"]) == (method["id"], response.json()["card"])
    stored = PaymentMethod.objects.get()
    assert (stored.exp_month, stored.exp_year, stored.card_last4) == (6, 2033, "1111")
    vault = AnetPaymentProfile.objects.get()
    assert (vault.expiration, vault.card_fingerprint, vault.card_last4) == ("2033-06", fingerprint, "1111")
    assert (vault.first_name, vault.last_name, vault.address, vault.city, vault.country) == (
        "Ada", "King", "12 St James's Square", "London", "GB",
    )  # fmt: skip
    audit = AuditEvent.objects.get(action="payment_method.updated")
    assert (audit.before or {}).get("exp_year") == 2030 and (audit.after or {}).get("exp_year") == 2033
    assert Event.objects.filter(type="payment_method.updated", object_id=method["id"]).count() == 1


def test_only_the_billing_address_changes_and_the_expiry_stays(api, anet_account):
    url, _ = saved_card(api)

    response = change(api, url, {"billing_address": {"line1": "1 Main St", "postal_code": "98004"}})

    assert response.status_code == 200, response.json()
    assert (response.json()["card"]["exp_month"], response.json()["card"]["exp_year"]) == (12, 2030)
    vault = AnetPaymentProfile.objects.get()
    assert (vault.expiration, vault.address, vault.zip, vault.first_name) == ("2030-12", "1 Main St", "98004", "")


def test_only_the_expiry_changes_and_the_billing_address_stays(api, anet_account):
    url, _ = saved_card(api)

    response = change(api, url, {"exp_month": 1, "exp_year": 2032})

    assert response.status_code == 200, response.json()
    vault = AnetPaymentProfile.objects.get()
    assert (vault.expiration, vault.first_name, vault.last_name, vault.zip) == ("2032-01", "Ada", "Lovelace", "10001")


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({}, None),
        ({"exp_month": 5}, "exp_year"),
        ({"exp_year": 2031}, "exp_month"),
        ({"exp_month": 13, "exp_year": 2031}, "exp_month"),
        ({"exp_month": "5", "exp_year": 2031}, "exp_month"),
        ({"exp_month": 1, "exp_year": 2020}, "exp_year"),
        ({"number": "4111111111111111", "exp_month": 1, "exp_year": 2031}, "number"),
        ({"billing_address": {"line1": "x" * 61}}, "billing_address"),
        ({"billing_address": {"street": "1 Main St"}}, "billing_address"),
    ],
)
def test_bad_input_is_refused_and_nothing_changes(api, anet_account, body, param):
    url, _ = saved_card(api)
    before = state()

    response = change(api, url, body)

    assert response.status_code == 400, response.json()
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error"
    if param:
        assert (error["param"] or "").startswith(param), error
    assert state() == before


def test_a_change_the_gateway_refuses_when_it_checks_the_card_changes_nothing(api, anet_account):
    url, _ = saved_card(api)
    before = state()

    response = change(api, url, {"exp_month": 3, "exp_year": 2034, "billing_address": {"postal_code": "46282"}})

    assert response.status_code == 402, response.json()
    assert response.json()["error"]["type"] == "card_error"
    assert state() == before


def test_a_removed_card_or_another_merchants_card_cannot_be_changed(api, anet_account, other_merchant, issue_key,
                                                                    client_for):  # fmt: skip
    url, _ = saved_card(api)
    other = client_for(issue_key(other_merchant).secret)
    assert change(other, url, {"exp_month": 1, "exp_year": 2032}).status_code == 404
    assert api.delete(url).status_code == 200
    before = state()

    response = change(api, url, {"exp_month": 1, "exp_year": 2032})

    assert (response.status_code, response.json()["error"]["code"]) == (409, "payment_method_removed")
    assert state() == before


def test_an_unreachable_gateway_changes_nothing_and_the_retry_with_the_key_does_it(api, anet_account, sandbox_fault):
    url, _ = saved_card(api)
    before = state()
    key = uuid.uuid4().hex
    sandbox_fault("drop_response", match="updateCustomerPaymentProfileRequest")

    lost = change(api, url, {"exp_month": 2, "exp_year": 2033}, key)

    assert lost.status_code == 503, lost.json()
    assert state()[0] == before[0] and state()[2:] == before[2:]  # the vault may have it; we do not yet
    retried = change(api, url, {"exp_month": 2, "exp_year": 2033}, key)
    assert retried.status_code == 200, retried.json()
    assert (retried.json()["card"]["exp_month"], retried.json()["card"]["exp_year"]) == (2, 2033)
    assert AuditEvent.objects.filter(action="payment_method.updated").count() == 1


def test_the_openapi_schema_describes_both_card_endpoints_with_idempotency_keys(client):
    paths = client.get("/api/schema/", HTTP_ACCEPT="application/json").json()["paths"]

    update = paths["/api/v1/customers/{customer_id}/payment-methods/{payment_method_id}"]["patch"]
    save = paths["/api/v1/payments/{payment_id}/save-payment-method"]["post"]
    for operation in (update, save):
        assert any(p["name"] == "Idempotency-Key" for p in operation["parameters"])
    assert (update["operationId"], save["operationId"]) == ("payment_methods_update", "payments_save_payment_method")
