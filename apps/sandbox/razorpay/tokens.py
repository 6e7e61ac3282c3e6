"""Saved cards ("tokens") of the Razorpay sandbox: saving a card for a customer at Checkout, and
finding a customer's token. Shared by the Checkout stand-in (`services`) and the REST API (`vault`).

A token keeps the network, the last four digits, the expiry and a keyed fingerprint of the number
(so a customer's card is saved once): never the number itself, never the CVV.
"""

from __future__ import annotations

from apps.sandbox.fingerprints import keyed_fingerprint
from apps.sandbox.models import RzpAccount, RzpCustomer, RzpToken

from .cards import CardCheck
from .errors import RzpError, not_found
from .ids import new_id


def card_fingerprint(number: str) -> str:
    return keyed_fingerprint("razorpay-token", number)


def four_digit_year(year: int) -> int:
    return year if year > 99 else 2000 + year


def customer_for_checkout(
    account: RzpAccount, *, order_customer: RzpCustomer | None, customer_id: str
) -> RzpCustomer | None:
    """The customer a Checkout payment is for: the order's, or `customer_id` (which must agree)."""
    if not customer_id:
        return order_customer
    if order_customer is not None:
        if order_customer.rzp_id != customer_id:
            raise RzpError("The customer_id does not match the order's customer.", field="customer_id")
        return order_customer
    customer = RzpCustomer.objects.filter(account=account, rzp_id=customer_id).first()
    if customer is None:
        raise RzpError("The id provided does not exist", field="customer_id")
    return customer


def token_save(
    *,
    customer: RzpCustomer,
    card: CardCheck,
    fingerprint: str,
    exp_month: int,
    exp_year: int,
    name: str,
    recurring: bool,
) -> RzpToken:
    """The customer's token for this card: the live one already saved for it (Razorpay saves a card
    once per customer), else a new one. Asking for recurring makes the token recurring."""
    token = (
        RzpToken.objects.select_for_update()
        .filter(customer=customer, card_fingerprint=fingerprint, deleted=False)
        .order_by("pk")
        .first()
    )
    if token is None:
        return RzpToken.objects.create(
            account=customer.account,
            customer=customer,
            rzp_id=new_id("token_"),
            token=new_id(""),
            card_name=name[:100],
            card_network=card.network,
            card_last4=card.last4,
            card_type="credit",
            expiry_month=exp_month,
            expiry_year=four_digit_year(exp_year),
            international=card.international,
            card_fingerprint=fingerprint,
            recurring=recurring,
        )
    if recurring and not token.recurring:
        token.recurring = True
        token.save(update_fields=["recurring"])
    return token


def customer_token(customer: RzpCustomer, token_id: str, *, field: str | None = None) -> RzpToken:
    """A live (not deleted) token of this customer, else the not-found error."""
    token = RzpToken.objects.filter(customer=customer, rzp_id=token_id, deleted=False).first()
    if token is None:
        error = not_found()
        error.field = field
        raise error
    return token
