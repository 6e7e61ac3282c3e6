"""The Razorpay sandbox's customers, their saved cards (tokens) and recurring charges on them.

REST operations (same shape as `engine`): POST/GET/PUT /v1/customers, GET/DELETE
/v1/customers/{id}/tokens[/{token}], POST /v1/payments/create/recurring. Plus the sandbox-only
controls `rzp_token_decline`, which makes a saved card decline its recurring charges,
`rzp_token_defer`, which leaves them `created` (the bank answers later), and
`rzp_payment_complete`, that later answer, and `rzp_account_recurring`, which turns recurring
payments off for an account (Razorpay enables them per account).
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from typing import Any

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from apps.sandbox.models import RzpAccount, RzpCustomer, RzpOrder, RzpPayment, RzpToken

from . import params as check
from .engine import capture_locked
from .entities import collection, customer_entity, token_entity
from .errors import RzpError, not_found, recurring_not_enabled
from .ids import new_id
from .notifications import rzp_notify
from .services import payment_signature
from .tokens import customer_token

CUSTOMER_FIELDS = {"name": 50, "email": 64, "contact": 15}
GSTIN_LENGTH = 15
RECURRING_FIELDS = {
    "email", "contact", "amount", "currency", "order_id", "customer_id", "token", "recurring", "description", "notes",
}  # fmt: skip
DECLINE_DESCRIPTION = "Payment failed"


# --- customers ----------------------------------------------------------------------------------


def _customer(account: RzpAccount, customer_id: str, *, field: str | None = None) -> RzpCustomer:
    customer = RzpCustomer.objects.filter(account=account, rzp_id=customer_id).first()
    if customer is None:
        error = not_found()
        error.field = field
        raise error
    return customer


def _text(data: Mapping[str, Any], key: str) -> str:
    value = data.get(key)
    if value is None:
        return ""
    if not isinstance(value, str | int) or isinstance(value, bool):
        raise RzpError(f"The {key} must be a string.", field=key)
    text = str(value).strip()
    if len(text) > CUSTOMER_FIELDS[key]:
        raise RzpError(f"The {key} may not be greater than {CUSTOMER_FIELDS[key]} characters.", field=key)
    if key == "email" and text and "@" not in text:
        raise RzpError("The email must be a valid email address.", field="email")
    return text


def _fail_existing(value: Any) -> bool:
    if value in (None, 1, "1", True):
        return True
    if value in (0, "0", False):
        return False
    raise RzpError("The fail existing field must be 0 or 1.", field="fail_existing")


def customer_create(account: RzpAccount, data: Mapping[str, Any]) -> dict[str, Any]:
    check.only(data, {"name", "email", "contact", "fail_existing", "notes", "gstin"})
    name, email, contact = _text(data, "name"), _text(data, "email"), _text(data, "contact")
    fail_existing = _fail_existing(data.get("fail_existing"))
    notes = check.notes(data.get("notes"))
    gstin = data.get("gstin")
    if gstin is not None and (not isinstance(gstin, str) or len(gstin) != GSTIN_LENGTH):
        raise RzpError("The gstin is invalid.", field="gstin")
    with transaction.atomic():
        RzpAccount.objects.select_for_update().filter(pk=account.pk).first()  # one create at a time
        existing = (
            RzpCustomer.objects.filter(account=account, email=email, contact=contact).order_by("pk").first()
            if email and contact
            else None
        )
        if existing is not None:
            if fail_existing:
                raise RzpError("Customer already exists for the merchant")
            return customer_entity(existing)
        customer = RzpCustomer.objects.create(
            account=account, rzp_id=new_id("cust_"), name=name, email=email, contact=contact, gstin=gstin or None,
            notes=notes,
        )  # fmt: skip
    return customer_entity(customer)


def customer_fetch(account: RzpAccount, customer_id: str, params: Mapping[str, Any]) -> dict[str, Any]:
    return customer_entity(_customer(account, customer_id))


def customer_list(account: RzpAccount, params: Mapping[str, Any]) -> dict[str, Any]:
    check.only(params, {"count", "skip", "from", "to"})
    queryset = RzpCustomer.objects.filter(account=account)
    return collection(customer_entity(customer) for customer in check.paged(queryset, check.page(params)))


def customer_edit(account: RzpAccount, customer_id: str, data: Mapping[str, Any]) -> dict[str, Any]:
    check.only(data, set(CUSTOMER_FIELDS))
    customer = _customer(account, customer_id)
    for key in CUSTOMER_FIELDS:
        if key in data:
            setattr(customer, key, _text(data, key))
    customer.save(update_fields=list(CUSTOMER_FIELDS))
    return customer_entity(customer)


# --- tokens -------------------------------------------------------------------------------------


def token_list(account: RzpAccount, customer_id: str, params: Mapping[str, Any]) -> dict[str, Any]:
    customer = _customer(account, customer_id)
    tokens = customer.tokens.filter(deleted=False).order_by("-created_at", "-pk")
    return collection(token_entity(token) for token in tokens)


def token_fetch(account: RzpAccount, customer_id: str, token_id: str, params: Mapping[str, Any]) -> dict[str, Any]:
    return token_entity(customer_token(_customer(account, customer_id), token_id))


def token_delete(account: RzpAccount, customer_id: str, token_id: str, data: Mapping[str, Any]) -> dict[str, Any]:
    token = customer_token(_customer(account, customer_id), token_id)
    RzpToken.objects.filter(pk=token.pk).update(deleted=True)
    return {"deleted": True}


def rzp_token_decline(*, token_id: str, reason: str | None = "card_declined") -> RzpToken:
    """Sandbox control: recurring charges on this token fail with `reason` until cleared (None)."""
    token = RzpToken.objects.get(rzp_id=token_id)
    token.decline_reason = reason
    token.save(update_fields=["decline_reason"])
    return token


def rzp_account_recurring(*, key_id: str, enabled: bool) -> RzpAccount:
    """Sandbox control: turn recurring payments (card-saving orders, recurring charges) on or off
    for an account, as Razorpay's support does for a real one."""
    account = RzpAccount.objects.get(key_id=key_id)
    account.recurring_enabled = enabled
    account.save(update_fields=["recurring_enabled"])
    return account


def rzp_token_defer(*, token_id: str, deferred: bool = True) -> RzpToken:
    """Sandbox control: recurring charges on this token stay `created` until completed."""
    token = RzpToken.objects.get(rzp_id=token_id)
    token.defer_charges = deferred
    token.save(update_fields=["defer_charges"])
    return token


# --- recurring payments -------------------------------------------------------------------------


def _recurring_flag(value: Any) -> None:
    if value not in (1, "1", True, "true"):
        raise RzpError("The recurring field must be 1.", field="recurring")


def payment_create_recurring(account: RzpAccount, data: Mapping[str, Any]) -> dict[str, Any]:
    """Charge a customer's saved card for an order, without the customer (POST
    /v1/payments/create/recurring). Answers Checkout's three handler values; a declined charge
    leaves a failed payment and answers its error."""
    check.only(data, RECURRING_FIELDS)
    _recurring_flag(data.get("recurring"))
    if not account.recurring_enabled:
        raise recurring_not_enabled()
    for key in ("email", "contact"):
        if data.get(key) in (None, ""):
            raise RzpError(f"The {key} field is required.", field=key)
    notes = check.notes(data.get("notes"))
    description = data.get("description")
    if description is not None and (not isinstance(description, str) or len(description) > 255):
        raise RzpError("The description may not be greater than 255 characters.", field="description")
    with transaction.atomic():
        payment, error = _charge(account, data, notes=notes, description=description)
    if error is not None:  # raised after the commit: the failed payment stays
        raise error
    return {
        "razorpay_payment_id": payment.rzp_id,
        "razorpay_order_id": payment.order.rzp_id,
        "razorpay_signature": payment_signature(
            key_secret=account.key_secret, order_id=payment.order.rzp_id, payment_id=payment.rzp_id
        ),
    }


def _locked_order(account: RzpAccount, order_id: Any) -> RzpOrder:
    order = (
        RzpOrder.objects.select_for_update(of=("self",))
        .select_related("customer")
        .filter(account=account, rzp_id=str(order_id or ""))
        .first()
    )
    if order is None:
        raise RzpError("The id provided does not exist", field="order_id")
    if order.status == RzpOrder.Status.PAID:
        raise RzpError("Order has already been paid.", field="order_id", reason="order_already_paid")
    return order


def _charge(
    account: RzpAccount, data: Mapping[str, Any], *, notes: dict[str, Any], description: str | None
) -> tuple[RzpPayment, RzpError | None]:
    order = _locked_order(account, data.get("order_id"))
    currency = check.currency(data.get("currency"))
    amount = check.amount(data.get("amount"), currency, minimum=1)
    if amount != order.amount:
        raise RzpError(
            "Your payment amount is different from your order amount. "
            "To pay successfully, please try using right amount.",
            field="amount",
        )
    if currency != order.currency:
        raise RzpError("Currency should be same as order currency", field="currency")
    customer = _customer(account, str(data.get("customer_id") or ""), field="customer_id")
    if order.customer is not None and order.customer.pk != customer.pk:
        raise RzpError("The customer_id does not match the order's customer.", field="customer_id")
    token = customer_token(customer, str(data.get("token") or ""), field="token")

    RzpOrder.objects.filter(pk=order.pk).update(attempts=F("attempts") + 1, status=RzpOrder.Status.ATTEMPTED)
    order.refresh_from_db()
    payment = RzpPayment.objects.create(
        account=account, order=order, rzp_id=new_id("pay_"), amount=order.amount, currency=order.currency,
        status=RzpPayment.Status.CREATED, international=token.international, card_id=new_id("card_"),
        card_network=token.card_network, card_last4=token.card_last4, card_type=token.card_type,
        card_name=token.card_name, email=str(data["email"]), contact=str(data["contact"]),
        notes={**order.notes, **notes}, description=description, customer=customer, token=token, recurring=True,
    )  # fmt: skip
    if token.decline_reason:
        return payment, _fail(payment, token.decline_reason)
    if not token.defer_charges:
        _authorize(payment)
    return payment, None


def _fail(payment: RzpPayment, reason: str) -> RzpError:
    payment.status = RzpPayment.Status.FAILED
    payment.error_code = "BAD_REQUEST_ERROR"
    payment.error_description = DECLINE_DESCRIPTION
    payment.error_source = "bank"
    payment.error_step = "payment_authorization"
    payment.error_reason = reason
    payment.save()
    rzp_notify(event="payment.failed", account=payment.account, payment=payment)
    return RzpError(
        DECLINE_DESCRIPTION, source="bank", step="payment_authorization", reason=reason,
        metadata={"payment_id": payment.rzp_id, "order_id": payment.order.rzp_id},
    )  # fmt: skip


def _authorize(payment: RzpPayment) -> None:
    payment.status = RzpPayment.Status.AUTHORIZED
    payment.auth_code = f"{secrets.randbelow(10**6):06d}"
    payment.save(update_fields=["status", "auth_code"])
    if payment.token_id is not None:
        RzpToken.objects.filter(pk=payment.token_id).update(used_at=timezone.now())
    rzp_notify(event="payment.authorized", account=payment.account, payment=payment)
    if payment.order.payment_capture == RzpOrder.Capture.AUTOMATIC:
        capture_locked(payment)


def rzp_payment_complete(*, payment_id: str, reason: str | None = None) -> RzpPayment:
    """Sandbox control: the bank's late answer to a deferred recurring charge (`defer_charges`):
    authorized (and captured when its order captures automatically), or failed with `reason`."""
    with transaction.atomic():
        payment = (
            RzpPayment.objects.select_for_update(of=("self",))
            .select_related("order", "account")
            .get(rzp_id=payment_id, status=RzpPayment.Status.CREATED, recurring=True)
        )
        if reason:
            _fail(payment, reason)
        else:
            _authorize(payment)
    return payment
