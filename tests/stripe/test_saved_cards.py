"""Saved cards at Stripe: customers and payment methods set up for off-session use with SetupIntents
(3-D Secure where the card asks for it), behind /api/v1/customers/{id}/payment-methods, and
renewals that charge them off session (a card that still wants its customer goes to dunning)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from apps.customers.models import PaymentMethod
from apps.customers.services import customer_create
from apps.gateways.services import gateway_account_set_credentials
from apps.subscriptions.billing import billing_run
from apps.subscriptions.models import BillingAttempt, Invoice, Subscription
from apps.subscriptions.representations import invoice_representation
from apps.subscriptions.services import plan_create, subscription_create
from apps.webhooks.models import IncomingWebhook
from apps.webhooks.services import incoming_webhook_process

from .conftest import ACTOR, signed
from .helpers import authenticate

pytestmark = pytest.mark.django_db(transaction=True)

NEXT_YEAR = datetime.now(UTC).year + 1
ON_SESSION_ONLY = "4000002500003155"  # 3-D Secure when set up, then charged off session freely
ALWAYS = "4000002760003184"  # 3-D Secure every time, refused off session
BACK = "https://shop.example/account/cards"


@pytest.fixture
def customer(merchant: Any, stripe_account: Any) -> Any:
    return customer_create(merchant=merchant, email="ada@example.com", name="Ada Lovelace", actor=ACTOR)


def save(api: Any, customer: Any, number: str, **extra: Any) -> Any:
    body = {"type": "card", "number": number, "exp_month": 12, "exp_year": NEXT_YEAR, "cvc": "123", **extra}
    return api.post(
        f"/api/v1/customers/{customer.public_id}/payment-methods", body, format="json",
        HTTP_IDEMPOTENCY_KEY=uuid.uuid4().hex,
    )  # fmt: skip


def come_back(client: Any, location: str) -> Any:
    parts = urlsplit(location)
    return client.get(parts.path, dict(parse_qs(parts.query)))


def saved_with_3ds(api: Any, client: Any, customer: Any, number: str) -> PaymentMethod:
    data = save(api, customer, number, return_url=BACK).json()
    assert data["status"] == "requires_action"
    back = come_back(client, authenticate(data["next_action"]["redirect_to_url"]["url"]))
    assert back["Location"] == f"{BACK}?payment_method={data['id']}&status=active"
    return PaymentMethod.objects.get(public_id=data["id"])


def test_a_card_is_saved_on_a_stripe_customer(api: Any, customer: Any, stripe_sdk: Any) -> None:
    created = save(api, customer, "4242424242424242")
    assert created.status_code == 201, created.content
    data = created.json()
    assert (data["status"], data["is_default"], data["card"]["last4"], data["next_action"]) == (
        "active", True, "4242", None,
    )  # fmt: skip
    method = PaymentMethod.objects.select_related("profile").get(public_id=data["id"])
    assert method.profile.customer_token.startswith("cus_") and method.payment_token.startswith("pm_")
    stripe_method = stripe_sdk.v1.payment_methods.retrieve(method.payment_token)
    assert stripe_method.customer == method.profile.customer_token
    # The same card again is the card already saved.
    assert save(api, customer, "4242424242424242").json()["id"] == data["id"]


def test_a_declined_card_is_not_saved(api: Any, customer: Any) -> None:
    refused = save(api, customer, "4000000000000002")
    assert refused.status_code == 402
    assert not PaymentMethod.objects.filter(customer=customer).exists()


def test_a_card_asking_for_3ds_is_saved_once_the_customer_authenticates(api: Any, client: Any, customer: Any) -> None:
    method = saved_with_3ds(api, client, customer, ON_SESSION_ONLY)
    assert (method.status, method.is_default, method.action_url) == ("active", True, "")
    listed = api.get(f"/api/v1/customers/{customer.public_id}/payment-methods").json()["data"]
    assert [item["status"] for item in listed] == ["active"]


def test_failed_authentication_saves_nothing(api: Any, client: Any, customer: Any) -> None:
    data = save(api, customer, ON_SESSION_ONLY, return_url=BACK).json()
    back = come_back(client, authenticate(data["next_action"]["redirect_to_url"]["url"], complete=False))
    assert back["Location"].endswith("status=failed")
    method = PaymentMethod.objects.get(public_id=data["id"])
    assert (method.status, method.is_default) == ("failed", False)


def test_the_setup_webhook_saves_it_when_the_customer_never_comes_back(
    api: Any, client: Any, customer: Any, stripe_account: Any, stripe_sdk: Any
) -> None:
    secret = "whsec_setups"
    gateway_account_set_credentials(account=stripe_account, credentials={"webhook_secret": secret}, actor=ACTOR)
    data = save(api, customer, ON_SESSION_ONLY).json()
    authenticate(data["next_action"]["redirect_to_url"]["url"])
    method = PaymentMethod.objects.get(public_id=data["id"])
    events = stripe_sdk.v1.events.list(params={"type": "setup_intent.succeeded", "limit": 100}).data
    event = next(e for e in events if e.data.object["id"] == method.setup_id).to_dict()
    body, header = signed(event, secret)
    url = f"/webhooks/stripe/{stripe_account.public_id}"
    assert client.post(url, body, content_type="application/json", HTTP_STRIPE_SIGNATURE=header).status_code == 200
    incoming_webhook_process(webhook_id=IncomingWebhook.objects.get(event_id=event["id"]).pk)
    method.refresh_from_db()
    assert method.status == "active"
    # The customer's late return finds it done.
    page = client.get(f"/payment-methods/{method.public_id}/authenticated")
    assert b'data-status="active"' in page.content


def _subscribe(merchant: Any, customer: Any, method: PaymentMethod, now: datetime) -> Subscription:
    plan = plan_create(merchant=merchant, name="Pro", amount=1_500, currency="USD", interval="month", actor=ACTOR)
    return subscription_create(
        merchant=merchant, customer=customer, plan=plan, payment_method=method, livemode=False, trial_days=7,
        now=now, actor=ACTOR,
    )  # fmt: skip


def test_a_renewal_charges_a_card_set_up_with_3ds_off_session(
    api: Any, client: Any, merchant: Any, customer: Any
) -> None:
    method = saved_with_3ds(api, client, customer, ON_SESSION_ONLY)
    now = datetime.now(UTC)
    subscription = _subscribe(merchant, customer, method, now)
    billing_run(as_of=now + timedelta(days=7, seconds=1))
    subscription.refresh_from_db()
    assert subscription.status == "active"
    assert Invoice.objects.get(subscription=subscription).status == "paid"


def test_a_renewal_on_a_card_that_always_authenticates_goes_to_dunning(
    api: Any, client: Any, merchant: Any, customer: Any
) -> None:
    method = saved_with_3ds(api, client, customer, ALWAYS)
    now = datetime.now(UTC)
    subscription = _subscribe(merchant, customer, method, now)
    billing_run(as_of=now + timedelta(days=7, seconds=1))
    subscription.refresh_from_db()
    assert subscription.status == "past_due"
    invoice = Invoice.objects.get(subscription=subscription)
    assert (invoice.status, invoice.next_attempt_at is not None) == ("open", True)
    attempt = BillingAttempt.objects.get(invoice=invoice)
    assert (attempt.status, attempt.failure_code) == ("declined", "authentication_required")
    assert attempt.payment.status == "failed"


def test_the_customer_recovers_it_on_the_invoice_page_with_3ds(
    api: Any, client: Any, merchant: Any, customer: Any
) -> None:
    method = saved_with_3ds(api, client, customer, ALWAYS)
    now = datetime.now(UTC)
    subscription = _subscribe(merchant, customer, method, now)
    billing_run(as_of=now + timedelta(days=7, seconds=1))
    invoice = Invoice.objects.get(subscription=subscription)
    link = invoice_representation(invoice)["hosted_payment_url"]
    page = client.get(link)
    assert page.status_code == 200 and b'data-status="open"' in page.content
    assert b"15.00" in page.content
    # Pay on the page: the card asks the customer to authenticate, who does.
    paying = client.post(link)
    assert paying.status_code == 302 and "/sandbox/stripe/3ds/" in paying["Location"]
    back = come_back(client, authenticate(paying["Location"]))
    assert urlsplit(back["Location"]).path == urlsplit(link).path
    assert b'data-status="paid"' in client.get(urlsplit(back["Location"]).path).content
    invoice.refresh_from_db()
    subscription.refresh_from_db()
    assert (invoice.status, subscription.status) == ("paid", "active")
    assert invoice.payment is not None and invoice.payment.authentication == "succeeded"
    assert invoice_representation(invoice)["hosted_payment_url"] is None


def test_a_forged_or_mangled_link_finds_nothing(client: Any, merchant: Any, customer: Any) -> None:
    assert client.get("/pay/invoices/inv_123:forged").status_code == 404
    assert client.post("/pay/invoices/nonsense").status_code == 404
