"""A customer token reads its own customer's payments, refunds, subscriptions, invoices and saved
cards through the same endpoints as a secret key, answered the same way; another customer's
object is not found (404); a read its abilities do not cover is refused (403); and the customer
is rate-limited."""

from __future__ import annotations

import pytest

from apps.core.redis_client import redis_client
from apps.payments.representations import MERCHANT_ONLY_PAYMENT_FIELDS, MERCHANT_ONLY_REFUND_FIELDS
from apps.sessions_api.revocations import prefixed
from apps.sessions_api.verification import merchant_throttle
from apps.subscriptions.links import invoice_id_from_token
from apps.subscriptions.representations import MERCHANT_ONLY_SUBSCRIPTION_FIELDS
from tests.factories import CustomerFactory, PaymentFactory

from .factories import InvoiceFactory, RefundFactory, SubscriptionFactory
from .tokens import error_code

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def world(customer):
    """The customer's objects, and the same of another customer of the same merchant."""
    other = CustomerFactory(merchant=customer.merchant)
    objects = {}
    for owner, name in ((customer, "own"), (other, "other")):
        payment = PaymentFactory(merchant=customer.merchant, customer=owner)
        subscription = SubscriptionFactory(merchant=customer.merchant, customer=owner)
        objects[name] = {
            "customer": owner,
            "payment": payment,
            "refund": RefundFactory(payment=payment),
            "subscription": subscription,
            "invoice": InvoiceFactory(subscription=subscription),
            "card": subscription.payment_method,
        }
    return objects


def paths(objects):
    customer, card = objects["customer"].public_id, objects["card"].public_id
    return {
        "payment": f"/api/v1/payments/{objects['payment'].public_id}",
        "refunds": f"/api/v1/payments/{objects['payment'].public_id}/refunds",
        "refund": f"/api/v1/refunds/{objects['refund'].public_id}",
        "subscription": f"/api/v1/subscriptions/{objects['subscription'].public_id}",
        "invoices": f"/api/v1/subscriptions/{objects['subscription'].public_id}/invoices",
        "cards": f"/api/v1/customers/{customer}/payment-methods",
        "card": f"/api/v1/customers/{customer}/payment-methods/{card}",
    }


def test_own_objects_read_exactly_as_with_the_secret_key(world, customer, mint, bearer, api):
    client = bearer(mint(customer))

    for name, path in paths(world["own"]).items():
        as_customer, as_merchant = client.get(path), api.get(path)
        assert as_customer.status_code == 200, (name, as_customer.content)
        assert same_link_target(as_customer.json()) == same_link_target(
            merchant_only_left_out(name, as_merchant.json())
        ), name


def same_link_target(body):
    """An open invoice's payment link is signed with the time it was made (TimestampSigner): two
    reads a second apart hold different tokens for the same invoice. Compared by the invoice the
    link names."""
    if body.get("object") == "list":
        return {**body, "data": [same_link_target(item) for item in body["data"]]}
    url = body.get("hosted_payment_url")
    if not url:
        return body
    return {**body, "hosted_payment_url": invoice_id_from_token(url.rstrip("/").rsplit("/", 1)[-1])}


def merchant_only_left_out(name, body):
    """The merchant's answer less what only the merchant sees (test_customer_writes checks which)."""
    hidden = {
        "payment": MERCHANT_ONLY_PAYMENT_FIELDS,
        "refund": MERCHANT_ONLY_REFUND_FIELDS,
        "subscription": MERCHANT_ONLY_SUBSCRIPTION_FIELDS,
    }.get(name, frozenset())
    if name == "refunds":
        return {**body, "data": [merchant_only_left_out("refund", refund) for refund in body["data"]]}
    return {field: value for field, value in body.items() if field not in hidden}


def test_lists_hold_only_the_customers_own_objects(world, customer, mint, bearer, api):
    client = bearer(mint(customer))

    payments = client.get("/api/v1/payments").json()["data"]
    subscriptions = client.get("/api/v1/subscriptions").json()["data"]
    # Asking for another customer through the list's own filter finds nothing either.
    filtered = client.get("/api/v1/subscriptions", {"customer": world["other"]["customer"].public_id}).json()["data"]

    assert [p["id"] for p in payments] == [world["own"]["payment"].public_id]
    assert [s["id"] for s in subscriptions] == [world["own"]["subscription"].public_id]
    assert filtered == []
    assert len(api.get("/api/v1/payments").json()["data"]) == 2  # the merchant sees both


def test_another_customers_objects_are_not_found(world, customer, mint, bearer):
    client = bearer(mint(customer))

    for name, path in paths(world["other"]).items():
        response = client.get(path)
        assert response.status_code == 404, (name, response.content)
        assert error_code(response) == "resource_missing"


@pytest.mark.parametrize(
    ("granted", "refused"),
    [
        (["subscriptions.read"], ["payment", "refunds", "refund", "invoices", "cards", "card"]),
        (["payments.read"], ["subscription", "invoices", "cards", "card"]),
        (["invoices.read"], ["payment", "refunds", "refund", "subscription", "cards", "card"]),
        (["payment_methods.manage"], ["payment", "refunds", "refund", "subscription", "invoices"]),
    ],
)
def test_a_read_without_its_ability_is_refused(world, customer, mint, bearer, granted, refused):
    client = bearer(mint(customer, granted))
    own = paths(world["own"])

    for name in refused:
        response = client.get(own[name])
        assert response.status_code == 403, name
        error = response.json()["error"]
        assert (error["type"], error["code"]) == ("permission_error", "ability_not_granted")
    for name in set(own) - set(refused):
        assert client.get(own[name]).status_code == 200, name


def test_merchant_writes_are_refused_to_a_customer_token(world, customer, mint, bearer):
    client = bearer(
        mint(customer, ["payments.read", "subscriptions.read", "payment_methods.manage", "subscriptions.manage"])
    )
    own = paths(world["own"])

    for path in (f"{own['payment']}/capture", f"{own['payment']}/void", f"{own['payment']}/refunds",
                 "/api/v1/payments", "/api/v1/customer-sessions", "/api/v1/portal-sessions"):  # fmt: skip
        response = client.post(path, {}, format="json")
        assert response.status_code == 403 and error_code(response) == "customer_session_not_allowed", path
    assert client.patch(own["card"], {"exp_month": 1, "exp_year": 2040}, format="json").status_code == 403
    assert client.patch(own["subscription"], {}, format="json").status_code == 403
    world["own"]["payment"].refresh_from_db()
    assert world["own"]["payment"].status == "authorized"


def test_all_of_a_merchants_customers_together_are_capped(customer, mint, bearer, settings):
    settings.CUSTOMER_SESSION_MERCHANT_THROTTLE_RATE = "3/h"  # one window for the whole test
    key = merchant_throttle(customer.merchant_id)[0]
    redis_client(settings.REDIS_URL).delete(prefixed(key))  # a window of an earlier run
    first, second = bearer(mint(customer)), bearer(mint(CustomerFactory(merchant=customer.merchant)))
    someone_elses = bearer(mint(CustomerFactory()))

    answers = [client.get("/api/v1/payments").status_code for client in (first, second, first, second)]

    assert answers == [200, 200, 200, 429]  # each customer well under its own limit
    limited = first.get("/api/v1/payments")
    assert error_code(limited) == "rate_limited" and int(limited["Retry-After"]) >= 1
    assert someone_elses.get("/api/v1/payments").status_code == 200  # another merchant's customers


def test_a_customer_is_rate_limited_on_its_own(customer, mint, bearer, settings):
    settings.CUSTOMER_SESSION_THROTTLE_RATE = "3/h"  # one window for the whole test
    client = bearer(mint(customer))
    neighbour = bearer(mint(CustomerFactory(merchant=customer.merchant)))

    answers = [client.get("/api/v1/payments").status_code for _ in range(4)]

    assert answers == [200, 200, 200, 429]
    limited = client.get("/api/v1/payments")
    assert error_code(limited) == "rate_limited" and int(limited["Retry-After"]) >= 1
    assert neighbour.get("/api/v1/payments").status_code == 200
