"""Customers, payment methods, charges, refunds and balance transactions of the Stripe sandbox,
driven by the official SDK over real HTTP."""

from __future__ import annotations

import pytest
import stripe
from django.conf import settings

from apps.sandbox.models import StripeBalanceTransaction, StripeEvent
from apps.sandbox.stripe.services import stripe_refund_advance

pytestmark = pytest.mark.django_db(transaction=True)

CARD = {"number": "4242424242424242", "exp_month": 12, "exp_year": 2040, "cvc": "123"}


@pytest.fixture
def client(stripe_sandbox):
    return stripe.StripeClient(
        stripe_sandbox.secret_key, base_addresses={"api": settings.STRIPE_TEST_API_BASE}, max_network_retries=0
    )


def pay(client, payment_method="pm_card_visa", amount=1000, **extra):
    params = {
        "amount": amount,
        "currency": "usd",
        "payment_method": payment_method,
        "confirm": True,
        "payment_method_types": ["card"],
        **extra,
    }
    return client.v1.payment_intents.create(params=params)


# --- customers ------------------------------------------------------------------------------------


def test_customers_are_created_read_updated_searched_and_deleted(client):
    created = client.v1.customers.create(params={"email": "ada@example.com", "name": "Ada", "metadata": {"crm": "c-1"}})
    updated = client.v1.customers.update(created.id, params={"phone": "+15555550100", "metadata": {"tier": "gold"}})
    found = client.v1.customers.search(params={"query": "metadata['crm']:'c-1'"})
    by_email = client.v1.customers.list(params={"email": "ada@example.com"})
    deleted = client.v1.customers.delete(created.id)

    assert created.id.startswith("cus_") and created.object == "customer" and created.livemode is False
    assert (created.email, created.name, created.balance, created.delinquent) == ("ada@example.com", "Ada", 0, False)
    assert updated.metadata.to_dict() == {"crm": "c-1", "tier": "gold"} and updated.phone == "+15555550100"
    assert [c.id for c in found.data] == [created.id] and found.object == "search_result"
    assert [c.id for c in by_email.data] == [created.id]
    assert deleted.to_dict() == {"id": created.id, "object": "customer", "deleted": True}
    assert client.v1.customers.retrieve(created.id).deleted is True
    assert client.v1.customers.list().data == []
    types = list(StripeEvent.objects.order_by("pk").values_list("type", flat=True))
    assert types == ["customer.created", "customer.updated", "customer.deleted"]
    updated_event = StripeEvent.objects.get(type="customer.updated")
    assert updated_event.data["previous_attributes"] == {"metadata": {"crm": "c-1"}, "phone": None}


# --- payment methods ------------------------------------------------------------------------------


def test_a_card_is_created_attached_listed_and_detached(client):
    customer = client.v1.customers.create()
    method = client.v1.payment_methods.create(params={"type": "card", "card": CARD, "metadata": {"k": "v"}})

    attached = client.v1.payment_methods.attach(method.id, params={"customer": customer.id})
    listed = client.v1.payment_methods.list(params={"customer": customer.id, "type": "card"})
    nested = client.v1.customers.payment_methods.list(customer.id)
    detached = client.v1.payment_methods.detach(method.id)

    assert method.id.startswith("pm_") and method.type == "card" and method.customer is None
    assert (method.card.brand, method.card.last4, method.card.exp_year) == ("visa", "4242", 2040)
    assert attached.customer == customer.id
    assert [m.id for m in listed.data] == [method.id] == [m.id for m in nested.data]
    assert detached.customer is None
    assert client.v1.payment_methods.list(params={"customer": customer.id}).data == []
    types = StripeEvent.objects.filter(type__startswith="payment_method").order_by("pk").values_list("type", flat=True)
    assert list(types) == ["payment_method.attached", "payment_method.detached"]
    with pytest.raises(stripe.InvalidRequestError):  # a detached card cannot be used again
        client.v1.payment_methods.attach(method.id, params={"customer": customer.id})


def test_a_card_the_bank_declines_cannot_be_attached_but_the_charge_fail_card_can(client):
    customer = client.v1.customers.create()

    with pytest.raises(stripe.CardError) as raised:
        client.v1.payment_methods.attach(
            client.v1.payment_methods.create(
                params={"type": "card", "card": {**CARD, "number": "4000000000000002"}}
            ).id,
            params={"customer": customer.id},
        )
    later_fails = client.v1.payment_methods.create(
        params={"type": "card", "card": {**CARD, "number": "4000000000000341"}}
    )
    client.v1.payment_methods.attach(later_fails.id, params={"customer": customer.id})

    assert raised.value.code == "card_declined"
    with pytest.raises(stripe.CardError):
        pay(client, later_fails.id, customer=customer.id, off_session=True)


def test_a_card_used_without_a_customer_cannot_be_used_again(client):
    method = client.v1.payment_methods.create(params={"type": "card", "card": CARD})
    pay(client, method.id)

    with pytest.raises(stripe.InvalidRequestError) as raised:
        pay(client, method.id)

    assert raised.value.param == "payment_method"


# --- refunds and the balance ----------------------------------------------------------------------


def test_refunds_partial_then_the_rest_then_nothing_left(client):
    intent = pay(client, amount=5000)

    partial = client.v1.refunds.create(
        params={"payment_intent": intent.id, "amount": 2000, "reason": "duplicate", "metadata": {"ticket": "t-9"}}
    )
    with pytest.raises(stripe.InvalidRequestError) as over:
        client.v1.refunds.create(params={"payment_intent": intent.id, "amount": 3001})
    rest = client.v1.refunds.create(params={"charge": intent.latest_charge})
    with pytest.raises(stripe.InvalidRequestError) as done:
        client.v1.refunds.create(params={"payment_intent": intent.id})

    assert partial.id.startswith("re_") and partial.object == "refund"
    assert (partial.amount, partial.status, partial.reason, partial.charge) == (
        2000,
        "succeeded",
        "duplicate",
        intent.latest_charge,
    )
    assert partial.payment_intent == intent.id and partial.metadata.to_dict() == {"ticket": "t-9"}
    assert over.value.param == "amount"
    assert rest.amount == 3000
    assert done.value.code == "charge_already_refunded"
    charge = client.v1.charges.retrieve(intent.latest_charge, params={"expand": ["refunds"]})
    assert (charge.amount_refunded, charge.refunded) == (5000, True)
    assert [r.id for r in charge.refunds.data] == [rest.id, partial.id]
    listed = client.v1.refunds.list(params={"payment_intent": intent.id})
    assert [r.id for r in listed.data] == [rest.id, partial.id]
    updated = client.v1.refunds.update(partial.id, params={"metadata": {"ticket": "t-10"}})
    assert updated.metadata.to_dict() == {"ticket": "t-10"}
    refund_events = StripeEvent.objects.filter(
        type__in=["refund.created", "charge.refunded", "refund.updated", "charge.refund.updated"]
    ).order_by("pk")
    assert [e.type for e in refund_events] == [
        "refund.created",
        "charge.refunded",
        "refund.created",
        "charge.refunded",
        "refund.updated",
        "charge.refund.updated",
    ]
    with pytest.raises(stripe.InvalidRequestError) as uncaptured:
        client.v1.refunds.create(params={"payment_intent": pay(client, capture_method="manual").id})
    assert uncaptured.value.param == "payment_intent"


def test_balance_transactions_carry_stripes_fee_and_refunds_take_money_back(client):
    intent = pay(client, amount=1000)
    refund = client.v1.refunds.create(params={"payment_intent": intent.id, "amount": 400})

    charge_txn = client.v1.balance_transactions.list(params={"type": "charge", "expand": ["data.source"]}).data[0]
    refund_txn = client.v1.balance_transactions.retrieve(refund.balance_transaction)

    assert charge_txn.id.startswith("txn_") and charge_txn.object == "balance_transaction"
    assert (charge_txn.amount, charge_txn.fee, charge_txn.net) == (1000, 59, 941)  # 2.9 % + 30
    assert charge_txn.fee_details[0].to_dict() == {
        "amount": 59,
        "application": None,
        "currency": "usd",
        "description": "Stripe processing fees",
        "type": "stripe_fee",
    }
    assert charge_txn.status == "pending" and charge_txn.available_on > charge_txn.created
    assert charge_txn.source.object == "charge" and charge_txn.source.id == intent.latest_charge
    assert (refund_txn.type, refund_txn.amount, refund_txn.fee, refund_txn.net, refund_txn.source) == (
        "refund",
        -400,
        0,
        -400,
        refund.id,
    )


def test_balance_transactions_filter_by_payout(client):
    pay(client)
    pay(client)
    swept = StripeBalanceTransaction.objects.order_by("pk").first()
    StripeBalanceTransaction.objects.filter(pk=swept.pk).update(payout_id="po_test123")

    listed = client.v1.balance_transactions.list(params={"payout": "po_test123"})

    assert [txn.id for txn in listed.data] == [swept.stripe_id]


def test_the_refund_test_cards_stay_pending_or_fail_when_the_bank_answers(client):
    pending = client.v1.refunds.create(params={"payment_intent": pay(client, "pm_card_pendingRefund").id})
    failing = client.v1.refunds.create(params={"payment_intent": pay(client, "pm_card_refundFail").id})
    assert (pending.status, failing.status) == ("pending", "succeeded")

    assert stripe_refund_advance(pending.id) is True
    assert stripe_refund_advance(failing.id) is True

    assert client.v1.refunds.retrieve(pending.id).status == "succeeded"
    failed = client.v1.refunds.retrieve(failing.id)
    assert (failed.status, failed.failure_reason) == ("failed", "expired_or_canceled_card")
    assert client.v1.balance_transactions.retrieve(failed.failure_balance_transaction).amount == failed.amount
    assert client.v1.charges.retrieve(failed.charge).amount_refunded == 0
    assert stripe_refund_advance(failing.id) is False
    assert StripeEvent.objects.filter(type="refund.failed").count() == 1


def test_charges_are_listed_by_payment_intent_and_searched(client):
    first = pay(client, metadata={"order": "o-1"})
    with pytest.raises(stripe.CardError):
        pay(client, "pm_card_chargeDeclined")

    listed = client.v1.charges.list(params={"payment_intent": first.id})
    failed = client.v1.charges.search(params={"query": "status:'failed'"})

    assert [c.id for c in listed.data] == [first.latest_charge]
    assert listed.data[0].metadata.to_dict() == {"order": "o-1"}
    assert len(failed.data) == 1 and failed.data[0].failure_code == "card_declined"
