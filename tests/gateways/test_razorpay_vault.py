"""Razorpay's saved cards through the adapter and the official SDK, against our sandbox: a card is
saved by paying a setup order in Checkout with `recurring: 1`, read back as a token, charged with
payments/create/recurring, found again by our reference after a lost answer, and deleted."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from apps.gateways.base import (
    Billing,
    Card,
    ChargeRequest,
    OpaqueToken,
    Outcome,
    SavedCard,
    TransactionState,
    VaultCustomerRequest,
)
from apps.gateways.errors import (
    GatewayDeclined,
    GatewayFeatureUnavailable,
    GatewayMisconfigured,
    GatewayNotFound,
    GatewayOutcomeUnknown,
)
from apps.gateways.razorpay import RazorpayConfig, RazorpayGateway
from apps.gateways.razorpay_vocabulary import CHECKOUT_TOKEN_DESCRIPTOR
from apps.sandbox.models import RzpOrder, RzpPayment, RzpToken, SandboxCall

pytestmark = pytest.mark.django_db(transaction=True)

VISA_OK = "4100280000001007"
MASTERCARD_OK = "5500670000001002"
DECLINING = "4100280000050004"  # a documented failure card: card_declined


@pytest.fixture
def gateway(rzp_sandbox: Any, settings: Any) -> RazorpayGateway:
    return RazorpayGateway(
        RazorpayConfig(key_id=rzp_sandbox.key_id, key_secret=rzp_sandbox.key_secret,
                       base_url=settings.RAZORPAY_TEST_API_BASE, timeout_seconds=2.0, auto_capture=True)
    )  # fmt: skip


@pytest.fixture
def customer_token(gateway: RazorpayGateway) -> str:
    return gateway.vault_customer_create(
        VaultCustomerRequest(reference=f"cus{uuid.uuid4().hex[:8]}", email="ravi@example.com", description="Ravi")
    )


def checkout_save(
    gateway: RazorpayGateway, customer_token: str, number: str = VISA_OK, contact: str = "+919000090000"
) -> OpaqueToken:
    """What the browser does: Checkout pays the setup order with saving on; its answer is the token."""
    from apps.sandbox.razorpay.services import rzp_checkout_pay

    order = gateway.vault_card_setup_order(
        customer_token=customer_token, currency="INR", reference=f"cardsetup-{uuid.uuid4().hex[:8]}"
    )
    result = rzp_checkout_pay(key_id=gateway.config.key_id, order_id=order.order_id, card_number=number, exp_month=12,
                              exp_year=2031, cvv="123", email="ravi@example.com", contact=contact,
                              customer_id=customer_token, recurring=True)  # fmt: skip
    assert result.ok, result.error
    return OpaqueToken(CHECKOUT_TOKEN_DESCRIPTOR, f"{result.order_id}|{result.payment_id}|{result.signature}")


def saved(gateway: RazorpayGateway, customer_token: str, number: str = VISA_OK) -> SavedCard:
    stored = gateway.vault_card_add(
        customer_token=customer_token, payment=checkout_save(gateway, customer_token, number), billing=Billing()
    )
    return SavedCard(stored.customer_token, stored.payment_token)


def test_two_of_our_customers_with_the_same_email_and_phone_never_share_a_razorpay_customer(gateway):
    from apps.sandbox.models import RzpCustomer

    def create(reference: str) -> str:
        return gateway.vault_customer_create(
            VaultCustomerRequest(reference=reference, email="twin@example.com", phone="+919000090001")
        )

    first = create("cus-twin-a")
    assert create("cus-twin-a") == first  # a repeated create (a lost answer) finds our own
    second = create("cus-twin-b")
    third = create("cus-twin-c")

    assert len({first, second, third}) == 3
    assert create("cus-twin-b") not in {first, third}  # repeated: another empty record, never a twin's
    assert RzpCustomer.objects.get(rzp_id=second).notes == {"reference": "cus-twin-b"}
    card = saved(gateway, second)  # Checkout gives the second its phone; its card is its own
    assert RzpCustomer.objects.get(rzp_id=second).contact == "+919000090000"
    assert card.customer_token == second and not RzpToken.objects.filter(customer__rzp_id=first).exists()


@pytest.mark.parametrize(
    ("message", "code"),
    [
        ("Recurring payments are not enabled for this merchant.", "feature_unavailable"),
        ("Your payment could not be completed as this card is not enabled for online payments.", "request_refused"),
        ("Access Denied", "gateway_misconfigured"),
        ("Currency is not supported", "request_refused"),
    ],
)
def test_only_a_feature_the_account_lacks_is_taken_for_one(message, code):
    from razorpay.errors import BadRequestError

    from apps.gateways.razorpay.gateway import _classify

    assert _classify(BadRequestError(message), mutating=True, url="").code == code


def test_the_setup_order_is_the_customers_and_only_authorised(gateway, customer_token):
    order = gateway.vault_card_setup_order(customer_token=customer_token, currency="INR", reference="cardsetup-one")

    stored = RzpOrder.objects.get(rzp_id=order.order_id)
    assert (order.amount, order.currency, order.receipt) == (100, "INR", "cardsetup-one")
    assert (stored.customer.rzp_id, stored.payment_capture) == (customer_token, "manual")


def test_an_account_without_recurring_payments_cannot_save_or_charge_cards(gateway, customer_token, rzp_sandbox):
    from apps.sandbox.razorpay.vault import rzp_account_recurring

    card = saved(gateway, customer_token)
    rzp_account_recurring(key_id=rzp_sandbox.key_id, enabled=False)

    with pytest.raises(GatewayFeatureUnavailable, match="Recurring payments are not enabled"):
        gateway.vault_card_setup_order(customer_token=customer_token, currency="INR", reference="cardsetup-off")
    with pytest.raises(GatewayFeatureUnavailable):  # the account's refusal, not the card's: no decline
        gateway.sale(ChargeRequest(reference="chg-off-0001", amount=49_900, currency="INR", payment=card))
    assert not RzpPayment.objects.filter(notes__reference="chg-off-0001").exists()
    assert gateway.checkout_token_descriptor == CHECKOUT_TOKEN_DESCRIPTOR


def test_a_card_paid_in_checkout_is_saved_and_read_back(gateway, customer_token):
    token = checkout_save(gateway, customer_token)

    stored = gateway.vault_card_add(customer_token=customer_token, payment=token, billing=Billing())
    again = gateway.vault_card_add(customer_token=customer_token, payment=token, billing=Billing())  # a retry

    assert stored == again
    assert stored.payment_token.startswith("token_") and stored.customer_token == customer_token
    assert (stored.card_brand, stored.card_last4, stored.exp_month, stored.exp_year) == ("visa", "1007", 12, 2031)
    assert gateway.vault_card_get(customer_token, stored.payment_token) == stored
    # The setup's authorisation is never captured.
    _, payment_id, _ = token.value.split("|")
    assert RzpPayment.objects.get(rzp_id=payment_id).status == "authorized"


@pytest.mark.parametrize(
    ("make_token", "says"),
    [
        (lambda t: OpaqueToken("COMMON.ACCEPT.INAPP.PAYMENT", "nonce"), "Checkout"),
        (lambda t: Card("4111111111111111", 12, 2031, "123"), "Checkout"),
        (lambda t: OpaqueToken(CHECKOUT_TOKEN_DESCRIPTOR, "not-three-parts"), "order_id|payment_id|signature"),
        (lambda t: OpaqueToken(t.descriptor, t.value[:-4] + "0000"), "signature"),
    ],
)
def test_anything_but_a_verified_checkout_answer_is_refused(gateway, customer_token, make_token, says):
    token = checkout_save(gateway, customer_token)

    with pytest.raises(GatewayDeclined) as refused:
        gateway.vault_card_add(customer_token=customer_token, payment=make_token(token), billing=Billing())

    assert refused.value.result.decline_code == "invalid_payment_method" and says in refused.value.result.message


def test_another_customers_checkout_answer_saves_nothing(gateway, customer_token):
    token = checkout_save(gateway, customer_token)
    other = gateway.vault_customer_create(VaultCustomerRequest(reference="cus-other", email="o@example.com"))

    with pytest.raises(GatewayDeclined, match="not this customer"):
        gateway.vault_card_add(customer_token=other, payment=token, billing=Billing())


def test_a_card_paid_without_saving_is_refused(gateway, customer_token):
    from apps.sandbox.razorpay.services import rzp_checkout_pay

    order = gateway.vault_card_setup_order(customer_token=customer_token, currency="INR", reference="cardsetup-nosave")
    result = rzp_checkout_pay(key_id=gateway.config.key_id, order_id=order.order_id, card_number=VISA_OK,
                              exp_month=12, exp_year=2031, cvv="123")  # fmt: skip
    token = OpaqueToken(CHECKOUT_TOKEN_DESCRIPTOR, f"{result.order_id}|{result.payment_id}|{result.signature}")

    with pytest.raises(GatewayDeclined, match="without being saved"):
        gateway.vault_card_add(customer_token=customer_token, payment=token, billing=Billing())


def test_a_card_saved_without_a_recurring_mandate_is_refused(gateway, customer_token):
    """Saved for the customer's next checkouts only (save, not recurring): not chargeable without them."""
    from apps.sandbox.razorpay.services import rzp_checkout_pay

    order = gateway.vault_card_setup_order(customer_token=customer_token, currency="INR", reference="cardsetup-save")
    result = rzp_checkout_pay(key_id=gateway.config.key_id, order_id=order.order_id, card_number=VISA_OK,
                              exp_month=12, exp_year=2031, cvv="123", email="ravi@example.com",
                              contact="+919000090000", customer_id=customer_token, save=True)  # fmt: skip
    assert result.ok, result.error
    token = OpaqueToken(CHECKOUT_TOKEN_DESCRIPTOR, f"{result.order_id}|{result.payment_id}|{result.signature}")

    with pytest.raises(GatewayDeclined, match="recurring mandate"):
        gateway.vault_card_add(customer_token=customer_token, payment=token, billing=Billing())


def test_a_card_deleted_before_it_is_added_is_refused(gateway, customer_token):
    token = checkout_save(gateway, customer_token)
    _, payment_id, _ = token.value.split("|")
    gateway.vault_card_delete(customer_token, RzpPayment.objects.get(rzp_id=payment_id).token.rzp_id)

    with pytest.raises(GatewayDeclined, match="no longer at Razorpay") as refused:
        gateway.vault_card_add(customer_token=customer_token, payment=token, billing=Billing())

    assert refused.value.result.decline_code == "invalid_payment_method"


def test_a_charge_above_the_mandates_limit_is_refused_before_razorpay(gateway, customer_token):
    card = saved(gateway, customer_token)
    calls = SandboxCall.objects.count()

    with pytest.raises(GatewayDeclined, match=r"15,000\.00 INR") as refused:
        gateway.sale(ChargeRequest(reference="chg-over-limit", amount=1_500_001, currency="INR", payment=card))

    assert refused.value.result.decline_code == "invalid_payment_method"
    assert SandboxCall.objects.count() == calls and not RzpOrder.objects.filter(receipt="chg-over-limit").exists()
    at_limit = ChargeRequest(reference="chg-at-limit", amount=1_500_000, currency="INR", payment=card)
    assert gateway.sale(at_limit).outcome is Outcome.APPROVED


def test_a_saved_card_is_charged_and_found_again_by_our_reference(gateway, customer_token):
    card = saved(gateway, customer_token)
    request = ChargeRequest(reference="chg-ref-0001", amount=49_900, currency="INR", payment=card)

    result = gateway.sale(request)

    assert (result.outcome, result.card_last4, result.card_brand) == (Outcome.APPROVED, "1007", "visa")
    payment = RzpPayment.objects.get(rzp_id=result.transaction_id)
    assert (payment.status, payment.amount, payment.token.rzp_id, payment.recurring) == (
        "captured", 49_900, card.payment_token, True
    )  # fmt: skip
    found = gateway.find_transaction("chg-ref-0001")
    assert found is not None and (found.transaction_id, found.state) == (
        result.transaction_id,
        TransactionState.CAPTURED,
    )
    assert gateway.find_transaction("chg-nobody-000") is None


def test_checkout_fills_in_the_contact_razorpay_needs_to_charge_the_card(gateway, customer_token):
    from apps.sandbox.models import RzpCustomer

    card = saved(gateway, customer_token)

    assert RzpCustomer.objects.values_list("email", "contact").get(rzp_id=customer_token) == (
        "ravi@example.com", "+919000090000"
    )  # fmt: skip
    assert gateway.sale(ChargeRequest(reference="chg-contact-1", amount=100, currency="INR", payment=card)).outcome is (
        Outcome.APPROVED
    )


def test_without_a_phone_a_saved_card_cannot_be_charged(gateway, customer_token):
    token = checkout_save(gateway, customer_token, contact="")
    stored = gateway.vault_card_add(customer_token=customer_token, payment=token, billing=Billing())

    with pytest.raises(GatewayDeclined, match="email and a phone"):
        gateway.sale(ChargeRequest(reference="chg-nophone", amount=100, currency="INR",
                                   payment=SavedCard(customer_token, stored.payment_token)))  # fmt: skip
    assert not RzpOrder.objects.filter(receipt="chg-nophone").exists()


def test_an_authorisation_on_a_saved_card_is_captured_later(gateway, customer_token):
    from apps.gateways.base import CaptureRequest

    card = saved(gateway, customer_token)
    held = gateway.authorize(
        ChargeRequest(reference="auth-ref-1", amount=10_000, currency="INR", payment=card, capture=False)
    )

    assert gateway.fetch_transaction(held.transaction_id).state is TransactionState.AUTHORIZED
    captured = gateway.capture(CaptureRequest("cap-ref-1", held.transaction_id, 10_000, "INR"))
    assert captured.outcome is Outcome.APPROVED


def test_a_declining_saved_card_names_the_failed_payment(gateway, customer_token):
    from apps.sandbox.razorpay.vault import rzp_token_decline

    card = saved(gateway, customer_token)
    rzp_token_decline(token_id=card.payment_token, reason="insufficient_funds")

    with pytest.raises(GatewayDeclined) as declined:
        gateway.sale(ChargeRequest(reference="chg-decline-1", amount=5_000, currency="INR", payment=card))

    result = declined.value.result
    assert result.transaction_id.startswith("pay_") and result.decline_code == "insufficient_funds"
    assert RzpPayment.objects.get(rzp_id=result.transaction_id).status == "failed"
    found = gateway.find_transaction("chg-decline-1")
    assert found is not None and (found.state, found.decline_code) == (TransactionState.DECLINED, "insufficient_funds")


def test_a_lost_answer_is_unknown_and_then_found(gateway, customer_token, sandbox_fault):
    card = saved(gateway, customer_token)
    sandbox_fault("hang_after", 5000, match="payments.create_recurring", gateway="razorpay")

    with pytest.raises(GatewayOutcomeUnknown):
        gateway.sale(ChargeRequest(reference="chg-lost-0001", amount=7_500, currency="INR", payment=card))

    found = gateway.find_transaction("chg-lost-0001")
    assert found is not None and found.state is TransactionState.CAPTURED and found.settled_amount == 7_500
    assert SandboxCall.objects.filter(gateway="razorpay", operation="payments.create_recurring").count() == 1


def test_a_charge_the_bank_answers_later_is_unknown_not_declined(gateway, customer_token):
    from apps.sandbox.razorpay.vault import rzp_payment_complete, rzp_token_defer

    card = saved(gateway, customer_token)
    rzp_token_defer(token_id=card.payment_token)

    with pytest.raises(GatewayOutcomeUnknown, match="created"):
        gateway.sale(ChargeRequest(reference="chg-later-0001", amount=5_000, currency="INR", payment=card))

    pending = gateway.find_transaction("chg-later-0001")
    assert pending is not None and pending.state is TransactionState.UNDER_REVIEW
    rzp_payment_complete(payment_id=pending.transaction_id)
    done = gateway.find_transaction("chg-later-0001")
    assert done is not None and (done.transaction_id, done.state) == (pending.transaction_id, TransactionState.CAPTURED)
    assert RzpPayment.objects.filter(order__receipt="chg-later-0001").count() == 1


def test_a_late_refusal_is_found_as_a_decline(gateway, customer_token):
    from apps.sandbox.razorpay.vault import rzp_payment_complete, rzp_token_defer

    card = saved(gateway, customer_token)
    rzp_token_defer(token_id=card.payment_token)
    with pytest.raises(GatewayOutcomeUnknown):
        gateway.sale(ChargeRequest(reference="chg-later-0002", amount=5_000, currency="INR", payment=card))

    pending = gateway.find_transaction("chg-later-0002")
    assert pending is not None
    rzp_payment_complete(payment_id=pending.transaction_id, reason="insufficient_funds")
    found = gateway.find_transaction("chg-later-0002")
    assert found is not None and (found.state, found.decline_code) == (TransactionState.DECLINED, "insufficient_funds")


def test_a_failed_read_after_the_charge_is_unknown_not_declined(gateway, customer_token, sandbox_fault):
    card = saved(gateway, customer_token)
    sandbox_fault("http_error", 503, match="payments.fetch", gateway="razorpay", remaining=10)

    with pytest.raises(GatewayOutcomeUnknown, match="reading it failed"):
        gateway.sale(ChargeRequest(reference="chg-unread-01", amount=5_000, currency="INR", payment=card))

    from apps.sandbox.models import SandboxFault

    SandboxFault.objects.all().delete()
    found = gateway.find_transaction("chg-unread-01")
    assert found is not None and found.state is TransactionState.CAPTURED


def test_a_deleted_card_is_gone_and_cannot_be_charged(gateway, customer_token):
    card = saved(gateway, customer_token)

    gateway.vault_card_delete(customer_token, card.payment_token)
    gateway.vault_card_delete(customer_token, card.payment_token)  # a repeat is not an error

    with pytest.raises(GatewayNotFound):
        gateway.vault_card_get(customer_token, card.payment_token)
    with pytest.raises(GatewayDeclined) as refused:
        gateway.sale(ChargeRequest(reference="chg-gone-0001", amount=5_000, currency="INR", payment=card))
    assert refused.value.result.decline_code == "invalid_payment_method"


def test_deleting_the_customer_deletes_its_cards(gateway, customer_token):
    first, second = saved(gateway, customer_token), saved(gateway, customer_token, MASTERCARD_OK)

    gateway.vault_customer_delete(customer_token)

    for card in (first, second):
        with pytest.raises(GatewayNotFound):
            gateway.vault_card_get(customer_token, card.payment_token)


def test_other_payments_are_still_made_in_checkout(gateway):
    with pytest.raises(GatewayMisconfigured, match="Checkout"):
        gateway.sale(ChargeRequest(reference="raw", amount=100, currency="INR", payment=Card(VISA_OK, 12, 2031, "123")))
    with pytest.raises(GatewayMisconfigured):
        gateway.vault_card_setup_result("seti_x")
