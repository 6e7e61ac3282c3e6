"""The portal offers "Cancel at the end of the period" only on a subscription being billed: an
unpaid (or paused) one has no period end that would end it, and the service refuses it."""

from __future__ import annotations

import pytest

from apps.subscriptions.models import SubscriptionStatus
from tests.factories import CustomerFactory
from tests.sessions_api.factories import SubscriptionFactory

from .test_portal import open_portal, portal_link

pytestmark = pytest.mark.django_db(transaction=True)

BUTTON = "Cancel at the end of the period"


@pytest.fixture
def customer(merchant):
    return CustomerFactory(merchant=merchant)


def _card(page: str, subscription) -> str:
    start = page.index(f'id="subscription-{subscription.public_id}"')
    return page[start : page.index("</article>", start)]


def test_the_cancel_button_shows_only_on_subscriptions_being_billed(api, customer, client):
    billed = SubscriptionFactory(merchant=customer.merchant, customer=customer)
    card = billed.payment_method
    unpaid = SubscriptionFactory(
        merchant=customer.merchant, customer=customer, payment_method=card, status=SubscriptionStatus.UNPAID
    )
    paused = SubscriptionFactory(
        merchant=customer.merchant, customer=customer, payment_method=card, status=SubscriptionStatus.PAUSED
    )
    open_portal(client, portal_link(api, customer))

    page = client.get("/portal/").content.decode()

    assert BUTTON in _card(page, billed)
    assert BUTTON not in _card(page, unpaid) and "Pause" in _card(page, unpaid)
    assert BUTTON not in _card(page, paused)


@pytest.mark.parametrize("status", [SubscriptionStatus.UNPAID, SubscriptionStatus.PAUSED])
def test_a_cancel_posted_for_a_subscription_not_billed_is_refused_with_a_message(api, customer, client, status):
    subscription = SubscriptionFactory(merchant=customer.merchant, customer=customer, status=status)
    open_portal(client, portal_link(api, customer))

    response = client.post(f"/portal/subscriptions/{subscription.public_id}/cancel", follow=True)

    subscription.refresh_from_db()
    assert (subscription.status, subscription.cancel_at_period_end) == (status, False)
    page = response.content.decode()
    assert "is not being billed" in page and "will end at the end of the period" not in page


def test_a_subscription_set_to_end_offers_no_pause(api, customer, client):
    """Pausing one that ends at its period's end is refused (409 subscription_state_invalid), so
    the portal does not offer it; one still renewing does."""
    ending = SubscriptionFactory(merchant=customer.merchant, customer=customer, cancel_at_period_end=True)
    renewing = SubscriptionFactory(merchant=customer.merchant, customer=customer, payment_method=ending.payment_method)
    open_portal(client, portal_link(api, customer))

    page = client.get("/portal/").content.decode()

    assert 'class="pause' not in _card(page, ending) and "Ends on" in _card(page, ending)
    assert 'class="pause' in _card(page, renewing)
