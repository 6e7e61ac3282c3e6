"""Review and 3-D Secure outcomes in the money path, through the sandboxes: a payment a review
rule matches is authorised only and held; the merchant cannot capture it; a risk analyst
approves it (captured once) or rejects it (voided once, the card and email optionally blocked);
nobody deciding in time voids it. A request-3-D-Secure rule sends a Stripe payment through 3-D
Secure; a gateway that cannot ask for it holds the payment for review instead."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest
from django.db.models import F

from apps.accounts import roles
from apps.audit.actors import Actor
from apps.audit.models import AuditEvent
from apps.events.models import Event
from apps.payments.models import Payment
from apps.payments.services import payments_review_expire
from apps.risk.models import ListEntry
from apps.risk.services import rule_create
from apps.sandbox.models import SandboxCall
from tests.helpers import assert_shows_money
from tests.payments.helpers import VISA, purchase_body

pytestmark = pytest.mark.django_db(transaction=True)  # the sandboxes answer from the live server

SYSTEM = Actor.system("tests")
STRIPE_VISA = {"type": "card", "number": "4242424242424242", "exp_month": 12, "exp_year": 2031, "cvc": "123"}
QUEUE = "/admin/payments/paymentunderreview/"
CAPTURE = {"authorizenet": "priorAuthCaptureTransaction", "stripe": "payment_intents.capture"}
VOID = {"authorizenet": "voidTransaction", "stripe": "payment_intents.cancel"}


@pytest.fixture(params=["authorizenet", "stripe"])
def gateway(request: Any) -> dict[str, Any]:
    if request.param == "authorizenet":
        request.getfixturevalue("anet_account")
        return {"name": "authorizenet", "card": VISA}
    request.getfixturevalue("stripe_account")
    return {"name": "stripe", "card": STRIPE_VISA}


@pytest.fixture
def review_rule(db: Any) -> Any:
    return rule_create(name="Big ticket", expression="amount > 70000", outcome="review", actor=SYSTEM)


def pay(api: Any, card: dict[str, Any], amount: int = 75_000, **extra: Any) -> Any:
    body = purchase_body(amount, payment_method=dict(card), **extra)
    return api.post("/api/v1/payments", body, format="json", HTTP_IDEMPOTENCY_KEY=uuid.uuid4().hex)


def calls(gateway: dict[str, Any], operations: dict[str, str]) -> int:
    return SandboxCall.objects.filter(gateway=gateway["name"], operation=operations[gateway["name"]]).count()


def decide(staff: Any, payment: Payment, decision: str, **extra: Any) -> Any:
    return staff.post(f"{QUEUE}{payment.pk}/decide/", {"decision": decision, "note": "checked", **extra}, follow=True)


def test_a_held_payment_is_authorised_only_and_the_merchant_cannot_capture_it(api, gateway, review_rule):
    response = pay(api, gateway["card"])

    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["status"], body["capture"], body["review"]) == ("authorized", False, "pending")
    assert body["risk"]["outcome"] == "review" and body["risk"]["rules"][0]["name"] == "Big ticket"
    refused = api.post(f"/api/v1/payments/{body['id']}/capture", {}, format="json", HTTP_IDEMPOTENCY_KEY="c1")
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "payment_under_review"
    assert calls(gateway, CAPTURE) == 0


def test_approved_in_the_queue_it_is_captured_once(api, gateway, review_rule, staff_client):
    payment = Payment.objects.get(public_id=pay(api, gateway["card"]).json()["id"])
    staff = staff_client(roles.RISK)

    queue = staff.get(QUEUE)
    assert_shows_money(queue.content, shown=["750.00 USD", "Big ticket"], bare=[75000])
    staff.post(QUEUE, {"action": "assign_to_me", "_selected_action": [payment.pk]})
    page = decide(staff, payment, "approve")
    again = decide(staff, payment, "approve")  # a second click: nothing more happens

    payment.refresh_from_db()
    assert (payment.status, payment.amount_captured, payment.review) == ("captured", 75_000, "approved")
    assert (payment.reviewed_by, payment.review_assignee) == (staff.user, staff.user)
    assert b"approved: captured" in page.content and b"not waiting for review" in again.content
    assert calls(gateway, CAPTURE) == 1
    actions = set(AuditEvent.objects.filter(target_id=payment.public_id).values_list("action", flat=True))
    assert {"payment.review_assigned", "payment.review_approved"} <= actions
    assert Event.objects.filter(type="payment.review_approved", object_id=payment.public_id).count() == 1
    assert staff.get(f"{QUEUE}{payment.pk}/change/").status_code == 200


def test_rejected_it_is_voided_and_the_card_and_email_are_blocked(api, gateway, review_rule, staff_client):
    payment = Payment.objects.get(
        public_id=pay(api, gateway["card"], customer={"email": "mule@example.com"}).json()["id"]
    )
    staff = staff_client(roles.RISK)

    decide(staff, payment, "reject", block=["card_fingerprint", "email"])

    payment.refresh_from_db()
    assert (payment.status, payment.review) == ("voided", "rejected")
    assert calls(gateway, VOID) == 1
    blocked = set(ListEntry.objects.filter(merchant=payment.merchant).values_list("kind", flat=True))
    assert blocked == {"card_fingerprint", "email"}
    assert pay(api, gateway["card"], amount=1000).json()["error"]["code"] == "blocked_by_risk"


def test_only_risk_analysts_decide(api, anet_account, review_rule, staff_client):
    payment = Payment.objects.get(public_id=pay(api, VISA).json()["id"])

    assert decide(staff_client(roles.FINANCE_APPROVER), payment, "approve").status_code == 403
    assert Payment.objects.get(pk=payment.pk).review == "pending"


def test_nobody_deciding_in_time_voids_it_once(api, anet_account, review_rule, settings):
    payment = Payment.objects.get(public_id=pay(api, VISA).json()["id"])
    Payment.objects.filter(pk=payment.pk).update(
        created_at=F("created_at") - timedelta(hours=settings.RISK_REVIEW_VOID_AFTER_HOURS + 1)
    )

    assert payments_review_expire() == [payment.public_id]
    assert payments_review_expire() == []  # the task is safe to run twice

    payment.refresh_from_db()
    assert (payment.status, payment.review) == ("voided", "expired")
    assert SandboxCall.objects.filter(operation="voidTransaction").count() == 1
    assert AuditEvent.objects.filter(action="payment.review_expired", target_id=payment.public_id).count() == 1


def test_a_3ds_rule_sends_a_stripe_payment_through_3ds(api, stripe_account):
    rule_create(name="Ask", expression="amount > 1000", outcome="request_3ds", actor=SYSTEM)

    body = pay(api, STRIPE_VISA, amount=5000, return_url="https://shop.example/back").json()

    assert body["status"] == "requires_action" and body["next_action"]["type"] == "redirect_to_url"
    assert body["risk"]["outcome"] == "request_3ds" and body["review"] is None


def test_a_3ds_rule_on_a_gateway_without_it_holds_the_payment_for_review(api, anet_account):
    rule_create(name="Ask", expression="amount > 1000", outcome="request_3ds", actor=SYSTEM)

    body = pay(api, VISA, amount=5000).json()

    assert (body["status"], body["review"], body["risk"]["outcome"]) == ("authorized", "pending", "request_3ds")


def test_a_rejected_payment_whose_void_has_not_gone_through_cannot_be_captured(api, anet_account, review_rule):
    body = pay(api, VISA).json()
    Payment.objects.filter(public_id=body["id"]).update(review="rejected")  # the void failed: gateway down

    refused = api.post(f"/api/v1/payments/{body['id']}/capture", {}, format="json", HTTP_IDEMPOTENCY_KEY="c2")

    assert refused.status_code == 409 and refused.json()["error"]["code"] == "payment_rejected_in_review"
    assert SandboxCall.objects.filter(operation="priorAuthCaptureTransaction").count() == 0


def test_the_built_in_country_rule_reads_the_deployments_tables(api, stripe_account, settings, tmp_path):
    bins, networks = tmp_path / "bins.csv", tmp_path / "networks.csv"
    bins.write_text("424242,GB\n")
    networks.write_text("203.0.113.0/24,FR\n198.51.100.0/24,GB\n")
    settings.RISK_BIN_COUNTRIES_FILE, settings.RISK_IP_COUNTRIES_FILE = str(bins), str(networks)

    abroad = pay(api, STRIPE_VISA, customer_ip="203.0.113.9", return_url="https://shop.example/back").json()
    at_home = pay(api, STRIPE_VISA, customer_ip="198.51.100.9", return_url="https://shop.example/back").json()

    assert (abroad["status"], abroad["risk"]["outcome"]) == ("requires_action", "request_3ds")
    assert [rule["name"] for rule in abroad["risk"]["rules"]] == ["Country mismatch"]
    assert (at_home["status"], at_home["risk"]["outcome"]) == ("captured", "allow")
