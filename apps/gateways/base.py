"""The one interface every gateway adapter implements, with small dataclasses in and out.

Adapters translate their SDK's results and exceptions into these types at their boundary;
nothing outside apps/gateways/<gateway>.py sees an SDK object.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Protocol, runtime_checkable


class Outcome(StrEnum):
    APPROVED = "approved"
    DECLINED = "declined"
    HELD = "held"  # accepted but held for review by the gateway's fraud filters
    # The card's issuer asks the customer to authenticate (3-D Secure) before it decides: the
    # result's `action_url` is where the customer must go; the outcome comes later.
    REQUIRES_ACTION = "requires_action"


@dataclass(frozen=True)
class Card:
    number: str = field(repr=False)
    exp_month: int
    exp_year: int
    cvc: str = field(default="", repr=False)

    @property
    def last4(self) -> str:
        return self.number[-4:]


@dataclass(frozen=True)
class OpaqueToken:
    """A payment token from the gateway's browser library (Accept.js opaqueData)."""

    descriptor: str
    value: str = field(repr=False)


@dataclass(frozen=True)
class SavedCard:
    """A card saved at the gateway (Authorize.Net CIM customer + payment profile), charged by
    its tokens. Holds no card data."""

    customer_token: str
    payment_token: str


@dataclass(frozen=True)
class BankAccount:
    """A US bank account debited through ACH (Authorize.Net eCheck.Net). The numbers go to the
    gateway and nowhere else: never stored or logged, only their last four digits."""

    routing_number: str = field(repr=False)
    account_number: str = field(repr=False)
    account_type: str  # checking | savings | business_checking
    holder_name: str
    echeck_type: str = "WEB"  # WEB, PPD, TEL; CCD for business checking

    @property
    def last4(self) -> str:
        return self.account_number[-4:]

    @property
    def routing_last4(self) -> str:
        return self.routing_number[-4:]


@dataclass(frozen=True)
class BankAccountOnFile:
    """What we keep of a debited bank account, enough to credit it back (a refund)."""

    last4: str
    routing_last4: str
    account_type: str
    holder_name: str = ""


@dataclass(frozen=True)
class Billing:
    name: str = ""
    email: str = ""
    line1: str = ""
    city: str = ""
    state: str = ""
    postal_code: str = ""
    country: str = ""


@dataclass(frozen=True)
class ChargeRequest:
    reference: str  # our idempotency reference; lets a lost response be found again
    amount: int  # minor units
    currency: str
    payment: Card | OpaqueToken | SavedCard | BankAccount
    capture: bool = True
    description: str = ""
    billing: Billing = field(default_factory=Billing)
    customer_ip: str = ""
    # Where the gateway sends the customer back after authenticating (3-D Secure), for gateways
    # that ask for it; blank when the customer is not there to authenticate.
    return_url: str = ""
    # The customer is not present (a renewal charging a saved card): the gateway must not ask
    # for authentication it cannot get; it refuses with decline code authentication_required.
    off_session: bool = False
    # Ask the issuer for 3-D Secure even where it would not (risk asked for it), on gateways that
    # can (`requests_three_d_secure`); the customer must be present (a `return_url`).
    request_three_d_secure: bool = False
    # An authorisation the issuer gave outside the gateway (by phone, a "voice authorisation"):
    # its approval code. The gateway captures the card against it without asking the issuer;
    # only gateways whose registry entry `captures_voice_authorizations` take it.
    authorization_code: str = ""


@dataclass(frozen=True)
class CaptureRequest:
    reference: str
    transaction_id: str
    amount: int
    currency: str


@dataclass(frozen=True)
class VoidRequest:
    reference: str
    transaction_id: str


@dataclass(frozen=True)
class RefundRequest:
    reference: str
    transaction_id: str  # the settled charge
    amount: int
    currency: str
    card_last4: str = ""
    # A bank account debit is refunded by a credit to the same account (named by its last fours).
    bank_account: BankAccountOnFile | None = None


@dataclass(frozen=True)
class GatewayResult:
    outcome: Outcome
    transaction_id: str
    response_code: str = ""
    reason_code: str = ""
    message: str = ""
    auth_code: str = ""
    avs_result: str = ""
    cvv_result: str = ""
    card_brand: str = ""
    card_last4: str = ""
    decline_code: str = ""  # our normalised reason for a decline (card_declined, expired_card ...)
    action_url: str = ""  # REQUIRES_ACTION: the page where the customer authenticates


class TransactionState(StrEnum):
    """A gateway transaction's own state, normalised across gateways."""

    AUTHORIZED = "authorized"  # funds held, not captured
    CAPTURED = "captured"  # captured, waiting for settlement
    SETTLED = "settled"
    VOIDED = "voided"
    DECLINED = "declined"
    REFUND_PENDING = "refund_pending"  # a refund transaction before settlement
    REFUND_SETTLED = "refund_settled"
    UNDER_REVIEW = "under_review"
    REQUIRES_ACTION = "requires_action"  # waiting for the customer to authenticate (3-D Secure)
    ERROR = "error"


@dataclass(frozen=True)
class TransactionDetails:
    transaction_id: str
    state: TransactionState
    transaction_type: str
    reference: str = ""  # our reference, as the gateway stored it
    authorized_amount: int = 0
    settled_amount: int = 0
    currency: str = ""
    response_code: str = ""
    reason_code: str = ""
    message: str = ""
    decline_code: str = ""  # a DECLINED state's reason, in our words (blank: a plain decline)
    action_url: str = ""  # REQUIRES_ACTION: the page where the customer authenticates
    card_brand: str = ""
    card_last4: str = ""
    original_transaction_id: str = ""
    submitted_at: datetime | None = None
    batch_id: str = ""
    # A charge the gateway's own recurring schedule made (Authorize.Net ARB): its subscription
    # and which payment of the schedule it was (1-based).
    recurring_id: str = ""
    recurring_pay_num: int = 0


@runtime_checkable
class Gateway(Protocol):
    name: str
    supports_void: bool
    # Whether a captured payment can still be voided until it settles (Authorize.Net); where not,
    # only authorisations are voided and captures are refunded.
    voids_captures: bool
    supports_partial_capture: bool
    # Whether a charge can ask for 3-D Secure on demand (ChargeRequest.request_three_d_secure).
    requests_three_d_secure: bool

    def authorize(self, request: ChargeRequest) -> GatewayResult: ...

    def sale(self, request: ChargeRequest) -> GatewayResult: ...

    def capture(self, request: CaptureRequest) -> GatewayResult: ...

    def void(self, request: VoidRequest) -> GatewayResult: ...

    def refund(self, request: RefundRequest) -> GatewayResult: ...

    def fetch_transaction(self, transaction_id: str) -> TransactionDetails: ...

    def find_transaction(
        self, reference: str, parent_transaction_id: str = "", *, made_at: datetime | None = None
    ) -> TransactionDetails | None:
        """Our call by its reference; `parent_transaction_id` is the charge a refund belongs to;
        `made_at`, when we made the call (where a gateway lists by time, the lookup starts there)."""
        ...


# --- saved cards (a vault at the gateway) ----------------------------------------------------


@dataclass(frozen=True)
class VaultCustomerRequest:
    reference: str  # our customer's id, at most 20 characters (Authorize.Net merchantCustomerId)
    email: str = ""
    description: str = ""
    phone: str = ""  # Razorpay charges a saved card only for a customer with an email and a phone


@dataclass(frozen=True)
class StoredCard:
    """A card as the gateway's vault describes it: tokens, brand, last four and expiry."""

    customer_token: str
    payment_token: str
    card_brand: str = ""
    card_last4: str = ""
    exp_month: int | None = None
    exp_year: int | None = None
    # A card whose setup asks for 3-D Secure (Stripe SetupIntent): not usable until the customer
    # authenticates at `action_url`; `setup_id` is how the gateway knows the setup.
    setup_id: str = ""
    action_url: str = ""


@runtime_checkable
class VaultGateway(Gateway, Protocol):
    """A gateway that keeps cards for us so that we can charge them later (Authorize.Net CIM).
    Every create is safe to repeat after a lost answer: a duplicate returns what already exists."""

    def vault_customer_create(self, request: VaultCustomerRequest) -> str:
        """The customer token (customerProfileId); the existing one if this reference has one."""
        ...

    def vault_customer_delete(self, customer_token: str) -> None:
        """Deleting a customer the gateway no longer has is not an error."""
        ...

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
        """Save a card on the customer. `validate` asks the gateway to check it with a zero-value
        authorisation (GatewayDeclined if refused). A card already saved on this customer
        returns the existing payment token. Where the card asks for 3-D Secure the result has
        an `action_url` (the customer comes back to `return_url`); `reference` is ours for the
        save, so a repeat after a lost answer is the same save."""
        ...

    def vault_card_setup_result(self, setup_id: str) -> StoredCard:
        """How a setup that asked for 3-D Secure ended (GatewayDeclined if it failed)."""
        ...

    def vault_card_get(self, customer_token: str, payment_token: str) -> StoredCard: ...

    def vault_card_delete(self, customer_token: str, payment_token: str) -> None: ...


@runtime_checkable
class CardUpdateGateway(VaultGateway, Protocol):
    """A vault that changes a saved card's expiry and billing address without the card number."""

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
        """Change what is given (an expiry: both parts; `billing` replaces the billing address),
        keep the rest. The gateway checks the changed card where it can (GatewayDeclined if
        refused: nothing changed). Safe to repeat; `reference` is ours for the change."""
        ...


@runtime_checkable
class TransactionCardGateway(VaultGateway, Protocol):
    """A vault that saves the card of one of its past transactions (Authorize.Net CIM)."""

    def vault_card_from_transaction(
        self,
        *,
        transaction_id: str,
        customer_token: str = "",
        customer: VaultCustomerRequest | None = None,
        reference: str = "",
    ) -> StoredCard:
        """Save the card that paid `transaction_id` on the customer `customer_token`, or on a new
        vault customer made from `customer` (the existing one if that customer is already there).
        The card already saved on that customer returns its payment token: safe to repeat."""
        ...


# --- browser checkouts (Razorpay orders) ----------------------------------------------------


@dataclass(frozen=True)
class OrderRequest:
    reference: str  # our idempotency reference, sent as the order's receipt
    amount: int
    currency: str
    notes: dict[str, str] = field(default_factory=dict)
    # Risk asked for 3-D Secure: a gateway that can ask the issuer to authenticate the customer
    # whatever the card does so when the browser pays (Stripe); others ignore it.
    request_three_d_secure: bool = False
    # False: the customer's payment is only authorised (risk holds it for review); we capture it
    # once a reviewer approves. True: captured as the gateway account is set to.
    capture: bool = True


@dataclass(frozen=True)
class Order:
    order_id: str
    amount: int
    currency: str
    status: str  # created | attempted | paid
    receipt: str = ""
    # What the browser library needs to pay this order (Stripe.js: the PaymentIntent's secret).
    client_secret: str = field(default="", repr=False)


@dataclass(frozen=True)
class CheckoutPayment:
    """A payment made in a checkout gateway's page, as its API reports it.

    Never card data beyond the network and the last four digits."""

    payment_id: str
    order_id: str
    status: str  # created | authorized | captured | refunded | failed
    amount: int
    currency: str
    amount_refunded: int = 0
    card_brand: str = ""
    card_last4: str = ""
    email: str = ""
    contact: str = ""
    error_code: str = ""
    error_reason: str = ""
    error_description: str = ""
    created_at: datetime | None = None


@runtime_checkable
class CheckoutGateway(Gateway, Protocol):
    """A gateway where the customer pays in the gateway's own page (Razorpay Checkout) against
    an order we create; we then verify the page's signature and ask the API what happened."""

    def create_order(self, request: OrderRequest) -> Order: ...

    def find_order(self, reference: str) -> Order | None: ...

    def get_order(self, order_id: str) -> Order: ...

    def order_payments(self, order_id: str) -> list[CheckoutPayment]: ...

    def fetch_payment(self, payment_id: str) -> CheckoutPayment: ...

    def checkout_signature_valid(self, *, order_id: str, payment_id: str, signature: str) -> bool: ...


@runtime_checkable
class CheckoutVaultGateway(VaultGateway, Protocol):
    """A vault that saves a card only when the customer pays with it in the gateway's own page
    (Razorpay Checkout): first a setup order for the customer, then `vault_card_add` with the
    page's answer as an OpaqueToken."""

    # The descriptor of the OpaqueToken the page's answer is posted as (what the browser sends).
    checkout_token_descriptor: str

    def vault_card_setup_order(self, *, customer_token: str, currency: str, reference: str) -> Order:
        """The order the customer pays (authorised only, never captured) to save a card.
        GatewayFeatureUnavailable when the account may not save cards (not enabled for it)."""
        ...


class NotificationKind(StrEnum):
    """What a gateway notification says happened, in our words. Adapters translate their event
    names into these; processing dispatches on them and never sees a gateway's vocabulary."""

    PAYMENT_AUTHORIZED = "payment.authorized"
    PAYMENT_CAPTURED = "payment.captured"  # also a charge a gateway-run schedule made
    PAYMENT_FAILED = "payment.failed"
    PAYMENT_VOIDED = "payment.voided"
    PAYMENT_UNDER_REVIEW = "payment.under_review"  # held, or released, by the gateway's fraud filters
    PAYMENT_ACTION_REQUIRED = "payment.action_required"  # the customer must authenticate (3-D Secure)
    CHECKOUT_PAID = "checkout.paid"  # a hosted checkout's order was paid
    REFUND_CREATED = "refund.created"
    REFUND_SUCCEEDED = "refund.succeeded"
    REFUND_FAILED = "refund.failed"
    CARD_SAVED = "card.saved"  # a card set up for later charges (or its setup failed)
    RECURRING_CHANGED = "recurring.changed"  # a gateway-run schedule was suspended, ended, changed ...
    DISPUTE_OPENED = "dispute.opened"
    DISPUTE_CLOSED = "dispute.closed"
    OTHER = "other"  # nothing we act on


@dataclass(frozen=True)
class Notification:
    """A verified gateway webhook, reduced to what we route on. The raw body is kept elsewhere."""

    event_id: str  # the gateway's id for the notification: the dedupe key
    event_type: str  # the gateway's own name for it, kept for people reading the inspector
    entity: str = ""  # what it is about: transaction, payment, refund, order ...
    object_id: str = ""  # the gateway's id of that object
    reference: str = ""  # our reference, when the gateway echoes it
    kind: NotificationKind = NotificationKind.OTHER
    order_id: str = ""  # a hosted checkout's order the payment belongs to
    charge_id: str = ""  # for a refund: the charge (payment) it returns
    recurring_id: str = ""  # for a gateway-run schedule's own event: the schedule
    # What the signed body is (event, entity id, its time), for gateways whose event id travels
    # outside the signature (a header): a body re-posted under a new id is still a copy.
    content_key: str = ""

    def __post_init__(self) -> None:
        # Signed or not, a NUL cannot be stored (PostgreSQL text) and no gateway sends one.
        if any("\x00" in value for value in vars(self).values() if isinstance(value, str)):
            raise MalformedNotification("a NUL character in the notification")


class InvalidSignature(Exception):
    """A webhook whose signature is missing or wrong. Nothing may be done with it."""


class MalformedNotification(Exception):
    """A correctly signed body we cannot read (no event id, not JSON)."""
