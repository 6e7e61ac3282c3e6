"""Finance staff see plan prices and invoice amounts as money in the admin, in the currency's own
decimals (USD 2, JPY 0, KWD 3), never as bare minor units; subscription ids in messages keep
their case."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.utils import timezone

from apps.accounts import roles
from apps.customers.models import PaymentMethod, VaultProfile
from apps.subscriptions.models import Invoice, Subscription, SubscriptionStatus
from tests.factories import CustomerFactory, GatewayAccountFactory, PlanFactory
from tests.helpers import assert_id_keeps_its_case, assert_shows_money

pytestmark = pytest.mark.django_db
MONEY = {"USD": "45.00 USD", "JPY": "4,500 JPY", "KWD": "4.500 KWD"}


@pytest.fixture(params=sorted(MONEY))
def currency(request):
    return request.param


@pytest.fixture
def invoice(currency) -> Invoice:
    """An active monthly subscription of 4500 minor units with its open invoice."""
    plan = PlanFactory(amount=4500, currency=currency)
    account = GatewayAccountFactory(merchant=plan.merchant)
    customer = CustomerFactory(merchant=plan.merchant)
    profile = VaultProfile.objects.create(customer=customer, gateway_account=account, customer_token="cust-1")
    card = PaymentMethod.objects.create(
        merchant=plan.merchant, customer=customer, gateway_account=account, profile=profile, payment_token="pm-1"
    )
    now = timezone.now()
    subscription = Subscription.objects.create(
        merchant=plan.merchant,
        customer=customer,
        plan=plan,
        payment_method=card,
        gateway_account=account,
        status=SubscriptionStatus.ACTIVE,
        billing_anchor=now,
        current_period_start=now,
        current_period_end=now + timedelta(days=30),
    )
    return Invoice.objects.create(
        merchant=plan.merchant,
        subscription=subscription,
        plan=plan,
        period_start=now,
        period_end=now + timedelta(days=30),
        amount=4500,
        currency=currency,
    )


def test_plan_and_invoice_pages_show_money(invoice, currency, staff_client):
    viewer = staff_client(roles.FINANCE_VIEWER)

    pages = {
        "plan": viewer.get(f"/admin/subscriptions/plan/{invoice.plan_id}/change/"),
        "plans": viewer.get("/admin/subscriptions/plan/"),
        "invoice": viewer.get(f"/admin/subscriptions/invoice/{invoice.pk}/change/"),
        "invoices": viewer.get("/admin/subscriptions/invoice/"),
        "subscription": viewer.get(f"/admin/subscriptions/subscription/{invoice.subscription_id}/change/"),
    }

    for name, page in pages.items():
        assert page.status_code == 200, name
        assert_shows_money(page.content, shown=[MONEY[currency]], bare=[4500])


def test_an_action_message_starts_with_a_word_and_keeps_the_ids_case(invoice, staff_client):
    subscription = invoice.subscription
    operator = staff_client(roles.FINANCE_OPERATOR)

    done = operator.post(
        "/admin/subscriptions/subscription/",
        {"action": "pause", ACTION_CHECKBOX_NAME: [subscription.pk], "confirm": "yes"},
        follow=True,
    )

    assert f"Subscription {subscription.public_id}: paused".encode() in done.content
    assert_id_keeps_its_case(done.content, subscription.public_id)
