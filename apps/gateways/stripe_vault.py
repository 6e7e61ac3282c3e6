"""Stripe's saved cards and browser checkout, as mixins of the adapter (apps/gateways/stripe.py),
whose `_call`/`_write`/`_pages` make every SDK call: this module never imports the SDK.

Saved cards: a Stripe customer per customer of ours, cards as payment methods set up for
off-session use with a SetupIntent (3-D Secure when the card asks for it: the stored card then
carries the page where the customer authenticates, and `vault_card_setup_result` tells how it
ended). Checkout: a PaymentIntent the browser confirms with Stripe.js is the "order"; the intent is
also the "payment" we verify by retrieving it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from apps.gateways import stripe_vocabulary as words
from apps.gateways.base import (
    Billing,
    Card,
    CheckoutPayment,
    GatewayResult,
    OpaqueToken,
    Order,
    OrderRequest,
    Outcome,
    StoredCard,
    VaultCustomerRequest,
)
from apps.gateways.errors import GatewayDeclined, GatewayNotFound

Call = Callable[[Any], Any]
Write = Callable[[Any, dict[str, Any]], Any]


class StripeVaultMixin:
    _call: Callable[..., dict[str, Any]]
    _write: Callable[[str, str, Write], dict[str, Any]]
    _pages: Callable[[str, Call], Iterator[dict[str, Any]]]

    def vault_customer_create(self, request: VaultCustomerRequest) -> str:
        """Our reference as the Idempotency-Key and in metadata: a repeat returns the same customer."""
        params: dict[str, Any] = {"metadata": {"reference": request.reference}}
        if request.email:
            params["email"] = request.email
        if request.description:
            params["description"] = request.description
        customer = self._write(
            "customers.create",
            f"vault-customer-{request.reference}",
            lambda c, options: c.v1.customers.create(params=params, options=options),
        )
        return words.text(customer.get("id"))

    def vault_customer_delete(self, customer_token: str) -> None:
        try:
            self._call("customers.delete", lambda c: c.v1.customers.delete(customer_token), mutating=True)
        except GatewayNotFound:
            return

    def _payment_method_id(self, payment: Card | OpaqueToken, billing: Billing, reference: str) -> str:
        if isinstance(payment, OpaqueToken):
            return words.payment_method_of(payment)
        data = words.card_data(payment, billing)
        method = self._write(
            "payment_methods.create",
            f"vault-method-{reference}" if reference else "",
            lambda c, options: c.v1.payment_methods.create(params=data, options=options),
        )
        return words.text(method.get("id"))

    def _saved_with_same_card(self, customer_token: str, method_id: str) -> StoredCard | None:
        method = self._call(
            "payment_methods.retrieve", lambda c: c.v1.payment_methods.retrieve(method_id), mutating=False
        )
        fingerprint = (method.get("card") or {}).get("fingerprint")
        if not fingerprint:
            return None
        saved = self._pages(
            "payment_methods.list",
            lambda c: c.v1.payment_methods.list(params={"customer": customer_token, "type": "card", "limit": 100}),
        )
        for other in saved:
            if other.get("id") != method_id and (other.get("card") or {}).get("fingerprint") == fingerprint:
                return words.stored_card(other)
        return None

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
        """Set the card up for charges without the customer (SetupIntent, usage off_session).
        A card already saved on the customer (same fingerprint) returns that one. A card that
        asks for 3-D Secure comes back with `action_url` and `setup_id`: not saved until the
        customer authenticates. `reference` keys both writes (the card's PaymentMethod and the
        SetupIntent): a repeat with it gets the first run's answers, never a second setup."""
        method_id = self._payment_method_id(payment, billing, reference)
        existing = self._saved_with_same_card(customer_token, method_id)
        if existing is not None:
            return existing
        params: dict[str, Any] = {
            "customer": customer_token,
            "payment_method": method_id,
            "confirm": True,
            "usage": "off_session",
            "payment_method_types": ["card"],
            "expand": ["payment_method"],
        }
        if reference:
            params["metadata"] = {"reference": reference}
        if return_url:
            params["return_url"] = return_url
        setup = self._write(
            "setup_intents.create",
            f"vault-setup-{reference}" if reference else "",
            lambda c, options: c.v1.setup_intents.create(params=params, options=options),
        )
        return self._setup_outcome(setup, customer_token)

    def vault_card_setup_result(self, setup_id: str) -> StoredCard:
        """How a card's setup ended after the customer was sent to authenticate: the stored card
        (GatewayDeclined if authentication failed; `action_url` still set while waiting)."""
        setup = self._call(
            "setup_intents.retrieve",
            lambda c: c.v1.setup_intents.retrieve(setup_id, params={"expand": ["payment_method"]}),
            mutating=False,
        )
        return self._setup_outcome(setup, words.object_id(setup.get("customer")))

    @staticmethod
    def _setup_outcome(setup: dict[str, Any], customer_token: str) -> StoredCard:
        status = words.text(setup.get("status"))
        method = setup.get("payment_method") if isinstance(setup.get("payment_method"), dict) else {}
        card = words.stored_card(method) if method else StoredCard(customer_token, words.object_id(method))
        if status == "succeeded":
            return StoredCard(customer_token, card.payment_token, card.card_brand, card.card_last4,
                              card.exp_month, card.exp_year)  # fmt: skip
        if status == "requires_action":
            return StoredCard(
                customer_token, card.payment_token, card.card_brand, card.card_last4, card.exp_month, card.exp_year,
                setup_id=words.text(setup.get("id")), action_url=words.action_url(setup),
            )  # fmt: skip
        error = setup.get("last_setup_error") or {}
        raise GatewayDeclined(
            GatewayResult(
                Outcome.DECLINED,
                words.text(setup.get("id")),
                response_code="2",
                message=words.text(error.get("message") or f"Card setup {status}")[:255],
                decline_code=words.decline_code(error),
            )
        )

    def vault_card_get(self, customer_token: str, payment_token: str) -> StoredCard:
        method = self._call(
            "payment_methods.retrieve", lambda c: c.v1.payment_methods.retrieve(payment_token), mutating=False
        )
        if words.object_id(method.get("customer")) != customer_token:
            raise GatewayNotFound("This card is not saved on that customer.")
        return words.stored_card(method)

    def vault_card_update(
        self,
        *,
        customer_token: str,
        payment_token: str,
        exp_month: int | None = None,
        exp_year: int | None = None,
        billing: Billing | None = None,
        reference: str = "",
    ) -> StoredCard:
        """PaymentMethod update: card[exp_month]/card[exp_year] and billing_details (replaced)."""
        self.vault_card_get(customer_token, payment_token)  # only a card saved on this customer
        params: dict[str, Any] = {}
        if exp_month and exp_year:
            params["card"] = {"exp_month": exp_month, "exp_year": exp_year}
        if billing is not None:
            details = words.billing_details(billing)
            params["billing_details"] = details or {"address": {}}
        method = self._write(
            "payment_methods.update",
            f"vault-update-{reference}" if reference else "",
            lambda c, options: c.v1.payment_methods.update(payment_token, params=params, options=options),
        )
        return words.stored_card(method)

    def vault_card_delete(self, customer_token: str, payment_token: str) -> None:
        try:
            self._call("payment_methods.detach", lambda c: c.v1.payment_methods.detach(payment_token), mutating=True)
        except GatewayNotFound:
            return
        except GatewayDeclined:  # not attached (any more): nothing to delete
            return


def _checkout_status(intent: dict[str, Any]) -> str:
    status = words.text(intent.get("status"))
    if status == "succeeded":
        return "captured"
    if status == "requires_capture":
        return "authorized"
    if status == "canceled" or intent.get("last_payment_error"):
        return "failed"
    return "created"


def checkout_payment(intent: dict[str, Any]) -> CheckoutPayment:
    card = words.card_of(intent)
    error = intent.get("last_payment_error") or {}
    charge: dict[str, Any] = intent["latest_charge"] if isinstance(intent.get("latest_charge"), dict) else {}
    return CheckoutPayment(
        payment_id=words.text(intent.get("id")),
        order_id=words.text(intent.get("id")),
        status=_checkout_status(intent),
        amount=int(intent.get("amount") or 0),
        currency=words.text(intent.get("currency")).upper(),
        amount_refunded=int(charge.get("amount_refunded") or 0),
        card_brand=words.text(card.get("brand"))[:20],
        card_last4=words.text(card.get("last4"))[-4:],
        email=words.text(intent.get("receipt_email")),
        error_code=words.decline_code(error, "") if error else "",
        error_description=words.text(error.get("message")),
        created_at=words.timestamp(intent.get("created")),
    )


class StripeCheckoutMixin:
    """The intent the browser confirms with Stripe.js is the order, and the payment as well."""

    _call: Callable[..., dict[str, Any]]
    _write: Callable[[str, str, Write], dict[str, Any]]

    def create_order(self, request: OrderRequest) -> Order:
        params: dict[str, Any] = {
            "amount": request.amount,
            "currency": request.currency.lower(),
            "payment_method_types": ["card"],
            "metadata": {"reference": request.reference, **request.notes},
        }
        if not request.capture:
            params["capture_method"] = "manual"
        if request.request_three_d_secure:
            params["payment_method_options"] = {"card": {"request_three_d_secure": "any"}}
        intent = self._write(
            "payment_intents.create",
            request.reference,
            lambda c, options: c.v1.payment_intents.create(params=params, options=options),
        )
        return _order(intent)

    def find_order(self, reference: str) -> Order | None:
        if not reference.isalnum():
            return None
        result = self._call(
            "payment_intents.search",
            lambda c: c.v1.payment_intents.search(params={"query": f"metadata['reference']:'{reference}'"}),
            mutating=False,
        )
        intents = [i for i in result.get("data") or [] if words.reference_of(i) == reference]
        return _order(intents[0]) if intents else None

    def get_order(self, order_id: str) -> Order:
        return _order(
            self._call("payment_intents.retrieve", lambda c: c.v1.payment_intents.retrieve(order_id), mutating=False)
        )

    def _checkout_intent(self, intent_id: str) -> dict[str, Any]:
        return self._call(
            "payment_intents.retrieve",
            lambda c: c.v1.payment_intents.retrieve(intent_id, params={"expand": ["payment_method", "latest_charge"]}),
            mutating=False,
        )

    def order_payments(self, order_id: str) -> list[CheckoutPayment]:
        payment = checkout_payment(self._checkout_intent(order_id))
        return [] if payment.status == "created" else [payment]

    def fetch_payment(self, payment_id: str) -> CheckoutPayment:
        return checkout_payment(self._checkout_intent(payment_id))

    def checkout_signature_valid(self, *, order_id: str, payment_id: str, signature: str) -> bool:
        """Stripe.js signs nothing: the browser only names the intent, which we then retrieve
        (never trusting what the browser says of it). Valid when it names this order's intent."""
        return bool(order_id) and payment_id == order_id


def _order(intent: dict[str, Any]) -> Order:
    status = {"succeeded": "paid", "requires_capture": "paid"}.get(words.text(intent.get("status")), "created")
    return Order(
        order_id=words.text(intent.get("id")),
        amount=int(intent.get("amount") or 0),
        currency=words.text(intent.get("currency")).upper(),
        status=status,
        receipt=words.reference_of(intent),
        client_secret=words.text(intent.get("client_secret")),
    )
