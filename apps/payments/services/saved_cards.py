"""Saving the card of a past payment as a customer's payment method (a card payment that
succeeded, at a gateway whose vault can save a transaction's card: Authorize.Net CIM)."""

from __future__ import annotations

from apps.audit.actors import Actor
from apps.customers.card_changes import payment_method_save_from_transaction
from apps.customers.models import Customer, PaymentMethod
from apps.payments.errors import PaymentCardNotSavable, PaymentHasNoCustomer
from apps.payments.models import Payment, PaymentStatus

# A card the gateway approved: captured, or only authorised, refunds or not.
SAVABLE_STATUSES = frozenset(
    {
        PaymentStatus.AUTHORIZED,
        PaymentStatus.CAPTURED,
        PaymentStatus.PARTIALLY_REFUNDED,
        PaymentStatus.REFUNDED,
    }
)


def payment_card_save(
    *, payment: Payment, customer: Customer | None = None, reference: str, actor: Actor
) -> PaymentMethod:
    """The payment's card, saved as a payment method of `customer` (default: the payment's own
    customer). The gateway is asked outside any transaction; the same payment again returns the
    card already saved."""
    customer = customer or payment.customer
    if customer is None:
        raise PaymentHasNoCustomer(param="customer")
    if payment.status not in SAVABLE_STATUSES or not payment.gateway_transaction_id:
        raise PaymentCardNotSavable(f"This payment is {payment.status}: only a succeeded card payment's card is saved.")
    if not payment.card_last4 or payment.card_brand == "echeck":
        raise PaymentCardNotSavable("This payment was not made with a card.")
    return payment_method_save_from_transaction(
        customer=customer,
        account=payment.gateway_account,
        transaction_id=payment.gateway_transaction_id,
        reference=reference,
        actor=actor,
    )
