"""A refund Stripe accepted and later failed (the card was closed: the money came back to our
balance). Its webhook must undo ours: the refund failed, the payment's refunded amount and the
ledger back, the merchant told refund.failed. Through the official SDK against our sandbox, whose
4000000000005126 refunds succeed and fail when advanced, as Stripe's test card does."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from apps.audit.models import AuditEvent
from apps.events.models import Event
from apps.gateways.services import gateway_account_set_credentials
from apps.ledger.models import AccountKind, JournalEntry
from apps.ledger.selectors import account_balance
from apps.payments.models import Payment, PaymentStatus, Refund, RefundStatus
from apps.sandbox.stripe.services import stripe_refund_advance
from apps.webhooks.models import IncomingWebhook
from apps.webhooks.services import incoming_webhook_process

from .conftest import ACTOR, signed

pytestmark = pytest.mark.django_db(transaction=True)

NEXT_YEAR = datetime.now(UTC).year + 1
REFUND_FAILS_LATER = "4000000000005126"
REFUND_PENDING = "4000000000007726"
SECRET = "whsec_refund_failed"


@pytest.fixture
def secret(stripe_account: Any) -> str:
    gateway_account_set_credentials(account=stripe_account, credentials={"webhook_secret": SECRET}, actor=ACTOR)
    return SECRET


def pay_and_refund(api: Any, refund_amount: int, *, card: str = REFUND_FAILS_LATER) -> tuple[Payment, Refund]:
    body = {
        "amount": 5_000,
        "currency": "USD",
        "payment_method": {"type": "card", "number": card, "exp_month": 12, "exp_year": NEXT_YEAR},
    }
    paid = api.post("/api/v1/payments", body, format="json", HTTP_IDEMPOTENCY_KEY=uuid.uuid4().hex)
    assert paid.status_code == 201, paid.json()
    payment = Payment.objects.get(public_id=paid.json()["id"])
    refunded = api.post(
        f"/api/v1/payments/{payment.public_id}/refunds",
        {"amount": refund_amount},
        format="json",
        HTTP_IDEMPOTENCY_KEY=uuid.uuid4().hex,
    )
    assert refunded.status_code == 201, refunded.json()
    assert refunded.json()["status"] == "succeeded"
    refund = Refund.objects.get(public_id=refunded.json()["id"])
    assert refund.gateway_transaction_id.startswith("re_")
    return payment, refund


def deliver(client: Any, stripe_sdk: Any, account: Any, event_type: str, object_id: str) -> IncomingWebhook:
    """Stripe's event of this type about this object, delivered to our endpoint and processed."""
    events = stripe_sdk.v1.events.list(params={"type": event_type, "limit": 100})
    event = next(e for e in events.data if e.data.object["id"] == object_id).to_dict()
    body, header = signed(event, SECRET)
    answer = client.post(
        f"/webhooks/stripe/{account.public_id}", body, content_type="application/json", HTTP_STRIPE_SIGNATURE=header
    )
    assert answer.status_code == 200, answer.content
    stored = IncomingWebhook.objects.get(gateway="stripe", event_id=event["id"])
    incoming_webhook_process(webhook_id=stored.pk)
    stored.refresh_from_db()
    return stored


def receivable(account: Any) -> int:
    return account_balance(gateway_account_id=account.pk, kind=AccountKind.RECEIVABLE, currency="USD")


@pytest.mark.parametrize("event_type", ["refund.failed", "refund.updated", "charge.refund.updated"])
def test_a_refund_that_fails_later_is_undone_by_its_webhook(
    api: Any, client: Any, stripe_account: Any, stripe_sdk: Any, secret: str, event_type: str
) -> None:
    payment, refund = pay_and_refund(api, 2_000)
    receivable_after_refund = receivable(stripe_account)

    assert stripe_refund_advance(refund.gateway_transaction_id)  # the bank sends the money back
    webhook = deliver(client, stripe_sdk, stripe_account, event_type, refund.gateway_transaction_id)

    assert webhook.status == IncomingWebhook.Status.PROCESSED
    refund.refresh_from_db()
    payment.refresh_from_db()
    assert (refund.status, refund.failure_code) == (RefundStatus.FAILED, "refund_failed")
    assert (payment.status, payment.amount_refunded, payment.amount_refund_pending) == (PaymentStatus.CAPTURED, 0, 0)
    assert receivable(stripe_account) == receivable_after_refund + 2_000  # the ledger's refund reversed
    assert AuditEvent.objects.filter(target_id=refund.public_id, action="refund.failed").count() == 1
    assert Event.objects.filter(type="refund.failed", object_id=refund.public_id).count() == 1

    # Told again (another of Stripe's events about it): nothing more happens.
    entries = JournalEntry.objects.filter(refund=refund).count()
    again = deliver(client, stripe_sdk, stripe_account, "refund.updated", refund.gateway_transaction_id)
    assert again.status == IncomingWebhook.Status.PROCESSED
    assert JournalEntry.objects.filter(refund=refund).count() == entries
    assert Event.objects.filter(type="refund.failed", object_id=refund.public_id).count() == 1
    payment.refresh_from_db()
    assert payment.amount_refunded == 0


def test_a_pending_refund_that_goes_through_is_left_as_it_is(
    api: Any, client: Any, stripe_account: Any, stripe_sdk: Any, secret: str
) -> None:
    payment, refund = pay_and_refund(api, 2_000, card=REFUND_PENDING)

    assert stripe_refund_advance(refund.gateway_transaction_id)  # pending -> succeeded
    webhook = deliver(client, stripe_sdk, stripe_account, "refund.updated", refund.gateway_transaction_id)

    assert webhook.status == IncomingWebhook.Status.PROCESSED
    refund.refresh_from_db()
    payment.refresh_from_db()
    assert refund.status == RefundStatus.SUCCEEDED
    assert (payment.status, payment.amount_refunded) == (PaymentStatus.PARTIALLY_REFUNDED, 2_000)
    assert not Event.objects.filter(type="refund.failed").exists()
