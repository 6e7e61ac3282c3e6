"""The hosted customer portal of a merchant whose cards are at Razorpay, in a real browser under the
Content-Security-Policy: "Save card" asks us for a setup order, opens Checkout (the sandbox's
stand-in) on it with recurring: 1, and posts only Checkout's answer to us; the card typed into
Checkout goes to Razorpay alone. The saved card then pays the customer's subscription."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from apps.audit.actors import Actor
from apps.audit.models import ActorType, AuditEvent
from apps.customers.models import PaymentMethod
from apps.sandbox.models import RzpPayment, RzpToken
from apps.subscriptions.services import plan_create
from tests.factories import CustomerFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

VISA_OK = "4100 2800 0000 1007"
DECLINED = "4100 2800 0005 0004"  # a documented failure card


@pytest.fixture
def portal(live_server: Any, api: Any, merchant: Any, rzp_account: Any) -> tuple[str, Any]:
    customer = CustomerFactory(merchant=merchant, name="Ravi Kumar", email="ravi@example.com", phone="+919000090000")
    link = api.post("/api/v1/portal-sessions", {"customer": customer.public_id}, format="json").json()
    return f"{live_server.url}{urlsplit(link['url']).path}", customer


def save_card(page: Any, url: str, number: str) -> list[dict[str, list[str]]]:
    """Open the portal, press "Save card", pay the setup order in Checkout; the forms posted to the
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
    page.click("#add-card[data-gateway=razorpay] #save-card")
    page.wait_for_selector("#rzp-modal")
    page.fill("#rzp-card-number", number)
    page.fill("#rzp-card-expiry", "12/34")
    page.fill("#rzp-card-cvv", "123")
    page.click("#rzp-pay")
    return posted


def test_a_card_saved_in_checkout_pays_the_subscription(page: Any, portal: Any, merchant: Any, api: Any) -> None:
    url, customer = portal

    posted = save_card(page, url, VISA_OK)

    page.wait_for_selector("#messages")
    assert "Card ending 1007 saved." in page.inner_text("#messages"), page.inner_text("main")
    card = PaymentMethod.objects.get(customer=customer)
    assert (card.status, card.card_last4, card.is_default) == ("active", "1007", True)
    assert RzpToken.objects.get(rzp_id=card.payment_token).customer.rzp_id == card.profile.customer_token
    assert len(posted) == 1 and set(posted[0]) == {"csrfmiddlewaretoken", "make_default", "descriptor", "value"}
    order_id, payment_id, _ = posted[0]["value"][0].split("|")
    assert posted[0]["descriptor"] == ["razorpay.checkout"]
    setup = RzpPayment.objects.get(rzp_id=payment_id)
    assert (setup.order.rzp_id, setup.status, setup.amount, setup.contact) == (
        order_id,
        "authorized",
        100,
        "+919000090000",
    )
    event = AuditEvent.objects.get(action="payment_method.added")
    assert (event.actor_type, event.actor_id) == (ActorType.CUSTOMER, customer.public_id)

    plan = plan_create(merchant=merchant, name="Pro", amount=49_900, currency="INR", interval="month",
                       actor=Actor.system("tests"))  # fmt: skip
    response = api.post("/api/v1/subscriptions", {"customer": customer.public_id, "plan": plan.public_id})
    assert response.status_code == 201, response.content
    assert response.json()["status"] == "active"


def test_a_declined_card_is_not_saved_and_the_customer_may_try_again(page: Any, portal: Any) -> None:
    url, customer = portal

    posted = save_card(page, url, DECLINED)

    page.wait_for_selector("#card-error:not([hidden])")
    assert page.inner_text("#rzp-error")  # Checkout says why, and stays open for another card
    assert posted == [] and not PaymentMethod.objects.filter(customer=customer).exists()
    page.fill("#rzp-card-number", VISA_OK)
    page.click("#rzp-pay")
    page.wait_for_selector("#messages")
    assert "Card ending 1007 saved." in page.inner_text("#messages")
