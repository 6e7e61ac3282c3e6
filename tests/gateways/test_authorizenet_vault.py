"""The adapter's vault (CIM) and recurring (ARB) calls through the SDK against the sandbox."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from apps.gateways.base import Billing, Card, ChargeRequest, Outcome, SavedCard, VaultCustomerRequest
from apps.gateways.errors import GatewayDeclined, GatewayMisconfigured, GatewayNotFound
from apps.gateways.recurring_interface import RecurringRequest, RecurringUpdate
from apps.sandbox.authorizenet.arb import arb_run

pytestmark = pytest.mark.django_db(transaction=True)
VISA = Card("4111111111111111", 12, 2030, "123")


@pytest.fixture
def saved(anet_gateway):
    token = anet_gateway.vault_customer_create(VaultCustomerRequest("cus77", email="a@example.com"))
    return anet_gateway.vault_card_add(
        customer_token=token, payment=VISA, billing=Billing(name="Ada L", postal_code="10001")
    )


def test_customers_and_cards_are_saved_once_and_deleted_idempotently(anet_gateway, saved):
    again = anet_gateway.vault_customer_create(VaultCustomerRequest("cus77", email="a@example.com"))
    same_card = anet_gateway.vault_card_add(customer_token=saved.customer_token, payment=VISA, billing=Billing())

    assert again == saved.customer_token
    assert same_card == saved
    assert (saved.card_brand, saved.card_last4, saved.exp_month, saved.exp_year) == ("visa", "1111", 12, 2030)
    anet_gateway.vault_card_delete(saved.customer_token, saved.payment_token)
    anet_gateway.vault_card_delete(saved.customer_token, saved.payment_token)  # already gone: fine
    with pytest.raises(GatewayNotFound):
        anet_gateway.vault_card_get(saved.customer_token, saved.payment_token)
    anet_gateway.vault_customer_delete(saved.customer_token)
    anet_gateway.vault_customer_delete(saved.customer_token)


def test_a_card_refused_when_checked_raises_declined(anet_gateway):
    token = anet_gateway.vault_customer_create(VaultCustomerRequest("cus78"))

    with pytest.raises(GatewayDeclined) as declined:
        anet_gateway.vault_card_add(customer_token=token, payment=VISA, billing=Billing(postal_code="46282"))

    assert (declined.value.result.reason_code, declined.value.result.decline_code) == ("2", "card_declined")


def test_charging_a_saved_card_and_finding_it_again_by_reference(anet_gateway, saved):
    result = anet_gateway.sale(
        ChargeRequest("ref-saved-1", 1234, "USD", SavedCard(saved.customer_token, saved.payment_token))
    )

    found = anet_gateway.find_transaction("ref-saved-1")
    assert (result.outcome, result.card_last4) == (Outcome.APPROVED, "1111")
    assert found is not None and (found.transaction_id, found.authorized_amount) == (result.transaction_id, 1234)


def test_a_saved_card_that_is_gone_cannot_be_charged(anet_gateway, saved):
    anet_gateway.vault_card_delete(saved.customer_token, saved.payment_token)

    with pytest.raises(GatewayNotFound):
        anet_gateway.sale(ChargeRequest("ref-gone", 100, "USD", SavedCard(saved.customer_token, saved.payment_token)))


def test_recurring_create_is_safe_to_repeat_and_reports_its_charges(anet_gateway, saved):
    request = RecurringRequest(
        reference="sub9", name="Pro", amount=1500, currency="USD", interval_length=1, interval_unit="months",
        start_date=date(2026, 1, 10), customer_token=saved.customer_token, payment_token=saved.payment_token,
    )  # fmt: skip

    recurring_id = anet_gateway.recurring_create(request)
    assert anet_gateway.recurring_create(request) == recurring_id
    arb_run(as_of=datetime(2026, 2, 11, tzinfo=UTC))
    schedule = anet_gateway.recurring_get(recurring_id)
    details = anet_gateway.fetch_transaction(schedule.charges[-1].transaction_id)

    assert (schedule.status, schedule.amount, [c.pay_num for c in schedule.charges]) == ("active", 1500, [1, 2])
    assert (details.recurring_id, details.recurring_pay_num) == (recurring_id, 2)
    anet_gateway.recurring_cancel(recurring_id)
    anet_gateway.recurring_cancel(recurring_id)
    assert anet_gateway.recurring_status(recurring_id) == "canceled"
    with pytest.raises(GatewayNotFound):
        anet_gateway.recurring_status("123")


def test_recurring_update_changes_amount_name_and_card_and_refuses_an_ended_schedule(anet_gateway, saved):
    request = RecurringRequest(
        reference="sub10", name="Pro", amount=1500, currency="USD", interval_length=1, interval_unit="months",
        start_date=date(2026, 1, 10), customer_token=saved.customer_token, payment_token=saved.payment_token,
    )  # fmt: skip
    recurring_id = anet_gateway.recurring_create(request)
    other = anet_gateway.vault_card_add(
        customer_token=saved.customer_token, payment=Card("5424000000000015", 11, 2031, "456"), billing=Billing()
    )

    anet_gateway.recurring_update(recurring_id, RecurringUpdate("sub10u1", "USD", name="Gold", amount=2500))
    anet_gateway.recurring_update(
        recurring_id,
        RecurringUpdate("sub10u2", "USD", customer_token=other.customer_token, payment_token=other.payment_token),
    )

    schedule = anet_gateway.recurring_get(recurring_id)
    assert (schedule.name, schedule.amount) == ("Gold", 2500)
    arb_run(as_of=datetime(2026, 1, 11, tzinfo=UTC))
    details = anet_gateway.fetch_transaction(anet_gateway.recurring_get(recurring_id).charges[0].transaction_id)
    assert (details.authorized_amount, details.card_last4) == (2500, "0015")
    anet_gateway.recurring_cancel(recurring_id)
    with pytest.raises(GatewayMisconfigured):
        anet_gateway.recurring_update(recurring_id, RecurringUpdate("sub10u3", "USD", amount=100))
    with pytest.raises(GatewayNotFound):
        anet_gateway.recurring_update("123", RecurringUpdate("sub10u4", "USD", amount=100))


def test_a_card_or_customer_a_live_schedule_charges_is_not_deleted_until_it_ends(anet_gateway, saved):
    request = RecurringRequest(
        reference="sub11", name="Pro", amount=1500, currency="USD", interval_length=1, interval_unit="months",
        start_date=date(2026, 1, 10), customer_token=saved.customer_token, payment_token=saved.payment_token,
    )  # fmt: skip
    recurring_id = anet_gateway.recurring_create(request)

    with pytest.raises(GatewayMisconfigured) as card_refused:
        anet_gateway.vault_card_delete(saved.customer_token, saved.payment_token)
    with pytest.raises(GatewayMisconfigured) as customer_refused:
        anet_gateway.vault_customer_delete(saved.customer_token)

    assert (card_refused.value.reason_code, customer_refused.value.reason_code) == ("E00105", "E00106")
    assert anet_gateway.vault_card_get(saved.customer_token, saved.payment_token).card_last4 == "1111"
    anet_gateway.recurring_cancel(recurring_id)
    anet_gateway.vault_card_delete(saved.customer_token, saved.payment_token)
    anet_gateway.vault_customer_delete(saved.customer_token)
    with pytest.raises(GatewayNotFound):
        anet_gateway.vault_card_get(saved.customer_token, saved.payment_token)
