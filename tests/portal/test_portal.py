"""The hosted customer portal: a one-time link minted with the secret key opens a browser session
(a customer session in a signed, HttpOnly, SameSite=Lax cookie) for one customer, whose pages show
only that customer's objects and whose forms (CSRF-checked) call the same services, audited with
the customer as actor."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from django.test import Client
from django.utils import timezone

from apps.audit.models import ActorType, AuditEvent
from apps.portal.browser import COOKIE
from apps.portal.models import PortalBranding, PortalLink
from apps.subscriptions.models import SubscriptionStatus
from tests.factories import CustomerFactory
from tests.sessions_api.factories import InvoiceFactory, SubscriptionFactory

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def customer(merchant):
    return CustomerFactory(merchant=merchant)


def portal_link(api, customer, return_url="https://shop.example/account"):
    response = api.post(
        "/api/v1/portal-sessions", {"customer": customer.public_id, "return_url": return_url}, format="json"
    )
    assert response.status_code == 201, response.json()
    return response.json()


def open_portal(client, link):
    return client.get(urlsplit(link["url"]).path)


@pytest.mark.sqlite
def test_a_link_opens_the_portal_once(api, customer, client):
    link = portal_link(api, customer)

    first = open_portal(client, link)
    again = open_portal(Client(), link)

    assert first.status_code == 302 and first["Location"] == "/portal/"
    cookie = first.cookies[COOKIE]
    assert cookie["httponly"] and cookie["samesite"] == "Lax" and cookie["path"] == "/portal/"
    assert client.get("/portal/").status_code == 200
    assert again.status_code == 410 and COOKIE not in again.cookies
    assert link["id"].startswith("pl_") and "code" not in link
    assert PortalLink.objects.get().used_at is not None


def test_an_expired_link_is_refused(api, customer, client):
    link = portal_link(api, customer)
    PortalLink.objects.update(
        expires_at=timezone.now() - timedelta(seconds=1), created_at=timezone.now() - timedelta(minutes=10)
    )

    response = open_portal(client, link)

    assert response.status_code == 410
    assert client.get("/portal/").status_code == 401
    assert PortalLink.objects.get().used_at is None


def test_without_a_session_the_portal_shows_nothing(client, customer):
    response = client.get("/portal/")
    forged = Client()
    forged.cookies[COOKIE] = "eyJhbGciOiJub25lIn0.e30."

    assert response.status_code == 401 and "Signed out" in response.content.decode()
    assert forged.get("/portal/").status_code == 401


@pytest.mark.sqlite
def test_the_portal_shows_the_customers_own_objects_branded_with_money_formatted(api, customer, client):
    PortalBranding.objects.create(merchant=customer.merchant, display_name="Acme Books", primary_color="#aa3300")
    own = InvoiceFactory(subscription=SubscriptionFactory(merchant=customer.merchant, customer=customer), amount=123456)
    other = InvoiceFactory(
        subscription=SubscriptionFactory(
            merchant=customer.merchant, customer=CustomerFactory(merchant=customer.merchant)
        )
    )
    open_portal(client, portal_link(api, customer))

    page = client.get("/portal/").content.decode()
    receipt = client.get(f"/portal/invoices/{own.public_id}")

    assert "Acme Books" in page and "--brand: #aa3300" in page
    assert own.public_id in page and "1,234.56 USD" in page and "123456" not in page
    assert other.public_id not in page and other.subscription.public_id not in page
    assert receipt.status_code == 200 and "1,234.56 USD" in receipt.content.decode()
    assert client.get(f"/portal/invoices/{other.public_id}").status_code == 404


def test_the_portal_of_one_customer_cannot_touch_anothers_objects(api, customer, client):
    other = CustomerFactory(merchant=customer.merchant)
    subscription = SubscriptionFactory(merchant=customer.merchant, customer=other)
    card = subscription.payment_method
    open_portal(client, portal_link(api, customer))

    answers = [
        client.post(f"/portal/subscriptions/{subscription.public_id}/cancel"),
        client.post(f"/portal/subscriptions/{subscription.public_id}/pause"),
        client.post(f"/portal/payment-methods/{card.public_id}/default"),
        client.post(f"/portal/payment-methods/{card.public_id}/remove"),
    ]

    assert [answer.status_code for answer in answers] == [404] * 4
    subscription.refresh_from_db()
    card.refresh_from_db()
    assert subscription.status == SubscriptionStatus.ACTIVE and not subscription.cancel_at_period_end
    assert (
        card.status == "active"
        and not AuditEvent.objects.filter(actor_type=ActorType.CUSTOMER, action__startswith="subscription").exists()
    )


def test_forms_need_the_csrf_token_and_writes_are_audited_as_the_customer(api, customer):
    subscription = SubscriptionFactory(merchant=customer.merchant, customer=customer)
    browser = Client(enforce_csrf_checks=True)
    open_portal(browser, portal_link(api, customer))
    browser.get("/portal/")  # sets the CSRF cookie
    path = f"/portal/subscriptions/{subscription.public_id}/cancel"

    refused = browser.post(path)
    subscription.refresh_from_db()
    assert refused.status_code == 403 and not subscription.cancel_at_period_end

    accepted = browser.post(path, {"csrfmiddlewaretoken": browser.cookies["csrftoken"].value})

    assert accepted.status_code == 302
    subscription.refresh_from_db()
    assert subscription.cancel_at_period_end and subscription.status == SubscriptionStatus.ACTIVE
    event = AuditEvent.objects.get(action="subscription.cancel_scheduled")
    assert (event.actor_type, event.actor_id) == (ActorType.CUSTOMER, customer.public_id)


@pytest.mark.sqlite
def test_pause_and_resume_from_the_portal(api, customer, client):
    subscription = SubscriptionFactory(merchant=customer.merchant, customer=customer)
    open_portal(client, portal_link(api, customer))

    client.post(f"/portal/subscriptions/{subscription.public_id}/pause")
    subscription.refresh_from_db()
    paused = subscription.status
    client.post(f"/portal/subscriptions/{subscription.public_id}/resume")
    subscription.refresh_from_db()

    assert (paused, subscription.status) == (SubscriptionStatus.PAUSED, SubscriptionStatus.ACTIVE)


@pytest.mark.sqlite
def test_signing_out_revokes_the_portal_session(api, customer, client):
    open_portal(client, portal_link(api, customer))
    kept = client.cookies[COOKIE].value

    response = client.post("/portal/sign-out")
    replayed = Client()
    replayed.cookies[COOKIE] = kept

    assert response.status_code == 302 and response["Location"] == "https://shop.example/account"
    assert replayed.get("/portal/").status_code == 401


def test_revoking_all_the_customers_sessions_ends_the_portal_too(api, customer, client):
    open_portal(client, portal_link(api, customer))

    api.post(f"/api/v1/customers/{customer.public_id}/sessions/revoke", format="json")

    assert client.get("/portal/").status_code == 401


def test_another_merchants_customer_gets_no_link(api, other_merchant):
    stranger = CustomerFactory(merchant=other_merchant)

    response = api.post("/api/v1/portal-sessions", {"customer": stranger.public_id}, format="json")

    assert response.status_code == 404 and not PortalLink.objects.exists()
