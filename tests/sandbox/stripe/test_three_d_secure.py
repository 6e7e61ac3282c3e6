"""3-D Secure in the Stripe sandbox: the challenge page over HTTP, the test functions, SetupIntents,
off-session charges of saved cards, and what the publishable key may do."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import stripe
from django.conf import settings

from apps.sandbox.models import StripeCharge
from apps.sandbox.stripe.challenge import ChallengeNotPending
from apps.sandbox.stripe.services import stripe_3ds_complete, stripe_3ds_fail

pytestmark = pytest.mark.django_db(transaction=True)

CARDS_ONLY = {"payment_method_types": ["card"]}
RETURN_URL = "https://shop.example/return?order=7"


def sdk(key):
    return stripe.StripeClient(key, base_addresses={"api": settings.STRIPE_TEST_API_BASE}, max_network_retries=0)


@pytest.fixture
def client(stripe_sandbox):
    return sdk(stripe_sandbox.secret_key)


def challenged(client, payment_method="pm_card_threeDSecure2Required", **extra):
    params = {"amount": 4200, "currency": "usd", "payment_method": payment_method, "confirm": True, **CARDS_ONLY}
    return client.v1.payment_intents.create(params={**params, **extra})


def press(url, button):
    return requests.post(url, data={"action": button}, allow_redirects=False, timeout=10)


@pytest.mark.parametrize(
    "card", ["pm_card_threeDSecure2Required", "pm_card_authenticationRequired", "pm_card_authenticationRequiredOnSetup"]
)
def test_a_card_that_wants_3ds_needs_action_with_a_redirect_to_the_challenge_page(client, card):
    intent = challenged(client, card, return_url=RETURN_URL)

    assert intent.status == "requires_action" and intent.latest_charge is None
    action = intent.next_action
    assert action.type == "redirect_to_url"
    assert action.redirect_to_url.return_url == RETURN_URL
    assert action.redirect_to_url.url == f"{settings.STRIPE_TEST_API_BASE}/3ds/{intent.id}/"
    page = requests.get(action.redirect_to_url.url, timeout=10)
    assert page.status_code == 200 and "<script" not in page.text
    assert "42.00 USD" in page.text
    assert "Complete authentication" in page.text and "Fail authentication" in page.text


def test_completing_the_challenge_charges_the_card_and_returns_to_the_shop(client):
    intent = challenged(client, return_url=RETURN_URL)

    response = press(intent.next_action.redirect_to_url.url, "complete")

    assert response.status_code == 302
    location = urlsplit(response.headers["Location"])
    assert (location.netloc, location.path) == ("shop.example", "/return")
    assert parse_qs(location.query) == {
        "order": ["7"],
        "payment_intent": [intent.id],
        "payment_intent_client_secret": [intent.client_secret],
        "redirect_status": ["succeeded"],
    }
    done = client.v1.payment_intents.retrieve(intent.id, params={"expand": ["latest_charge"]})
    assert (done.status, done.next_action, done.amount_received) == ("succeeded", None, 4200)
    assert done.latest_charge.payment_method_details.card.three_d_secure.result == "authenticated"
    assert requests.get(intent.next_action.redirect_to_url.url, timeout=10).status_code == 409  # not pending now


def test_failing_the_challenge_sends_the_intent_back_for_another_card(client):
    intent = challenged(client, return_url=RETURN_URL)

    response = press(intent.next_action.redirect_to_url.url, "fail")

    assert parse_qs(urlsplit(response.headers["Location"]).query)["redirect_status"] == ["failed"]
    failed = client.v1.payment_intents.retrieve(intent.id)
    assert (failed.status, failed.payment_method, failed.next_action) == ("requires_payment_method", None, None)
    assert failed.last_payment_error.type == "card_error"
    assert failed.last_payment_error.code == "payment_intent_authentication_failure"
    assert not StripeCharge.objects.exists()
    retried = client.v1.payment_intents.confirm(intent.id, params={"payment_method": "pm_card_visa"})
    assert retried.status == "succeeded"


def test_without_a_return_url_the_page_says_it_is_done(client):
    intent = challenged(client, capture_method="manual")
    assert intent.next_action.redirect_to_url.return_url is None

    response = press(intent.next_action.redirect_to_url.url, "complete")

    assert response.status_code == 200 and "you may close this window" in response.text
    assert client.v1.payment_intents.retrieve(intent.id).status == "requires_capture"


def test_the_test_functions_complete_and_fail_challenges_without_a_browser(client):
    completed, failed = challenged(client), challenged(client)

    resolution = stripe_3ds_complete(completed.id)
    stripe_3ds_fail(failed.id)

    assert (resolution.status, resolution.redirect_status, resolution.redirect_url) == ("succeeded", "succeeded", None)
    assert client.v1.payment_intents.retrieve(failed.id).status == "requires_payment_method"
    with pytest.raises(ChallengeNotPending):
        stripe_3ds_complete(completed.id)
    assert requests.get(f"{settings.STRIPE_TEST_API_BASE}/3ds/pi_unknown/", timeout=10).status_code == 404


def test_off_session_a_card_that_always_wants_3ds_is_refused_with_authentication_required(client):
    customer = client.v1.customers.create()

    with pytest.raises(stripe.CardError) as raised:
        challenged(client, "pm_card_authenticationRequired", customer=customer.id, off_session=True)

    error = raised.value
    assert (error.code, error.error.decline_code) == ("authentication_required", "authentication_required")
    intent = client.v1.payment_intents.retrieve(error.error.payment_intent.id)
    assert intent.status == "requires_payment_method"
    assert intent.last_payment_error.decline_code == "authentication_required"


def test_a_card_set_up_with_3ds_later_charges_off_session_without_it(client):
    customer = client.v1.customers.create(params={"email": "saved@example.com"})
    setup = client.v1.setup_intents.create(
        params={
            "customer": customer.id,
            "payment_method": "pm_card_authenticationRequiredOnSetup",
            "confirm": True,
            "return_url": RETURN_URL,
            **CARDS_ONLY,
        }
    )
    assert setup.status == "requires_action" and setup.object == "setup_intent"

    response = press(setup.next_action.redirect_to_url.url, "complete")
    query = parse_qs(urlsplit(response.headers["Location"]).query)
    done = client.v1.setup_intents.retrieve(setup.id)
    off_session = challenged(client, done.payment_method, customer=customer.id, off_session=True, return_url=None)

    assert query["setup_intent"] == [setup.id] and query["redirect_status"] == ["succeeded"]
    assert query["setup_intent_client_secret"] == [setup.client_secret]
    assert done.status == "succeeded" and done.usage == "off_session"
    saved = client.v1.customers.payment_methods.list(customer.id)
    methods = client.v1.payment_methods.list(params={"customer": customer.id, "type": "card"})
    assert [method.id for method in methods.data] == [done.payment_method]
    assert [method.id for method in saved.data] == [done.payment_method]
    assert client.v1.customers.payment_methods.retrieve(customer.id, done.payment_method).customer == customer.id
    assert off_session.status == "succeeded"
    on_session = challenged(client, done.payment_method, customer=customer.id)
    assert on_session.status == "requires_action"


def test_the_same_card_not_set_up_is_refused_off_session(client):
    customer = client.v1.customers.create()
    method = client.v1.payment_methods.create(
        params={"type": "card", "card": {"number": "4000002500003155", "exp_month": 4, "exp_year": 2044}}
    )
    client.v1.payment_methods.attach(method.id, params={"customer": customer.id})

    with pytest.raises(stripe.CardError) as raised:
        challenged(client, method.id, customer=customer.id, off_session=True)

    assert raised.value.code == "authentication_required"


def test_a_failed_setup_challenge_leaves_a_setup_error(client):
    customer = client.v1.customers.create()
    setup = client.v1.setup_intents.create(
        params={
            "customer": customer.id,
            "payment_method": "pm_card_threeDSecure2Required",
            "confirm": True,
            **CARDS_ONLY,
        }
    )

    stripe_3ds_fail(setup.id)

    failed = client.v1.setup_intents.retrieve(setup.id)
    assert (failed.status, failed.payment_method) == ("requires_payment_method", None)
    assert failed.last_setup_error.code == "setup_intent_authentication_failure"
    assert client.v1.payment_methods.list(params={"customer": customer.id}).data == []


def test_a_setup_intent_with_a_plain_card_succeeds_and_attaches_it(client):
    customer = client.v1.customers.create()
    setup = client.v1.setup_intents.create(
        params={"customer": customer.id, "payment_method": "pm_card_visa", "confirm": True, **CARDS_ONLY}
    )
    with pytest.raises(stripe.CardError) as raised:
        client.v1.setup_intents.create(
            params={"customer": customer.id, "payment_method": "pm_card_chargeDeclined", "confirm": True, **CARDS_ONLY}
        )

    assert setup.status == "succeeded"
    assert client.v1.payment_methods.retrieve(setup.payment_method).customer == customer.id
    assert raised.value.code == "card_declined"
    assert raised.value.error.setup_intent.last_setup_error.code == "card_declined"
    canceled = client.v1.setup_intents.cancel(raised.value.error.setup_intent.id)
    assert canceled.status == "canceled"


# --- the publishable key (what Stripe.js does) ----------------------------------------------------


def test_the_publishable_key_confirms_and_reads_an_intent_with_its_client_secret(client, stripe_sandbox):
    browser = sdk(stripe_sandbox.publishable_key)
    intent = client.v1.payment_intents.create(params={"amount": 900, "currency": "usd", **CARDS_ONLY})
    card = {"number": "4242424242424242", "exp_month": 8, "exp_year": 2040, "cvc": "123"}
    method = browser.v1.payment_methods.create(params={"type": "card", "card": card})

    confirmed = browser.v1.payment_intents.confirm(
        intent.id, params={"payment_method": method.id, "client_secret": intent.client_secret}
    )
    read = browser.v1.payment_intents.retrieve(intent.id, params={"client_secret": intent.client_secret})

    assert confirmed.status == "succeeded" and read.status == "succeeded"
    with pytest.raises(stripe.InvalidRequestError) as wrong:
        browser.v1.payment_intents.retrieve(intent.id, params={"client_secret": f"{intent.id}_secret_nope"})
    with pytest.raises(stripe.InvalidRequestError) as missing:
        browser.v1.payment_intents.retrieve(intent.id)
    with pytest.raises(stripe.AuthenticationError) as refused:
        browser.v1.payment_intents.create(params={"amount": 900, "currency": "usd"})
    assert wrong.value.param == "client_secret" and missing.value.param == "client_secret"
    assert "publishable API key" in str(refused.value)


def test_an_intent_created_asking_for_3ds_challenges_any_card_when_confirmed(client):
    ask = {"payment_method_options": {"card": {"request_three_d_secure": "any"}}}
    intent = client.v1.payment_intents.create(params={"amount": 4200, "currency": "usd", **CARDS_ONLY, **ask})
    assert intent.payment_method_options.card.request_three_d_secure == "any"

    confirmed = client.v1.payment_intents.confirm(
        intent.id, params={"payment_method": "pm_card_visa", "return_url": RETURN_URL}
    )

    assert confirmed.status == "requires_action"


def test_an_unknown_3ds_request_is_refused(client):
    ask = {"payment_method_options": {"card": {"request_three_d_secure": "always"}}}

    with pytest.raises(stripe.InvalidRequestError, match="request_three_d_secure"):
        client.v1.payment_intents.create(params={"amount": 4200, "currency": "usd", **CARDS_ONLY, **ask})
