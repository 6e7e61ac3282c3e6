"""The factories build objects the rest of the system accepts: a captured payment refunds through the
real service and the ledger stays sound (checked after every test)."""

from __future__ import annotations

import pytest

from apps.payments.models import Payment
from tests.factories import (
    CustomerFactory,
    EventFactory,
    GatewayAccountFactory,
    PaymentFactory,
    PlanFactory,
    PriceFactory,
)

pytestmark = pytest.mark.django_db


def test_a_captured_payment_carries_its_ledger_entries():
    payment = PaymentFactory(captured=True)

    stored = Payment.objects.get(pk=payment.pk)
    assert (stored.status, stored.amount_captured, stored.refundable_amount) == ("captured", 1050, 1050)
    assert stored.journal_entries.count() == 1


def test_every_factory_builds_a_saved_object_of_one_merchant():
    account = GatewayAccountFactory()
    customer = CustomerFactory(merchant=account.merchant)
    payment = PaymentFactory(merchant=account.merchant, gateway_account=account, customer=customer)
    price = PriceFactory()
    plan = PlanFactory()
    event = EventFactory()

    assert account.credentials()["api_login_id"] == "factory"
    assert (payment.merchant, payment.customer.merchant) == (account.merchant, account.merchant)
    assert price.merchant == price.product.merchant
    assert (plan.pk, event.data) == (plan.pk, {"id": event.object_id})
