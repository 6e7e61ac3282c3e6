"""Razorpay's saved cards and the charges made on them, as a mixin of the adapter
(apps/gateways/razorpay/gateway.py), whose `_request` makes every SDK call.

Razorpay saves a card only when the customer pays with it in Checkout: no card data reaches us,
ever. So saving a card is two steps. `vault_card_setup_order` creates a small authorisation order
for the customer's Razorpay customer (SETUP_AMOUNT, captured never: Razorpay releases an
authorisation nobody captures at the end of the capture window); the browser pays it in Checkout
with `recurring: 1`, and hands back the checkout answer, which `vault_card_add` takes as an
OpaqueToken (CHECKOUT_TOKEN_DESCRIPTOR, "order_id|payment_id|signature"): the signature is
verified, the payment must be that customer's and authorised, and its token is the saved card.

A saved card is charged by an order of ours (receipt: our reference, how a lost answer is found
again) paid with `payments/create/recurring`, the token and the customer.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from apps.gateways.base import (
    Billing,
    Card,
    ChargeRequest,
    CheckoutPayment,
    GatewayResult,
    OpaqueToken,
    Order,
    Outcome,
    SavedCard,
    StoredCard,
    VaultCustomerRequest,
)
from apps.gateways.errors import (
    GatewayDeclined,
    GatewayError,
    GatewayMisconfigured,
    GatewayNotFound,
    GatewayOutcomeUnknown,
)
from apps.gateways.razorpay_vocabulary import CHECKOUT_TOKEN_DESCRIPTOR

if TYPE_CHECKING:
    import razorpay

SETUP_AMOUNT = 100  # minor units: Razorpay's smallest order (INR 1.00), authorised and released
SETUP_PURPOSE = "card_setup"  # the setup order's notes.purpose: webhooks about it are not payments
# RBI's limit for card mandates charged without the customer (INR 15,000), in paise.
INR_MANDATE_MAX_AMOUNT = 1_500_000
MAX_NAME_LENGTH = 50
MAX_RECEIPT_LENGTH = 40  # an order's receipt: where our reference goes, cut to fit

# Razorpay's error reasons -> our decline codes; anything else is a plain decline.
DECLINE_CODES = {
    "insufficient_funds": "insufficient_funds",
    "card_expired": "expired_card",
    "incorrect_cvv": "cvv_mismatch",
    "authentication_failed": "authentication_required",
}

Call = Callable[["razorpay.Client", dict[str, Any]], Any]


def text(value: Any) -> str:
    return "" if value is None else str(value)


def order_of(data: dict[str, Any]) -> Order:
    return Order(
        order_id=text(data.get("id")),
        amount=int(data.get("amount") or 0),
        currency=text(data.get("currency")).upper(),
        status=text(data.get("status")),
        receipt=text(data.get("receipt")),
    )


def _brand(network: Any) -> str:
    return text(network).lower().replace(" ", "_")[:20]


def stored_card(customer_token: str, token: dict[str, Any]) -> StoredCard:
    card = token.get("card") or {}

    def number(value: Any) -> int | None:
        try:
            return int(value)
        except (TypeError, ValueError):
            return None

    return StoredCard(
        customer_token=customer_token,
        payment_token=text(token.get("id")),
        card_brand=_brand(card.get("network")),
        card_last4=text(card.get("last4"))[-4:],
        exp_month=number(card.get("expiry_month")),
        exp_year=number(card.get("expiry_year")),
    )


def _ours(customer: dict[str, Any], reference: str) -> bool:
    """A Razorpay customer of this reference, or made outside Clearhouse (no reference: the
    merchant's own record of the same person, in its dashboard)."""
    return text((customer.get("notes") or {}).get("reference")) in {"", reference}


def _invalid(message: str) -> GatewayDeclined:
    return GatewayDeclined(GatewayResult(Outcome.DECLINED, "", message=message, decline_code="invalid_payment_method"))


def checkout_answer(token: Card | OpaqueToken) -> tuple[str, str, str]:
    """The order id, payment id and signature a Checkout answer carries; GatewayDeclined for card
    data or another gateway's token (an Accept.js nonce, a Stripe payment method)."""
    if not isinstance(token, OpaqueToken) or token.descriptor != CHECKOUT_TOKEN_DESCRIPTOR:
        raise _invalid(f"Razorpay saves cards paid in Checkout ({CHECKOUT_TOKEN_DESCRIPTOR} tokens)")
    parts = token.value.split("|")
    if len(parts) != 3 or not all(parts) or any(len(part) > 200 for part in parts):
        raise _invalid("The Checkout answer is not order_id|payment_id|signature")
    return parts[0], parts[1], parts[2]


def decline_of(payment: CheckoutPayment | None, message: str) -> GatewayDeclined:
    reason = payment.error_reason if payment is not None else ""
    return GatewayDeclined(
        GatewayResult(
            Outcome.DECLINED,
            payment.payment_id if payment is not None else "",
            message=((payment.error_description if payment else "") or message)[:255],
            reason_code=(payment.error_code if payment else "")[:20],
            decline_code=DECLINE_CODES.get(reason, "card_declined"),
            card_brand=payment.card_brand if payment else "",
            card_last4=payment.card_last4 if payment else "",
        )
    )


class RazorpayVaultMixin:
    checkout_token_descriptor = CHECKOUT_TOKEN_DESCRIPTOR
    _request: Callable[..., Any]
    fetch_payment: Callable[[str], CheckoutPayment]
    order_payments: Callable[[str], list[CheckoutPayment]]
    checkout_signature_valid: Callable[..., bool]

    # --- customers ----------------------------------------------------------------------------

    def vault_customer_create(self, request: VaultCustomerRequest) -> str:
        """`fail_existing: 0`: a customer Razorpay already has with these details is returned, so a
        repeated create (a lost answer) finds ours. When it is another of our customers (same email
        and phone), this one gets a record of its own, made without the phone (Razorpay matches on
        both), which Checkout fills in when the card is saved: two customers never share cards."""
        data = self._create_customer(request, contact=request.phone)
        if not _ours(data, request.reference) and request.phone:
            # Repeated after a lost answer, this makes another record, which holds no card.
            data = self._create_customer(request, contact="")
        if not _ours(data, request.reference):
            raise GatewayMisconfigured(
                f"Razorpay keeps another of our customers under {request.email or 'these details'}"
            )
        return text(data.get("id"))

    def _create_customer(self, request: VaultCustomerRequest, *, contact: str) -> dict[str, Any]:
        body: dict[str, Any] = {
            "name": (request.description or request.reference)[:MAX_NAME_LENGTH],
            "fail_existing": "0",
            "notes": {"reference": request.reference},
        }
        if request.email:
            body["email"] = request.email
        if contact:
            body["contact"] = contact
        data: dict[str, Any] = self._request(
            "customers.create", lambda c, kw: c.customer.create(body, **kw), mutating=True
        )
        return data

    def _customer(self, customer_token: str) -> dict[str, Any]:
        data: dict[str, Any] = self._request(
            "customers.fetch", lambda c, kw: c.customer.fetch(customer_token, **kw), mutating=False
        )
        return data

    def _complete_customer(self, customer_token: str, setup_payment: dict[str, Any]) -> None:
        """Razorpay charges a saved card only for a customer with an email and a phone: what
        Checkout collected paying the setup order fills in what the customer lacked."""
        customer = self._customer(customer_token)
        missing = {
            key: text(setup_payment.get(key))
            for key in ("email", "contact")
            if not customer.get(key) and setup_payment.get(key)
        }
        if missing:
            self._request(
                "customers.edit",
                lambda c, kw: c.customer.edit(customer_token, missing, **kw),
                mutating=True,
            )

    def vault_customer_delete(self, customer_token: str) -> None:
        """Razorpay keeps its customers; what can be charged, their tokens, goes."""
        try:
            data = self._request("tokens.all", lambda c, kw: c.token.all(customer_token, **kw), mutating=False)
        except GatewayNotFound:
            return
        for token in data.get("items") or []:
            self.vault_card_delete(customer_token, text(token.get("id")))

    # --- cards --------------------------------------------------------------------------------

    def vault_card_setup_order(self, *, customer_token: str, currency: str, reference: str) -> Order:
        """The order the customer pays in Checkout (with `recurring: 1`) to save a card: only
        authorised (manual capture), never captured."""
        body: dict[str, Any] = {
            "amount": SETUP_AMOUNT,
            "currency": currency,
            "receipt": reference[:MAX_RECEIPT_LENGTH],
            "customer_id": customer_token,
            "method": "card",
            "token": {"frequency": "as_presented"},
            "notes": {"reference": reference, "purpose": SETUP_PURPOSE},
            "payment": {"capture": "manual"},
        }
        if currency == "INR":
            body["token"]["max_amount"] = INR_MANDATE_MAX_AMOUNT
        # An account without recurring payments is refused here: GatewayFeatureUnavailable.
        return order_of(self._request("orders.create", lambda c, kw: c.order.create(body, **kw), mutating=True))

    def vault_card_add(
        self,
        *,
        customer_token: str,
        payment: Card | OpaqueToken,
        billing: Billing,
        validate: bool = True,
        return_url: str = "",
        reference: str = "",
    ) -> StoredCard:
        """The card the customer saved paying a setup order in Checkout. Reading it twice gives
        the same token: safe to repeat."""
        order_id, payment_id, signature = checkout_answer(payment)
        if not self.checkout_signature_valid(order_id=order_id, payment_id=payment_id, signature=signature):
            raise _invalid("The Checkout answer's signature does not verify")
        try:
            data = self._request("payments.fetch", lambda c, kw: c.payment.fetch(payment_id, **kw), mutating=False)
        except GatewayNotFound as exc:
            raise _invalid("Razorpay has no such payment") from exc
        if text(data.get("order_id")) != order_id or text(data.get("customer_id")) != customer_token:
            raise _invalid("That Checkout payment is not this customer's card setup")
        if text(data.get("status")) not in {"authorized", "captured"}:
            raise decline_of(self.fetch_payment(payment_id), "The card was not authorised in Checkout")
        token_id = text(data.get("token_id"))
        if not token_id:
            raise _invalid("The card was paid without being saved (Checkout needs recurring: 1)")
        try:
            token = self._token(customer_token, token_id)
        except GatewayNotFound as exc:
            raise _invalid("The card saved in Checkout is no longer at Razorpay") from exc
        mandate = text((token.get("recurring_details") or {}).get("status") or "confirmed")
        if token.get("recurring") is not True or mandate != "confirmed":
            # A card saved only for the customer's next checkouts cannot be charged without them.
            raise _invalid(f"The card was saved without a confirmed recurring mandate ({mandate})")
        self._complete_customer(customer_token, data)
        return stored_card(customer_token, token)

    def vault_card_setup_result(self, setup_id: str) -> StoredCard:
        raise GatewayMisconfigured("Razorpay saves cards in Checkout: there is no setup to wait for")

    def _token(self, customer_token: str, payment_token: str) -> dict[str, Any]:
        data: dict[str, Any] = self._request(
            "tokens.fetch", lambda c, kw: c.token.fetch(customer_token, payment_token, **kw), mutating=False
        )
        return data

    def vault_card_get(self, customer_token: str, payment_token: str) -> StoredCard:
        return stored_card(customer_token, self._token(customer_token, payment_token))

    def vault_card_delete(self, customer_token: str, payment_token: str) -> None:
        try:
            self._request(
                "tokens.delete", lambda c, kw: c.token.delete(customer_token, payment_token, **kw), mutating=True
            )
        except GatewayNotFound:
            return

    # --- charges on a saved card --------------------------------------------------------------

    def _failed_payment(self, order_id: str) -> CheckoutPayment | None:
        try:
            payments = self.order_payments(order_id)
        except GatewayError:
            return None
        return next((p for p in payments if p.status == "failed"), None)

    def charge_saved_card(self, request: ChargeRequest, saved: SavedCard) -> GatewayResult:
        """An order with our reference as its receipt, paid with the token. A lost answer is found
        again by that receipt (find_transaction); a refusal names the failed payment."""
        if request.currency == "INR" and request.amount > INR_MANDATE_MAX_AMOUNT:
            # The mandate the card was saved under (vault_card_setup_order) caps each charge.
            raise _invalid("A card saved at Razorpay is charged at most 15,000.00 INR without the customer")
        try:
            customer = self._customer(saved.customer_token)
        except GatewayNotFound as exc:
            raise _invalid("The saved card's customer is no longer at Razorpay") from exc
        email = request.billing.email or text(customer.get("email"))
        contact = text(customer.get("contact"))
        if not email or not contact:
            raise _invalid("Razorpay charges a saved card only for a customer with an email and a phone")
        order_body: dict[str, Any] = {
            "amount": request.amount,
            "currency": request.currency,
            "receipt": request.reference[:MAX_RECEIPT_LENGTH],
            "customer_id": saved.customer_token,
            "notes": {"reference": request.reference},
            "payment": {"capture": "automatic" if request.capture else "manual"},
        }
        order = self._request("orders.create", lambda c, kw: c.order.create(order_body, **kw), mutating=True)
        order_id = text(order.get("id"))
        body: dict[str, Any] = {
            "amount": request.amount,
            "currency": request.currency,
            "order_id": order_id,
            "customer_id": saved.customer_token,
            "token": saved.payment_token,
            "recurring": "1",
            "email": email,
            "contact": contact,
            "notes": {"reference": request.reference},
        }
        if request.description:
            body["description"] = request.description[:255]
        try:
            answer = self._request(
                "payments.create_recurring", lambda c, kw: c.payment.createRecurring(body, **kw), mutating=True
            )
        except GatewayNotFound as exc:
            raise _invalid("The saved card is no longer at Razorpay") from exc
        except GatewayError as exc:
            if exc.code != "request_refused":
                raise
            # A definite refusal: the failed payment, when we can read it, names the reason.
            raise decline_of(self._failed_payment(order_id), exc.message) from exc
        payment_id = text(answer.get("razorpay_payment_id"))
        # The charge exists from here on: nothing we fail to learn about it makes it a decline.
        try:
            info = self.fetch_payment(payment_id)
        except GatewayError as exc:
            raise GatewayOutcomeUnknown(f"Razorpay took payment {payment_id}; reading it failed: {exc}") from exc
        if info.status == "failed":
            raise decline_of(info, "The card was declined")
        wanted = {"captured"} if request.capture else {"authorized"}
        if info.status not in wanted:
            # `created` (the bank answers later) or `authorized` before its automatic capture:
            # the payment's webhooks or the resolver (find_transaction) settle it.
            raise GatewayOutcomeUnknown(f"Razorpay has payment {payment_id} as {info.status or 'unknown'}")
        return GatewayResult(
            Outcome.APPROVED,
            info.payment_id,
            response_code="1",
            message="Captured" if request.capture else "Authorized",
            card_brand=info.card_brand,
            card_last4=info.card_last4,
        )
