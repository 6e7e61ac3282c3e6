"""The portal's card form for each gateway: Accept.js for Authorize.Net, Stripe.js (the sandbox's
stand-in here) for Stripe, Razorpay Checkout on a setup order for Razorpay. A Stripe
card comes to us as a payment method id only; one that asks for 3-D Secure sends the customer to the
bank's page and back to the portal, the card saved once Stripe says so."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from apps.audit.actors import Actor
from apps.audit.models import ActorType, AuditEvent
from apps.customers.models import PaymentMethod
from apps.gateways.services import gateway_account_create
from apps.portal.selectors import CardForm
from config.settings.base import content_security_policy
from tests.factories import CustomerFactory
from tests.sessions_api.factories import SubscriptionFactory
from tests.stripe.conftest import stripe_account  # noqa: F401 (fixture)
from tests.stripe.helpers import authenticate

from .test_portal import open_portal, portal_link

pytestmark = pytest.mark.django_db(transaction=True)

ACTOR = Actor.system("tests")
NEXT_YEAR = datetime.now(UTC).year + 1
THREE_D_SECURE = "4000000000003220"


@pytest.fixture
def customer(merchant: Any) -> Any:
    return CustomerFactory(merchant=merchant, name="Lea Martin", email="lea@example.com")


def account(merchant: Any, gateway: str, credentials: dict[str, str]) -> Any:
    return gateway_account_create(merchant=merchant, gateway=gateway, mode="test", credentials=credentials, actor=ACTOR)


def signed_in(api: Any, client: Any, customer: Any) -> Any:
    open_portal(client, portal_link(api, customer))
    return client


def policy(response: Any) -> dict[str, list[str]]:
    directives = (part.strip().split() for part in response["Content-Security-Policy"].split(";") if part.strip())
    return {name: values for name, *values in directives}


def add_card_form(page: str) -> str:
    found = re.search(r'<form[^>]*id="add-card".*?</form>', page, re.S)
    assert found, page
    return found.group(0)


def test_a_stripe_account_gets_the_stripe_js_card_form(api, client, customer, settings):
    account(customer.merchant, "stripe", {"secret_key": "sk_test_portal", "publishable_key": "pk_test_portal"})
    signed_in(api, client, customer)

    response = client.get("/portal/")

    assert response.context["card_form"] == CardForm(
        "stripe",
        script_url=settings.STRIPE_JS_URL,
        publishable_key="pk_test_portal",
        token_descriptor="stripe.payment_method",
    )
    page = response.content.decode()
    form = add_card_form(page)
    assert f'<script src="{settings.STRIPE_JS_URL}"></script>' in page and settings.ACCEPT_JS_URL not in page
    assert 'data-gateway="stripe"' in form and 'data-publishable-key="pk_test_portal"' in form
    assert 'id="card-element"' in form and 'id="card-number"' not in form
    # Only the token, the CSRF token and the choice of default are ever posted; never the secret key.
    assert set(re.findall(r'\sname="([^"]+)"', form)) == {"csrfmiddlewaretoken", "make_default", "descriptor", "value"}
    assert "sk_test_portal" not in page


def test_the_policy_lets_the_page_load_stripe_js_and_call_the_sandbox(api, client, customer, settings):
    account(customer.merchant, "stripe", {"secret_key": "sk_test_portal", "publishable_key": "pk_test_portal"})
    signed_in(api, client, customer)

    directives = policy(client.get("/portal/"))

    # The stand-in is ours (a path of this site), as is the sandbox API it posts the card to.
    assert not urlsplit(settings.STRIPE_JS_URL).netloc
    assert "'self'" in directives["script-src"] and "'unsafe-inline'" not in directives["script-src"]
    assert "'self'" in directives["connect-src"] and "'self'" in directives["form-action"]


def test_with_stripes_own_script_the_policy_admits_stripe_and_its_3d_secure_pages(api, client, customer, settings):
    settings.STRIPE_JS_URL = "https://js.stripe.com/v3/"
    settings.CONTENT_SECURITY_POLICY = content_security_policy(
        "https://checkout.razorpay.com/v1/checkout.js", settings.STRIPE_JS_URL, settings.ACCEPT_JS_URL
    )
    account(customer.merchant, "stripe", {"secret_key": "sk_test_portal", "publishable_key": "pk_test_portal"})
    signed_in(api, client, customer)

    response = client.get("/portal/")
    directives = policy(response)

    assert '<script src="https://js.stripe.com/v3/"></script>' in response.content.decode()
    assert "https://js.stripe.com" in directives["script-src"]
    assert "https://api.stripe.com" in directives["connect-src"]
    assert {"https://js.stripe.com", "https://hooks.stripe.com"} <= set(directives["frame-src"])
    assert "https://hooks.stripe.com" in directives["form-action"]


def test_an_authorizenet_account_keeps_the_accept_js_form(api, client, customer, settings):
    account(customer.merchant, "authorizenet", {"api_login_id": "login", "transaction_key": "key", "client_key": "ck"})
    signed_in(api, client, customer)

    response = client.get("/portal/")

    assert response.context["card_form"] == CardForm(
        "authorizenet", script_url=settings.ACCEPT_JS_URL, api_login_id="login", client_key="ck"
    )
    form = add_card_form(response.content.decode())
    assert 'id="card-number"' in form and 'data-client-key="ck"' in form and "card-element" not in form
    assert set(re.findall(r'\sname="([^"]+)"', form)) == {"csrfmiddlewaretoken", "make_default", "descriptor", "value"}


def test_a_razorpay_account_saves_cards_in_checkout(api, client, customer, settings):
    account(customer.merchant, "razorpay", {"key_id": "rzp_test_portal", "key_secret": "secret"})
    signed_in(api, client, customer)

    response = client.get("/portal/")

    assert response.context["card_form"] == CardForm(
        "razorpay",
        script_url=settings.RAZORPAY_CHECKOUT_JS_URL,
        key_id="rzp_test_portal",
        token_descriptor="razorpay.checkout",
    )
    page = response.content.decode()
    form = add_card_form(page)
    assert f'<script src="{settings.RAZORPAY_CHECKOUT_JS_URL}"></script>' in page and "secret" not in page
    assert 'data-setup-url="/portal/payment-methods/checkout-setup"' in form and 'id="card-number"' not in form
    assert set(re.findall(r'\sname="([^"]+)"', form)) == {"csrfmiddlewaretoken", "make_default", "descriptor", "value"}


def test_the_setup_order_comes_as_json_and_its_refusal_too(api, client, customer, rzp_account, anet_account):
    signed_in(api, client, customer)

    refused = client.post("/portal/payment-methods/checkout-setup")  # cards go to Authorize.Net here

    assert refused.status_code == 409 and refused.json()["error"]["code"] == "vault_not_supported"
    anet_account.is_active = False
    anet_account.save(update_fields=["is_active"])
    setup = client.post("/portal/payment-methods/checkout-setup")
    assert setup.status_code == 200 and setup.json()["order_id"].startswith("order_")
    assert setup.json()["key_id"] == rzp_account.credentials()["key_id"]


def test_the_setup_order_needs_the_csrf_token(api, customer, rzp_account):
    from django.test import Client

    from apps.sandbox.models import RzpOrder

    browser = Client(enforce_csrf_checks=True)
    open_portal(browser, portal_link(api, customer))
    browser.get("/portal/")  # sets the CSRF cookie

    refused = browser.post("/portal/payment-methods/checkout-setup")

    assert refused.status_code == 403 and not RzpOrder.objects.exists()
    accepted = browser.post(
        "/portal/payment-methods/checkout-setup", HTTP_X_CSRFTOKEN=browser.cookies["csrftoken"].value
    )
    assert accepted.status_code == 200 and RzpOrder.objects.count() == 1


@pytest.mark.parametrize(
    ("gateway", "credentials", "unavailable", "says"),
    [
        ("stripe", {"secret_key": "sk_test_no_publishable_key"}, "not_configured", "To add a card, contact"),
        (None, {}, "not_configured", "To add a card, contact"),
    ],
)
def test_without_a_card_form_the_page_says_why_and_loads_no_script(
    api, client, customer, gateway, credentials, unavailable, says
):
    if gateway:
        account(customer.merchant, gateway, credentials)
    signed_in(api, client, customer)

    response = client.get("/portal/")

    page = response.content.decode()
    assert response.context["card_form"] == CardForm("", unavailable=unavailable)
    assert 'id="add-card"' not in page and "<script" not in page
    assert says in re.search(r'<p class="note" id="card-form-note">(.*?)</p>', page, re.S).group(1)


# --- through the Stripe sandbox (served by the live server) -------------------------------------------


@pytest.fixture
def stripe_key(stripe_account: Any) -> str:  # noqa: F811
    """The publishable key of the merchant's Stripe account at the sandbox (what the page gets)."""
    key: str = stripe_account.credentials()["publishable_key"]
    return key


def stripe_js_payment_method(live_server: Any, publishable_key: str, number: str) -> str:
    """What Stripe.js's createPaymentMethod does: the card posted to Stripe with the publishable key."""
    answer = requests.post(
        f"{live_server.url}/sandbox/stripe/v1/payment_methods",
        data={
            "type": "card",
            "card[number]": number,
            "card[exp_month]": "12",
            "card[exp_year]": str(NEXT_YEAR),
            "card[cvc]": "123",
            "billing_details[name]": "Lea Martin",
        },
        headers={"Authorization": f"Bearer {publishable_key}"},
        timeout=10,
    )
    assert answer.status_code == 200, answer.text
    method_id: str = answer.json()["id"]
    assert method_id.startswith("pm_")
    return method_id


def come_back(client: Any, location: str) -> Any:
    parts = urlsplit(location)
    return client.get(parts.path, dict(parse_qs(parts.query)))


def messages_of(client: Any) -> str:
    page = client.get("/portal/").content.decode()
    found = re.search(r'<ul class="messages" id="messages">(.*?)</ul>', page, re.S)
    return found.group(1) if found else ""


def test_a_stripe_payment_method_id_is_saved_as_the_customers_card(api, client, customer, live_server, stripe_key):
    method_id = stripe_js_payment_method(live_server, stripe_key, "4242424242424242")
    signed_in(api, client, customer)

    response = client.post(
        "/portal/payment-methods", {"descriptor": "stripe.payment_method", "value": method_id, "make_default": "on"}
    )

    assert (response.status_code, response["Location"]) == (302, "/portal/")
    card = PaymentMethod.objects.get(customer=customer)
    assert (card.status, card.card_last4, card.is_default, card.payment_token) == ("active", "4242", True, method_id)
    assert "Card ending 4242 saved." in messages_of(client)
    event = AuditEvent.objects.get(action="payment_method.added")
    assert (event.actor_type, event.actor_id) == (ActorType.CUSTOMER, customer.public_id)


@pytest.mark.parametrize(("complete", "status", "says"), [(True, "active", "Card ending 3220 saved."),
                                                          (False, "failed", "was not saved")])  # fmt: skip
def test_a_card_asking_for_3d_secure_goes_to_the_bank_and_back_to_the_portal(
    api, client, customer, live_server, stripe_key, complete, status, says
):
    method_id = stripe_js_payment_method(live_server, stripe_key, THREE_D_SECURE)
    signed_in(api, client, customer)

    response = client.post("/portal/payment-methods", {"descriptor": "stripe.payment_method", "value": method_id})

    assert response.status_code == 302
    pending = PaymentMethod.objects.get(customer=customer)
    assert pending.status == "requires_action" and response["Location"] == pending.action_url
    assert pending.return_url == "http://testserver/portal/"
    back = come_back(client, authenticate(response["Location"], complete=complete))
    assert back["Location"] == f"http://testserver/portal/?payment_method={pending.public_id}&status={status}"
    home = come_back(client, back["Location"])
    assert (home.status_code, home["Location"]) == (302, "/portal/")
    pending.refresh_from_db()
    assert pending.status == status
    assert says in messages_of(client)


def test_a_token_of_another_gateway_is_refused_and_nothing_saved(api, client, customer, stripe_key):
    signed_in(api, client, customer)

    response = client.post(
        "/portal/payment-methods", {"descriptor": "COMMON.ACCEPT.INAPP.PAYMENT", "value": "eyJjb2RlIjoiNTBf"}
    )

    assert (response.status_code, response["Location"]) == (302, "/portal/")
    assert "stripe.payment_method" in messages_of(client)
    assert not PaymentMethod.objects.filter(customer=customer).exists()


def test_another_customers_card_is_not_reported_on_return(api, client, customer, merchant):
    other = CustomerFactory(merchant=merchant)
    card = SubscriptionFactory(merchant=merchant, customer=other).payment_method
    signed_in(api, client, customer)

    response = client.get("/portal/", {"payment_method": card.public_id, "status": "active"})

    assert (response.status_code, response["Location"]) == (302, "/portal/")
    assert messages_of(client) == ""
