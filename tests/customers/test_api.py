"""Customers and saved cards through the API, the SDK and the sandbox's vault (CIM)."""

from __future__ import annotations

import pytest
import requests
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.customers.models import Customer, PaymentMethod, VaultProfile
from apps.sandbox.models import AnetCustomerProfile, AnetPaymentProfile, AnetTransaction
from tests.payments.helpers import VISA

pytestmark = pytest.mark.django_db(transaction=True)
MASTERCARD = {"type": "card", "number": "5424000000000015", "exp_month": 11, "exp_year": 2031, "cvc": "456"}


def new_customer(api, **fields):
    response = api.post("/api/v1/customers", {"email": "ada@example.com", "name": "Ada", **fields}, format="json")
    assert response.status_code == 201, response.json()
    return response.json()


def add_card(api, customer_id, card=None, **extra):
    return api.post(f"/api/v1/customers/{customer_id}/payment-methods", {**(card or VISA), **extra}, format="json")


def test_create_retrieve_update_and_list_customers(api, anet_account):
    customer = new_customer(api, metadata={"crm": "42"})

    assert customer["id"].startswith("cus_") and customer["default_payment_method"] is None
    updated = api.patch(f"/api/v1/customers/{customer['id']}", {"name": "Ada Lovelace"}, format="json").json()
    assert (updated["name"], updated["email"], updated["metadata"]) == (
        "Ada Lovelace",
        "ada@example.com",
        {"crm": "42"},
    )
    assert api.get(f"/api/v1/customers/{customer['id']}").json()["name"] == "Ada Lovelace"
    assert [c["id"] for c in api.get("/api/v1/customers").json()["data"]] == [customer["id"]]
    actions = list(AuditEvent.objects.filter(target_id=customer["id"]).order_by("id").values_list("action", flat=True))
    assert actions == ["customer.created", "customer.updated"]


def test_save_a_card_keeps_only_tokens_brand_last4_and_expiry(api, anet_account):
    customer = new_customer(api)

    response = add_card(api, customer["id"])

    method = response.json()
    assert response.status_code == 201, method
    assert method["id"].startswith("pm_")
    assert method["card"] == {"brand": "visa", "last4": "1111", "exp_month": 12, "exp_year": 2030}
    assert method["is_default"] is True  # the first card becomes the default
    stored = PaymentMethod.objects.get(public_id=method["id"])
    assert stored.payment_token and stored.profile.customer_token
    assert "4111111111111111" not in str(PaymentMethod.objects.values().get())
    assert api.get(f"/api/v1/customers/{customer['id']}").json()["default_payment_method"] == method["id"]


def test_the_same_card_twice_is_the_same_saved_card_and_one_vault_profile(api, anet_account):
    customer = new_customer(api)

    first = add_card(api, customer["id"]).json()
    second = add_card(api, customer["id"])

    assert second.status_code == 201 and second.json()["id"] == first["id"]
    assert (PaymentMethod.objects.count(), VaultProfile.objects.count()) == (1, 1)


def test_save_an_accept_js_token(api, anet_account, live_server):
    customer = new_customer(api)
    token = requests.post(
        f"{live_server.url}/sandbox/authorizenet/accept/v1/tokens",
        json={"cardData": {"cardNumber": "370000000000002", "month": "11", "year": "2031", "cardCode": "1234"}},
        timeout=5,
    ).json()["opaqueData"]

    response = add_card(
        api, customer["id"], {"type": "opaque_data", "descriptor": token["dataDescriptor"], "value": token["dataValue"]}
    )

    assert response.status_code == 201, response.json()
    assert response.json()["card"] == {"brand": "amex", "last4": "0002", "exp_month": 11, "exp_year": 2031}


def test_a_card_declined_when_checked_is_not_saved(api, anet_account):
    customer = new_customer(api)

    response = add_card(api, customer["id"], billing_details={"postal_code": "46282"})

    assert response.status_code == 402, response.json()
    assert response.json()["error"]["type"] == "card_error"
    assert PaymentMethod.objects.count() == 0


def test_an_invalid_accept_token_is_a_card_error_when_saved_as_when_charged(api, anet_account):
    customer = new_customer(api)
    token = {"type": "opaque_data", "descriptor": "COMMON.ACCEPT.INAPP.PAYMENT", "value": "not-a-nonce"}

    saved = add_card(api, customer["id"], token)
    charged = api.post("/api/v1/payments", {"amount": 500, "currency": "USD", "payment_method": token}, format="json")

    for response in (saved, charged):
        assert response.status_code == 402, response.json()
        assert response.json()["error"]["type"] == "card_error"
        assert response.json()["error"]["code"] == "invalid_card_number"
    assert PaymentMethod.objects.count() == 0


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({**VISA, "number": "4111111111111112"}, "number"),
        ({"type": "opaque_data"}, "descriptor"),
        ({**VISA, "set_default": "maybe"}, "set_default"),
    ],
)
def test_bad_card_input_is_refused_and_nothing_is_saved(api, anet_account, body, param):
    customer = new_customer(api)

    response = api.post(f"/api/v1/customers/{customer['id']}/payment-methods", body, format="json")

    assert response.status_code == 400
    assert response.json()["error"]["param"] == param
    assert PaymentMethod.objects.count() == 0


def test_an_expired_card_is_declined_before_the_gateway_and_nothing_is_saved(api, anet_account):
    customer = new_customer(api)

    response = add_card(api, customer["id"], {**VISA, "exp_year": timezone.now().year - 1})

    error = response.json()["error"]
    assert response.status_code == 402, error
    assert (error["type"], error["code"], error["param"]) == ("card_error", "expired_card", "exp_year")
    assert (PaymentMethod.objects.count(), VaultProfile.objects.count()) == (0, 0)
    at_gateway = (AnetCustomerProfile.objects, AnetPaymentProfile.objects, AnetTransaction.objects)
    assert [rows.count() for rows in at_gateway] == [0, 0, 0]  # nothing reached the gateway
    assert add_card(api, customer["id"]).status_code == 201
    assert AnetPaymentProfile.objects.count() == 1  # a valid card does


def test_set_default_and_remove_with_the_default_passing_on(api, anet_account):
    customer = new_customer(api)
    visa = add_card(api, customer["id"]).json()
    mastercard = add_card(api, customer["id"], MASTERCARD).json()
    assert mastercard["is_default"] is False
    base = f"/api/v1/customers/{customer['id']}/payment-methods"

    made_default = api.post(f"{base}/{mastercard['id']}/default", HTTP_IDEMPOTENCY_KEY="d1")
    listed = api.get(base).json()["data"]

    assert made_default.status_code == 200 and made_default.json()["is_default"] is True
    assert [(m["id"], m["is_default"]) for m in listed] == [(mastercard["id"], True), (visa["id"], False)]
    removed = api.delete(f"{base}/{mastercard['id']}")
    assert (removed.status_code, removed.json()["status"]) == (200, "removed")
    assert [(m["id"], m["is_default"]) for m in api.get(base).json()["data"]] == [(visa["id"], True)]
    assert api.get(f"{base}/{mastercard['id']}").json()["status"] == "removed"


def test_a_card_paying_a_live_subscription_cannot_be_removed(api, anet_account):
    customer = new_customer(api)
    card = add_card(api, customer["id"]).json()
    plan = api.post(
        "/api/v1/plans", {"name": "Pro", "amount": 900, "currency": "USD", "interval": "month"}, format="json"
    ).json()
    assert (
        api.post("/api/v1/subscriptions", {"customer": customer["id"], "plan": plan["id"]}, format="json").status_code
        == 201
    )

    response = api.delete(f"/api/v1/customers/{customer['id']}/payment-methods/{card['id']}")

    assert (response.status_code, response.json()["error"]["code"]) == (409, "payment_method_in_use")
    assert PaymentMethod.objects.get(public_id=card["id"]).status == "active"


def test_another_merchants_customer_is_invisible(api, anet_account, other_merchant):
    theirs = Customer.objects.create(merchant=other_merchant, email="x@example.com")

    assert api.get(f"/api/v1/customers/{theirs.public_id}").status_code == 404
    assert add_card(api, theirs.public_id).status_code == 404


def test_a_removed_card_whose_purge_task_was_lost_is_queued_again_by_the_sweeper(api, anet_account, celery_worker):
    from datetime import timedelta

    from django.utils import timezone

    from apps.customers.services import payment_methods_purge_sweep
    from tests.helpers import wait_for

    customer = new_customer(api)
    card = add_card(api, customer["id"]).json()
    # Removed a while ago, and its purge task never ran (the broker was down at the time).
    PaymentMethod.objects.filter(public_id=card["id"]).update(
        status=PaymentMethod.Status.REMOVED, removed_at=timezone.now() - timedelta(hours=1)
    )

    queued = payment_methods_purge_sweep()

    method = PaymentMethod.objects.get(public_id=card["id"])
    assert queued == [method.pk]
    wait_for(lambda: PaymentMethod.objects.get(pk=method.pk).gateway_deleted_at is not None)
    assert payment_methods_purge_sweep() == []


def test_concurrent_checkouts_with_one_email_find_one_customer_created_once_and_audited(merchant):
    from apps.audit.actors import Actor
    from apps.customers.services import customer_find_or_create
    from tests.payments.test_races import run_parallel

    def find(index: int) -> int:
        email = "Asha@Example.com" if index % 2 else "asha@example.com"
        return customer_find_or_create(merchant=merchant, email=email, name="Asha", actor=Actor.system("tests")).pk

    found = run_parallel(12, find)

    assert len(set(found)) == 1, found
    assert Customer.objects.filter(merchant=merchant).count() == 1
    assert AuditEvent.objects.filter(action="customer.created").count() == 1
