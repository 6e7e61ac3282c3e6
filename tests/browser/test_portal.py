"""The hosted customer portal in a real browser, under the Content-Security-Policy: opened with a
one-time link, a new card saved through the sandbox's Accept.js stand-in (only its token reaches
us), the subscription canceled at the period's end, the invoice's receipt shown."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import pytest

from apps.audit.models import ActorType, AuditEvent
from apps.customers.models import PaymentMethod
from tests.factories import CustomerFactory
from tests.payments.helpers import VISA
from tests.sessions_api.factories import InvoiceFactory, SubscriptionFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def portal_url(live_server: Any, api: Any, merchant: Any, anet_account: Any) -> tuple[str, Any, Any]:
    customer = CustomerFactory(merchant=merchant, name="Lea Martin")
    saved = api.post(f"/api/v1/customers/{customer.public_id}/payment-methods", VISA, format="json")
    assert saved.status_code == 201, saved.json()  # the first card, in the sandbox's vault
    card = PaymentMethod.objects.get(public_id=saved.json()["id"])
    subscription = SubscriptionFactory(merchant=merchant, customer=customer, payment_method=card)
    invoice = InvoiceFactory(subscription=subscription, amount=4_500, status="paid")
    link = api.post("/api/v1/portal-sessions", {"customer": customer.public_id}, format="json").json()
    return f"{live_server.url}{urlsplit(link['url']).path}", subscription, invoice


def test_update_the_card_cancel_at_period_end_and_see_the_invoice(page: Any, portal_url: Any) -> None:
    url, subscription, invoice = portal_url
    old_card = subscription.payment_method

    page.goto(url)
    page.wait_for_selector("#subscriptions")
    page.fill("#card-number", "5424 0000 0000 0015")
    page.fill("#card-expiry", "11 / 31")
    page.fill("#card-cvc", "900")
    page.click("#save-card")
    page.wait_for_selector("#messages")
    assert "Card ending 0015 saved." in page.inner_text("#messages"), page.inner_text("main")

    new_card = PaymentMethod.objects.exclude(pk=old_card.pk).get()
    assert new_card.card_last4 == "0015" and new_card.is_default
    assert page.is_visible(f"#method-{new_card.public_id} .default")

    page.click(f"#subscription-{subscription.public_id} button.cancel")
    page.wait_for_selector(f"#subscription-{subscription.public_id} >> text=Ends on")
    subscription.refresh_from_db()
    assert subscription.cancel_at_period_end

    page.click(f"#invoice-{invoice.public_id} a")
    page.wait_for_selector("#receipt[data-status=paid]")
    assert page.inner_text("#invoice-amount") == "45.00 USD"

    actions = set(AuditEvent.objects.filter(actor_type=ActorType.CUSTOMER).values_list("action", flat=True))
    assert {"payment_method.added", "subscription.cancel_scheduled"} <= actions
