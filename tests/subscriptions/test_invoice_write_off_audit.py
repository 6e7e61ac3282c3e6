"""Every invoice voided or written off is audited in the transaction that does it, with the
status it had, the status it has, why, and who: invoice.voided when a subscription ends owing
(canceled now, a failed first charge) and invoice.uncollectible when dunning runs out. Before,
only the subscription's change was audited and the invoice's status changed without a trace."""

from __future__ import annotations

from datetime import timedelta

import pytest

from apps.audit.models import ActorType, AuditEvent
from apps.subscriptions.billing import billing_run
from apps.subscriptions.models import Subscription
from apps.subscriptions.services import subscription_cancel, subscription_create
from tests.sessions_api.factories import InvoiceFactory, SubscriptionFactory

from .conftest import ACTOR, T0

pytestmark = pytest.mark.django_db(transaction=True)


def _audited(invoice, action):
    event = AuditEvent.objects.get(action=action, target_id=invoice.public_id)
    return event.before, event.after, (event.actor_type, event.actor_label)


def test_canceling_now_voids_what_is_owed_audited_as_the_canceler(merchant):
    sub = SubscriptionFactory(merchant=merchant, status="past_due")
    owed = InvoiceFactory(subscription=sub, amount=1500, currency="USD")
    paid = InvoiceFactory(
        subscription=sub, amount=1500, currency="USD", status="paid",
        period_start=sub.current_period_start - timedelta(days=30), period_end=sub.current_period_start,
    )  # fmt: skip

    subscription_cancel(subscription=sub, actor=ACTOR)

    owed.refresh_from_db()
    assert owed.status == "void"
    assert _audited(owed, "invoice.voided") == (
        {"status": "open"}, {"status": "void", "reason": "requested"}, (ActorType.SYSTEM, "tests"),
    )  # fmt: skip
    assert not AuditEvent.objects.filter(target_id=paid.public_id).exists()


def test_a_declined_first_charge_voids_its_invoice_audited(merchant, customer, card, make_plan, decline_card):
    decline_card(card)

    sub = subscription_create(
        merchant=merchant, customer=customer, plan=make_plan(), livemode=False, now=T0, actor=ACTOR
    )

    invoice = sub.invoices.get()
    assert (sub.status, invoice.status) == ("canceled", "void")
    assert _audited(invoice, "invoice.voided")[:2] == (
        {"status": "open"}, {"status": "void", "reason": "initial_payment_failed"},
    )  # fmt: skip


def test_a_first_charge_the_gateway_never_took_voids_its_invoice_audited(
    merchant, customer, card, make_plan, sandbox_fault
):
    sandbox_fault("http_error", 503, match="createTransactionRequest", remaining=5)

    sub = subscription_create(
        merchant=merchant, customer=customer, plan=make_plan(), livemode=False, now=T0, actor=ACTOR
    )

    invoice = sub.invoices.get()
    assert (sub.status, sub.cancellation_reason, invoice.status) == ("canceled", "initial_payment_error", "void")
    assert _audited(invoice, "invoice.voided")[:2] == (
        {"status": "open"}, {"status": "void", "reason": "initial_payment_error"},
    )  # fmt: skip


@pytest.mark.parametrize(("final_action", "final_status"), [("unpaid", "unpaid"), ("cancel", "canceled")])
def test_dunning_run_out_writes_the_invoice_off_audited(
    merchant, customer, card, make_plan, decline_card, settings, final_action, final_status
):
    settings.BILLING_FINAL_ACTION = final_action
    settings.BILLING_RETRY_DAYS = [2]
    sub = subscription_create(
        merchant=merchant, customer=customer, plan=make_plan(), livemode=False, now=T0, actor=ACTOR
    )
    renewal = sub.current_period_end
    decline_card(card)
    billing_run(as_of=renewal)

    billing_run(as_of=renewal + timedelta(days=2))

    assert Subscription.objects.get(pk=sub.pk).status == final_status
    invoice = sub.invoices.get(period_start=renewal)
    assert invoice.status == "uncollectible"
    assert _audited(invoice, "invoice.uncollectible") == (
        {"status": "open"}, {"status": "uncollectible", "reason": "dunning_exhausted"},
        (ActorType.SYSTEM, "billing run"),
    )  # fmt: skip
    assert not AuditEvent.objects.filter(action="invoice.voided", target_id=invoice.public_id).exists()
