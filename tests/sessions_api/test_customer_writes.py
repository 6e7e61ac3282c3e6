"""A customer token writes through the same services as a secret key: it saves a card from the
gateway's browser token (never card numbers), sets its default and removes it; it cancels a
subscription at the period's end, pauses and resumes it. Each write is audited with the customer as
actor; another customer's object is not found (404); a write its abilities do not cover is refused
(403). What a customer reads leaves out what only the merchant may know (risk, review)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import requests

from apps.api.models import IdempotencyRecord
from apps.audit.models import ActorType, AuditEvent
from apps.customers.models import PaymentMethod
from apps.customers.services import payment_method_add
from apps.gateways.base import Card
from apps.payments.models import PaymentStatus
from apps.risk.services import list_entry_add
from apps.subscriptions.billing import billing_run
from apps.subscriptions.models import BillingAttempt, SubscriptionStatus
from apps.subscriptions.services import plan_create, subscription_create
from tests.factories import CustomerFactory, PaymentFactory

from .factories import PaymentMethodFactory, SubscriptionFactory
from .tokens import ACTOR, error_code

pytestmark = pytest.mark.django_db(transaction=True)
MANAGE = ["payment_methods.manage", "subscriptions.manage", "subscriptions.read"]
VISA = Card("4111111111111111", 12, 2030, "123")
T0 = datetime(2026, 1, 31, 10, 0, tzinfo=UTC)


def accept_token(live_server, number="370000000000002"):
    response = requests.post(
        f"{live_server.url}/sandbox/authorizenet/accept/v1/tokens",
        json={"cardData": {"cardNumber": number, "month": "11", "year": "2031", "cardCode": "1234"}},
        timeout=5,
    )
    data = response.json()["opaqueData"]
    return {"type": "opaque_data", "descriptor": data["dataDescriptor"], "value": data["dataValue"]}


def customer_actions(customer):
    rows = AuditEvent.objects.filter(actor_type=ActorType.CUSTOMER, actor_id=customer.public_id).order_by("id")
    return list(rows.values_list("action", flat=True))


def test_a_customer_saves_a_card_from_a_gateway_token_audited_as_itself(
    customer, mint, bearer, anet_account, live_server
):
    client = bearer(mint(customer, MANAGE))

    response = client.post(
        f"/api/v1/customers/{customer.public_id}/payment-methods", accept_token(live_server), format="json"
    )

    assert response.status_code == 201, response.json()
    assert response.json()["card"]["last4"] == "0002"
    assert PaymentMethod.objects.get().customer == customer
    event = AuditEvent.objects.get(action="payment_method.added")
    assert (event.actor_type, event.actor_id) == (ActorType.CUSTOMER, customer.public_id)
    assert event.actor_label.startswith("customer session cs_")


def test_card_numbers_are_refused_to_a_customer_token(customer, mint, bearer, anet_account):
    client = bearer(mint(customer, MANAGE))
    card = {"type": "card", "number": "4111111111111111", "exp_month": 12, "exp_year": 2030, "cvc": "123"}

    response = client.post(f"/api/v1/customers/{customer.public_id}/payment-methods", card, format="json")

    assert response.status_code == 400 and error_code(response) == "raw_card_data_not_allowed"
    assert not PaymentMethod.objects.exists()


def test_set_default_and_remove_a_card_audited_as_the_customer(customer, mint, bearer):
    first = PaymentMethodFactory(profile__customer=customer, is_default=True)
    second = PaymentMethodFactory(profile=first.profile)
    client = bearer(mint(customer, MANAGE))
    base = f"/api/v1/customers/{customer.public_id}/payment-methods"

    made_default = client.post(f"{base}/{second.public_id}/default", format="json")
    removed = client.delete(f"{base}/{first.public_id}")

    assert made_default.status_code == 200 and made_default.json()["is_default"] is True
    assert removed.status_code == 200 and removed.json()["status"] == "removed"
    assert customer_actions(customer) == ["payment_method.made_default", "payment_method.removed"]


def test_cancel_at_period_end_pause_and_resume_audited_as_the_customer(customer, mint, bearer):
    subscription = SubscriptionFactory(merchant=customer.merchant, customer=customer)
    client = bearer(mint(customer, MANAGE))
    path = f"/api/v1/subscriptions/{subscription.public_id}"

    paused = client.post(f"{path}/pause", format="json")
    resumed = client.post(f"{path}/resume", format="json")
    canceled = client.post(f"{path}/cancel", {"at_period_end": True}, format="json")

    assert (paused.status_code, paused.json()["status"]) == (200, "paused")
    assert (resumed.status_code, resumed.json()["status"]) == (200, "active")
    assert canceled.status_code == 200 and canceled.json()["cancel_at_period_end"] is True
    assert "metadata" not in canceled.json()  # the merchant's own
    assert customer_actions(customer) == [
        "subscription.paused",
        "subscription.resumed",
        "subscription.cancel_scheduled",
    ]


def test_a_customer_cannot_cancel_at_once(customer, mint, bearer):
    subscription = SubscriptionFactory(merchant=customer.merchant, customer=customer)
    client = bearer(mint(customer, MANAGE))

    response = client.post(f"/api/v1/subscriptions/{subscription.public_id}/cancel", {}, format="json")

    assert response.status_code == 400 and response.json()["error"]["param"] == "at_period_end"
    subscription.refresh_from_db()
    assert subscription.status == SubscriptionStatus.ACTIVE and not subscription.cancel_at_period_end
    assert customer_actions(customer) == []


def test_another_customers_objects_are_not_found_and_unchanged(customer, mint, bearer):
    other = CustomerFactory(merchant=customer.merchant)
    subscription = SubscriptionFactory(merchant=customer.merchant, customer=other)
    card = subscription.payment_method
    client = bearer(mint(customer, MANAGE))
    theirs = f"/api/v1/customers/{other.public_id}/payment-methods"
    mine_path_their_card = f"/api/v1/customers/{customer.public_id}/payment-methods/{card.public_id}"

    answers = [
        client.post(f"/api/v1/subscriptions/{subscription.public_id}/cancel", {"at_period_end": True}, format="json"),
        client.post(f"/api/v1/subscriptions/{subscription.public_id}/pause", format="json"),
        client.post(f"{theirs}/{card.public_id}/default", format="json"),
        client.delete(f"{theirs}/{card.public_id}"),
        client.delete(mine_path_their_card),
        client.post(theirs, {"type": "opaque_data", "descriptor": "x", "value": "y"}, format="json"),
    ]

    assert [(a.status_code, error_code(a)) for a in answers] == [(404, "resource_missing")] * len(answers)
    subscription.refresh_from_db()
    card.refresh_from_db()
    assert subscription.status == SubscriptionStatus.ACTIVE and not subscription.cancel_at_period_end
    assert card.status == "active"


@pytest.mark.parametrize(
    ("granted", "method", "path"),
    [
        (["subscriptions.read"], "post", "subscription/cancel"),
        (["subscriptions.read"], "post", "subscription/pause"),
        (["subscriptions.read"], "post", "subscription/resume"),
        (["subscriptions.manage"], "post", "card/default"),
        (["subscriptions.manage"], "delete", "card"),
        (["subscriptions.manage"], "post", "cards"),
    ],
)
def test_a_write_without_its_ability_is_refused(customer, mint, bearer, granted, method, path):
    subscription = SubscriptionFactory(merchant=customer.merchant, customer=customer)
    card = subscription.payment_method
    paths = {
        "subscription": f"/api/v1/subscriptions/{subscription.public_id}",
        "cards": f"/api/v1/customers/{customer.public_id}/payment-methods",
        "card": f"/api/v1/customers/{customer.public_id}/payment-methods/{card.public_id}",
    }
    head, _, tail = path.partition("/")
    client = bearer(mint(customer, granted))

    response = getattr(client, method)(paths[head] + (f"/{tail}" if tail else ""), {}, format="json")

    assert response.status_code == 403 and error_code(response) == "ability_not_granted"
    assert customer_actions(customer) == []


def test_a_customers_idempotency_keys_are_its_own(customer, mint, bearer, api):
    first = PaymentMethodFactory(profile__customer=customer, is_default=True)
    second = PaymentMethodFactory(profile=first.profile)
    base = f"/api/v1/customers/{customer.public_id}/payment-methods"
    api.post(f"{base}/{first.public_id}/default", format="json", HTTP_IDEMPOTENCY_KEY="same-key")
    client = bearer(mint(customer, MANAGE))

    # The same key, path and body as the merchant's: run for the customer, not the merchant's replayed.
    response = client.post(f"{base}/{first.public_id}/default", format="json", HTTP_IDEMPOTENCY_KEY="same-key")
    again = client.post(f"{base}/{first.public_id}/default", format="json", HTTP_IDEMPOTENCY_KEY="same-key")

    assert response.status_code == 200 and "Idempotent-Replayed" not in response
    assert again["Idempotent-Replayed"] == "true"
    assert IdempotencyRecord.objects.filter(key="same-key").count() == 1  # the merchant's, as sent
    assert second.pk


def test_a_minted_token_is_never_stored_yet_a_replay_hands_it_out(customer, api, bearer):
    body = {"customer": customer.public_id, "abilities": ["payments.read"]}

    minted = api.post("/api/v1/customer-sessions", body, format="json", HTTP_IDEMPOTENCY_KEY="mint-1")
    replayed = api.post("/api/v1/customer-sessions", body, format="json", HTTP_IDEMPOTENCY_KEY="mint-1")

    assert minted.status_code == replayed.status_code == 201
    assert replayed["Idempotent-Replayed"] == "true" and replayed.json()["id"] == minted.json()["id"]
    record = IdempotencyRecord.objects.get(key="mint-1")
    stored = bytes(record.response_content).decode() + str(record.response_body)
    assert minted.json()["token"] not in stored and "token" not in record.response_body
    assert bearer(replayed.json()["token"]).get("/api/v1/payments").status_code == 200


def test_a_customer_never_sees_the_risk_assessment_nor_the_review(customer, mint, bearer, api):
    risk = {"score": 90, "level": "high", "outcome": "block",
            "matched": [{"id": "rule_1", "name": "Too many cards", "outcome": "block", "mode": "live", "reason": "x"}]}  # fmt: skip
    payment = PaymentFactory(
        merchant=customer.merchant, customer=customer, status=PaymentStatus.FAILED, amount_authorized=0,
        risk=risk, review="rejected", metadata={"crm": "vip"}, failure_code="blocked_by_risk",
        failure_message="Blocked by risk rules.",
    )  # fmt: skip
    client = bearer(mint(customer, ["payments.read"]))

    one = client.get(f"/api/v1/payments/{payment.public_id}").json()
    listed = client.get("/api/v1/payments").json()["data"][0]
    merchant_view = api.get(f"/api/v1/payments/{payment.public_id}").json()

    for shown in (one, listed):
        assert not {"risk", "review", "metadata", "gateway_transaction_id"} & set(shown)
        assert (shown["failure_code"], shown["failure_message"]) == ("card_declined", "The payment was declined.")
        assert "rule_1" not in str(shown) and "Too many cards" not in str(shown)
    assert merchant_view["risk"]["rules"][0]["id"] == "rule_1" and merchant_view["failure_code"] == "blocked_by_risk"


def test_a_customer_sees_a_renewal_blocked_by_risk_as_a_plain_decline(customer, mint, bearer, api, anet_account):
    # Given a renewal the merchant's block list stopped (as in tests/subscriptions/test_risk.py)
    card = payment_method_add(customer=customer, livemode=False, payment=VISA, actor=ACTOR)
    plan = plan_create(
        merchant=customer.merchant, name="Pro", amount=1500, currency="USD", interval="month", trial_days=14,
        actor=ACTOR,
    )  # fmt: skip
    subscription = subscription_create(
        merchant=customer.merchant, customer=customer, plan=plan, payment_method=card, livemode=False, now=T0,
        actor=ACTOR,
    )  # fmt: skip
    list_entry_add(
        kind="email", action="block", value=customer.email, reason="chargeback", merchant=customer.merchant,
        actor=ACTOR,
    )  # fmt: skip
    billing_run(as_of=T0 + timedelta(days=14))
    attempt = BillingAttempt.objects.get(invoice__subscription=subscription)
    assert attempt.failure_code == "blocked_by_risk"
    path = f"/api/v1/subscriptions/{subscription.public_id}/invoices"

    # When the customer reads its invoices, and its payment; and the merchant the same invoices
    invoices = bearer(mint(customer, ["invoices.read", "payments.read"])).get(path)
    payment = bearer(mint(customer, ["payments.read"])).get(f"/api/v1/payments/{attempt.payment.public_id}")
    merchant_view = api.get(path).json()["data"][0]["attempts"][0]

    # Then the customer sees the same plain decline on both, the merchant the reason
    assert invoices.status_code == 200, invoices.json()
    (shown,) = invoices.json()["data"][0]["attempts"]
    assert shown["failure_code"] == payment.json()["failure_code"] == "card_declined"
    assert "blocked_by_risk" not in str(invoices.json()) and "chargeback" not in str(invoices.json())
    assert merchant_view["failure_code"] == "blocked_by_risk"
