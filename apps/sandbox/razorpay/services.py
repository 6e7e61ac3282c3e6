"""Writes of the Razorpay sandbox that are not REST calls: what Checkout does in the browser, and
what the dashboard does (webhooks). `rzp_checkout_pay` is also what tests call to stand in for a
shopper's browser.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from apps.sandbox.models import RzpAccount, RzpOrder, RzpPayment, RzpWebhook

from .cards import check_card
from .engine import capture_locked
from .errors import GATEWAY_ERROR, RzpError
from .ids import new_id
from .notifications import EVENTS, rzp_notify
from .tokens import card_fingerprint, customer_for_checkout, token_save


@dataclass(frozen=True)
class CheckoutResult:
    """What Checkout hands to the page: the handler's three values, or the 'payment.failed' error."""

    ok: bool
    order_id: str
    payment_id: str | None = None
    signature: str | None = None
    error: dict[str, Any] = field(default_factory=dict)

    def handler_response(self) -> dict[str, str | None]:
        return {
            "razorpay_payment_id": self.payment_id,
            "razorpay_order_id": self.order_id,
            "razorpay_signature": self.signature,
        }


def payment_signature(*, key_secret: str, order_id: str, payment_id: str) -> str:
    """What `client.utility.verify_payment_signature` checks: HMAC-SHA256(secret, "order|payment")."""
    return hmac.new(key_secret.encode(), f"{order_id}|{payment_id}".encode(), hashlib.sha256).hexdigest()


def _card_problem(*, number_valid: bool, exp_month: int, exp_year: int, cvv: str, amex: bool) -> RzpError | None:
    if not number_valid:
        return RzpError(
            "Your payment has been declined as the card number is invalid.", field="card[number]", source="customer"
        )
    if not 1 <= exp_month <= 12:
        return RzpError("Card expiry month is invalid.", field="card[expiry_month]", source="customer")
    year = exp_year if exp_year > 99 else 2000 + exp_year
    today = timezone.now().date()
    if (year, exp_month) < (today.year, today.month):
        return RzpError(
            "Your payment could not be completed as this card has expired. Try paying with another card.",
            field="card[expiry_year]",
            source="customer",
            reason="card_expired",
        )
    if not cvv.isdigit() or len(cvv) != (4 if amex else 3):
        return RzpError("The CVV is invalid.", field="card[cvv]", source="customer", reason="incorrect_cvv")
    return None


def rzp_checkout_pay(
    *,
    key_id: str,
    order_id: str,
    card_number: str,
    exp_month: int,
    exp_year: int,
    cvv: str,
    email: str = "",
    contact: str = "",
    name: str = "",
    customer_id: str = "",
    save: bool = False,
    recurring: bool = False,
) -> CheckoutResult:
    """Pay an order with a card, as a shopper does in Checkout.

    Success cards authorize (and capture at once when the order's payment capture is automatic);
    the documented failure cards make a failed payment with their error; invalid or expired cards
    fail without a payment. The card number and CVV are never stored.

    With a customer (the order's, or `customer_id`, as Checkout's options carry it) the payment is
    theirs; with `save` or `recurring` as well, an authorized payment saves the card as the
    customer's token (once per card), recurring when `recurring` was asked.
    """
    try:
        with transaction.atomic():
            return _pay(
                key_id=key_id, order_id=order_id, card_number=card_number, exp_month=exp_month,
                exp_year=exp_year, cvv=cvv, email=email, contact=contact, name=name,
                customer_id=customer_id, save=save or recurring, recurring=recurring,
            )  # fmt: skip
    except RzpError as error:
        error.metadata.setdefault("order_id", order_id)
        return CheckoutResult(ok=False, order_id=order_id, error=error.as_dict())


def _pay(
    *,
    key_id: str,
    order_id: str,
    card_number: str,
    exp_month: int,
    exp_year: int,
    cvv: str,
    email: str,
    contact: str,
    name: str,
    customer_id: str,
    save: bool,
    recurring: bool,
) -> CheckoutResult:
    account = RzpAccount.objects.filter(key_id=key_id).first()
    if account is None:
        raise RzpError("The api key provided is invalid", field="key", source="business")
    order = (
        RzpOrder.objects.select_for_update(of=("self",))
        .select_related("customer")
        .filter(account=account, rzp_id=order_id)
        .first()
    )
    if order is None:
        raise RzpError("The id provided does not exist", field="order_id")
    if order.status == RzpOrder.Status.PAID:
        raise RzpError("Order has already been paid.", field="order_id", reason="order_already_paid")
    customer = customer_for_checkout(account, order_customer=order.customer, customer_id=customer_id)
    card = check_card(card_number)
    problem = _card_problem(
        number_valid=card.number_valid,
        exp_month=exp_month,
        exp_year=exp_year,
        cvv=cvv,
        amex=card.network == "American Express",
    )
    if problem is not None:
        raise problem

    RzpOrder.objects.filter(pk=order.pk).update(attempts=F("attempts") + 1, status=RzpOrder.Status.ATTEMPTED)
    order.refresh_from_db()
    payment = RzpPayment.objects.create(
        account=account,
        order=order,
        rzp_id=new_id("pay_"),
        amount=order.amount,
        currency=order.currency,
        status=RzpPayment.Status.CREATED,
        international=card.international,
        card_id=new_id("card_"),
        card_network=card.network,
        card_last4=card.last4,
        card_type="credit",
        card_name=name[:100],
        email=email,
        contact=contact,
        notes=order.notes,
        customer=customer,
    )
    if card.failure is not None:
        failure = card.failure
        payment.status = RzpPayment.Status.FAILED
        payment.error_code = failure.code
        payment.error_description = failure.description
        payment.error_source = failure.source
        payment.error_step = failure.step
        payment.error_reason = failure.reason
        payment.save()
        rzp_notify(event="payment.failed", account=account, payment=payment)
        error = RzpError(
            failure.description,
            code=failure.code,
            source=failure.source,
            step=failure.step,
            reason=failure.reason,
            metadata={"order_id": order.rzp_id, "payment_id": payment.rzp_id},
            status=502 if failure.code == GATEWAY_ERROR else 400,
        )
        # The failed payment stays: return (do not raise) so the transaction commits.
        return CheckoutResult(ok=False, order_id=order.rzp_id, payment_id=payment.rzp_id, error=error.as_dict())

    payment.status = RzpPayment.Status.AUTHORIZED
    payment.auth_code = f"{secrets.randbelow(10**6):06d}"
    if customer is not None and save:
        payment.token = token_save(
            customer=customer, card=card, fingerprint=card_fingerprint(card_number), exp_month=exp_month,
            exp_year=exp_year, name=name, recurring=recurring,
        )  # fmt: skip
    payment.save(update_fields=["status", "auth_code", "token"])
    rzp_notify(event="payment.authorized", account=account, payment=payment)
    if order.payment_capture == RzpOrder.Capture.AUTOMATIC:
        capture_locked(payment)
    return CheckoutResult(
        ok=True,
        order_id=order.rzp_id,
        payment_id=payment.rzp_id,
        signature=payment_signature(key_secret=account.key_secret, order_id=order.rzp_id, payment_id=payment.rzp_id),
    )


def rzp_webhook_register(*, account: RzpAccount, url: str, secret: str, events: list[str] | None = None) -> RzpWebhook:
    """A webhook for the account (empty `events`: every event the sandbox sends)."""
    unknown = set(events or []) - EVENTS
    if unknown:
        raise ValueError(f"the sandbox does not send {', '.join(sorted(unknown))}")
    return RzpWebhook.objects.create(account=account, url=url, secret=secret, events=events or [])
