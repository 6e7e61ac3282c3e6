"""A review outcome on a browser checkout (Razorpay Checkout, Stripe.js): the gateway order only
authorises, the paid checkout waits in the review queue without its entitlement, a reviewer's
approval captures it and grants the entitlement once, a rejection cancels it (Stripe: the intent
cancelled; Razorpay, which has no void: released, nothing sent) and grants nothing."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest
import requests
from django.utils import timezone

from apps.accounts import roles
from apps.audit.actors import Actor
from apps.audit.models import AuditEvent
from apps.catalog.models import CheckoutOrder, Entitlement
from apps.catalog.services import checkout_reconcile, price_create, product_create
from apps.payments.models import Payment
from apps.payments.services import payments_review_expire
from apps.risk.services import rule_create
from apps.sandbox.models import SandboxCall
from tests.catalog.helpers import handler_response
from tests.catalog.helpers import pay as razorpay_pay

pytestmark = pytest.mark.django_db(transaction=True)  # the sandboxes answer from the live server

SYSTEM = Actor.system("tests")
QUEUE = "/admin/payments/paymentunderreview/"
CAPTURE = {"razorpay": "payments.capture", "stripe": "payment_intents.capture"}


@pytest.fixture(params=["razorpay", "stripe"])
def checkout(request: Any, merchant: Any, publishable: Any, settings: Any) -> dict[str, Any]:
    """Open a checkout a review rule holds and pay it in the browser; the opened checkout's body."""
    name = request.param
    request.getfixturevalue("rzp_account" if name == "razorpay" else "stripe_account")
    rule_create(name="Big basket", expression="amount > 70000", outcome="review", actor=SYSTEM)
    product = product_create(merchant=merchant, name="Course", description="", actor=SYSTEM)
    price = price_create(product=product, amount=75_000, currency="INR" if name == "razorpay" else "USD", actor=SYSTEM)
    path = "/api/v1/checkout/razorpay/orders" if name == "razorpay" else "/api/v1/checkout/stripe/payment-intents"
    body = {"price": price.public_id, "quantity": 1, "customer": {"email": "asha@example.com"}}
    opened = publishable.post(path, body, format="json", HTTP_IDEMPOTENCY_KEY=uuid.uuid4().hex)
    assert opened.status_code == 201, opened.content
    order = opened.json()
    if name == "razorpay":
        paid = razorpay_pay(order)
        assert paid.ok
        settled = publishable.post("/api/v1/checkout/razorpay/verify", handler_response(paid), format="json")
    else:
        options = order["stripe"]
        intent = requests.post(
            f"{settings.STRIPE_TEST_API_BASE}/v1/payment_intents/{options['payment_intent']}/confirm",
            data={"client_secret": options["client_secret"], "payment_method": "pm_card_visa"},
            headers={"Authorization": f"Bearer {options['publishable_key']}"},
            timeout=10,
        ).json()
        assert intent["status"] == "requires_capture"  # the intent only authorised
        settled = publishable.post(
            "/api/v1/checkout/stripe/confirm", {"payment_intent": options["payment_intent"]}, format="json",
            HTTP_IDEMPOTENCY_KEY=uuid.uuid4().hex,
        )  # fmt: skip
    assert settled.status_code == 200, settled.content
    return {"name": name, "order": order, "settled": settled.json()}


def captures(name: str) -> int:
    return SandboxCall.objects.filter(gateway=name, operation=CAPTURE[name]).count()


def decide(staff: Any, payment: Payment, decision: str) -> Any:
    return staff.post(f"{QUEUE}{payment.pk}/decide/", {"decision": decision, "note": "checked"}, follow=True)


def test_a_held_checkout_is_authorised_only_and_waits_for_a_reviewer(checkout):
    payment = Payment.objects.get(public_id=checkout["order"]["payment"])

    assert checkout["settled"]["status"] == "in_review" and checkout["settled"]["entitled"] is False
    assert (payment.status, payment.review, payment.risk["outcome"]) == ("authorized", "pending", "review")
    assert captures(checkout["name"]) == 0 and not Entitlement.objects.exists()
    # The reconciler leaves it to the reviewer: it neither captures nor completes it.
    assert checkout_reconcile(now=timezone.now() + timedelta(hours=2))["checked"] == 0
    assert captures(checkout["name"]) == 0


def test_approved_it_is_captured_once_and_the_entitlement_granted_once(checkout, staff_client):
    payment = Payment.objects.get(public_id=checkout["order"]["payment"])
    staff = staff_client(roles.RISK)

    page = decide(staff, payment, "approve")
    decide(staff, payment, "approve")  # a second click
    payments_review_expire()  # the sweep finds nothing left to carry

    payment.refresh_from_db()
    assert (payment.status, payment.review, payment.amount_captured) == ("captured", "approved", 75_000)
    assert b"approved: captured" in page.content
    assert captures(checkout["name"]) == 1
    entitlement = Entitlement.objects.get()
    checkout_order = CheckoutOrder.objects.get(payment=payment)
    assert entitlement.checkout_order == checkout_order and checkout_order.completed_at is not None
    assert AuditEvent.objects.filter(action="checkout.completed", target_id=checkout_order.public_id).count() == 1


def test_rejected_it_is_cancelled_and_grants_nothing(checkout, staff_client, publishable):
    payment = Payment.objects.get(public_id=checkout["order"]["payment"])

    decide(staff_client(roles.RISK), payment, "reject")

    payment.refresh_from_db()
    assert (payment.status, payment.review) == ("voided", "rejected")
    assert captures(checkout["name"]) == 0 and not Entitlement.objects.exists()
    cancels = SandboxCall.objects.filter(gateway=checkout["name"], operation="payment_intents.cancel").count()
    assert cancels == (1 if checkout["name"] == "stripe" else 0)  # Razorpay has no void: nothing sent
    voided = AuditEvent.objects.get(action="payment.voided", target_id=payment.public_id)
    if checkout["name"] == "razorpay":
        assert "releases the authorisation" in voided.after["released"]
    shown = publishable.get(f"/api/v1/checkout/orders/{checkout['order']['id']}")
    assert shown.status_code == 200 and shown.json()["status"] == "voided"
