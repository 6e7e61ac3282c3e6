"""The hosted customer portal of a merchant whose cards are at Stripe, in a real browser under the
Content-Security-Policy: a card typed into the Stripe.js stand-in's card element becomes a payment
method at the sandbox (createPaymentMethod, publishable key), and only its id is posted to us; a
card that asks for 3-D Secure takes the customer to the bank's page and back to the portal."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from apps.audit.models import ActorType, AuditEvent
from apps.customers.models import PaymentMethod
from tests.factories import CustomerFactory
from tests.stripe.conftest import stripe_account  # noqa: F401 (fixture)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SETUP_NEEDS_3DS = "4000 0025 0000 3155"  # authenticated once when saved, then charged off session


@pytest.fixture
def portal(live_server: Any, api: Any, merchant: Any, stripe_account: Any) -> tuple[str, Any]:  # noqa: F811
    customer = CustomerFactory(merchant=merchant, name="Lea Martin", email="lea@example.com")
    link = api.post("/api/v1/portal-sessions", {"customer": customer.public_id}, format="json").json()
    return f"{live_server.url}{urlsplit(link['url']).path}", customer


def add_card(page: Any, url: str, number: str) -> list[dict[str, list[str]]]:
    """Open the portal, type the card into the card element and save it; the forms posted to the
    portal's card endpoint."""
    posted: list[dict[str, list[str]]] = []
    page.on(
        "request",
        lambda request: (
            posted.append(parse_qs(request.post_data or ""))
            if request.method == "POST" and urlsplit(request.url).path == "/portal/payment-methods"
            else None
        ),
    )
    page.goto(url)
    page.wait_for_selector("#add-card[data-gateway=stripe] #stripe-card-number")
    page.fill("#stripe-card-number", number)
    page.fill("#stripe-card-expiry", "12 / 34")
    page.fill("#stripe-card-cvc", "123")
    page.click("#save-card")
    return posted


def test_a_card_is_saved_through_stripe_js_and_only_its_id_reaches_us(page: Any, portal: Any) -> None:
    url, customer = portal

    posted = add_card(page, url, "4242 4242 4242 4242")

    page.wait_for_selector("#messages")
    assert "Card ending 4242 saved." in page.inner_text("#messages"), page.inner_text("main")
    card = PaymentMethod.objects.get(customer=customer)
    assert (card.status, card.card_last4, card.is_default) == ("active", "4242", True)
    assert page.is_visible(f"#method-{card.public_id} .default")
    assert len(posted) == 1 and set(posted[0]) == {"csrfmiddlewaretoken", "make_default", "descriptor", "value"}
    assert (posted[0]["descriptor"], posted[0]["value"]) == (["stripe.payment_method"], [card.payment_token])
    event = AuditEvent.objects.get(action="payment_method.added")
    assert (event.actor_type, event.actor_id) == (ActorType.CUSTOMER, customer.public_id)


def test_a_card_asking_for_3d_secure_is_saved_after_the_bank_page(page: Any, portal: Any, live_server: Any) -> None:
    url, customer = portal

    add_card(page, url, SETUP_NEEDS_3DS)

    page.wait_for_selector("#complete")  # the bank's (sandbox's) page, the whole window
    assert urlsplit(page.url).path.startswith("/sandbox/stripe/3ds/seti_")
    assert PaymentMethod.objects.get(customer=customer).status == "requires_action"
    page.click("#complete")
    page.wait_for_selector("#messages")
    assert page.url == f"{live_server.url}/portal/"
    assert "Card ending 3155 saved." in page.inner_text("#messages"), page.inner_text("main")
    card = PaymentMethod.objects.get(customer=customer)
    assert (card.status, card.is_default, card.action_url) == ("active", True, "")
    assert page.is_visible(f"#method-{card.public_id} .default")


def test_failed_3d_secure_saves_nothing_and_says_so(page: Any, portal: Any) -> None:
    url, customer = portal

    add_card(page, url, SETUP_NEEDS_3DS)
    page.wait_for_selector("#fail")
    page.click("#fail")

    page.wait_for_selector("#messages")
    assert "was not saved" in page.inner_text("#messages"), page.inner_text("main")
    assert PaymentMethod.objects.get(customer=customer).status == "failed"
    assert "No saved cards." in page.inner_text("#payment-methods")
