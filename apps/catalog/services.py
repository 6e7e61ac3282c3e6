"""Catalogue writes and the browser checkout (Razorpay Checkout, Stripe.js).

The checkout flow:
1. `checkout_order_create`: the amount comes from the price (never from the browser); a pending
   payment, its checkout order and the gateway's order (Stripe: a PaymentIntent) are created (the
   gateway call outside any transaction, carrying our reference as the order's receipt).
2. The customer pays in the gateway's page or script, which hands the browser the result
   (Razorpay signs it; Stripe.js only names the intent, and 3-D Secure happens there).
3. `checkout_verify` / `checkout_confirm` (the browser), the payment/order webhooks and the
   periodic reconciler all
   end in `checkout_settle`: ask the gateway what became of the order, check order, amount and
   currency, record the payment forward-only, capture it if it is only authorized, and grant
   the entitlement under the checkout order's row lock, so exactly once whoever comes first.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from apps.audit.actors import Actor
from apps.audit.services import audit_record, audited_update
from apps.core.context import current_context
from apps.core.db import atomic_with_reconnect
from apps.core.metrics import CHECKOUT_SIGNATURE_FAILURES
from apps.customers.services import customer_find_or_create
from apps.events.services import event_publish
from apps.gateways.api_errors import GatewayMisconfiguredError, gateway_unavailable
from apps.gateways.base import CheckoutPayment
from apps.gateways.errors import GatewayError, GatewayMisconfigured, GatewayNotFound, GatewayRetryable
from apps.gateways.models import GatewayName
from apps.gateways.registry import checkout_gateway_for
from apps.gateways.selectors import gateway_account_for
from apps.merchants.models import Merchant
from apps.payments import services as payments
from apps.payments.attempts import one_run_per_reference
from apps.payments.errors import PaymentBusy, PaymentStateError
from apps.payments.models import Payment, PaymentStatus, Review

from .errors import CheckoutMismatch, CheckoutNotFound, CheckoutSignatureInvalid, QuantityInvalid
from .models import CheckoutOrder, Entitlement, Price, Product

logger = logging.getLogger(__name__)

MAX_QUANTITY = 100
# Most useful first: a captured payment settles the order; an authorized one can be captured.
_RANK = {"captured": 0, "refunded": 0, "authorized": 1, "failed": 2, "created": 3}


# --- catalogue ------------------------------------------------------------------------------


def product_create(*, merchant: Merchant, name: str, description: str = "", actor: Actor) -> Product:
    with transaction.atomic():
        product = Product.objects.create(merchant=merchant, name=name, description=description)
        audit_record(actor=actor, action="product.created", target=product, after={"name": name})
    return product


def price_create(*, product: Product, amount: int, currency: str, nickname: str = "", actor: Actor) -> Price:
    if amount <= 0:
        raise ValueError("A price must be a positive amount in minor units.")
    with transaction.atomic():
        price = Price.objects.create(
            merchant_id=product.merchant_id,
            product=product,
            amount=amount,
            currency=currency.upper(),
            nickname=nickname,
        )
        audit_record(
            actor=actor,
            action="price.created",
            target=price,
            merchant_id=product.merchant_id,
            after={"product": product.public_id, "amount": amount, "currency": price.currency},
        )
    return price


def product_update(*, product: Product, changes: dict[str, Any], actor: Actor) -> Product:
    """Name, description or whether it is on sale; audited."""
    with transaction.atomic():
        locked = Product.objects.select_for_update().get(pk=product.pk)
        audited_update(
            target=locked, changes=changes, allowed=("name", "description", "active"), action="product.updated",
            actor=actor,
        )  # fmt: skip
    return locked


def price_update(*, price: Price, changes: dict[str, Any], actor: Actor) -> Price:
    """A price that may have been charged keeps its amount and currency: only its nickname and
    whether it is on sale change (a removed price is deactivated, never deleted)."""
    with transaction.atomic():
        locked = Price.objects.select_for_update().get(pk=price.pk)
        audited_update(
            target=locked, changes=changes, allowed=("nickname", "active"), action="price.updated", actor=actor
        )
    return locked


# --- checkout -------------------------------------------------------------------------------


@dataclass(frozen=True)
class OpenedCheckout:
    checkout: CheckoutOrder
    # What the browser library needs to pay (Stripe.js: the intent's client secret; never stored).
    client_secret: str = ""


def checkout_order_create(
    *,
    merchant: Merchant,
    livemode: bool,
    price: Price,
    quantity: int,
    gateway: str = GatewayName.RAZORPAY,
    customer_name: str = "",
    customer_email: str = "",
    customer_contact: str = "",
    idempotency_reference: str = "",
    actor: Actor,
) -> OpenedCheckout:
    """A pending checkout for `quantity` of `price`, with the gateway's order to pay it. A retry
    with the same `idempotency_reference` answers with the checkout its first run opened."""
    if not 1 <= quantity <= MAX_QUANTITY:
        raise QuantityInvalid(f"Quantity must be between 1 and {MAX_QUANTITY}.", param="quantity")
    account = gateway_account_for(merchant=merchant, livemode=livemode, gateway=gateway)
    amount = price.amount * quantity
    opened, call_reference = payments.checkout_payment_recover(idempotency_reference=idempotency_reference)
    if opened is not None:
        checkout = CheckoutOrder.objects.select_related("payment__gateway_account", "price__product", "customer").get(
            payment=opened
        )
        return OpenedCheckout(checkout, checkout_client_secret(checkout))
    description, metadata = f"{quantity} x {price.product.name}", {"price": price.public_id, "quantity": quantity}
    context = current_context()
    risk, held = payments.checkout_assess(
        merchant=merchant, account=account, amount=amount, currency=price.currency, email=customer_email,
        customer_ip=(context.ip_address or "") if context else "", description=description, metadata=metadata,
        actor=actor, reference=idempotency_reference,
    )  # fmt: skip
    with one_run_per_reference(), transaction.atomic():
        customer = customer_find_or_create(
            merchant=merchant, email=customer_email, name=customer_name, phone=customer_contact, actor=actor
        )
        payment, gt = payments.checkout_payment_begin(
            merchant=merchant,
            account=account,
            amount=amount,
            currency=price.currency,
            customer=customer,
            description=description,
            metadata=metadata,
            call_reference=call_reference,
            risk=risk,
            held=held,
            actor=actor,
        )
        checkout = CheckoutOrder.objects.create(
            merchant=merchant,
            payment=payment,
            customer=customer,
            price=price,
            quantity=quantity,
            expires_at=timezone.now() + timedelta(seconds=settings.RAZORPAY_ORDER_EXPIRY_SECONDS),
        )
        audit_record(
            actor=actor,
            action="checkout.created",
            target=checkout,
            after={"price": price.public_id, "quantity": quantity, "amount": amount, "currency": price.currency},
        )
    checkout.payment, client_secret = payments.checkout_payment_open_order(
        payment=payment, gt=gt, notes={"checkout": checkout.public_id, "payment": payment.public_id}, actor=actor
    )
    return OpenedCheckout(checkout, client_secret)


def checkout_client_secret(checkout: CheckoutOrder) -> str:
    """What the browser needs to pay a Stripe checkout (the intent's client secret), read from the
    gateway: never stored, so a retried start whose first answer was lost, or a replay of its
    stored answer, asks again ("" for a Razorpay checkout, or one without an order)."""
    if checkout.payment.gateway_account.gateway != GatewayName.STRIPE or not checkout.payment.gateway_order_id:
        return ""
    try:
        return (
            checkout_gateway_for(checkout.payment.gateway_account)
            .get_order(checkout.payment.gateway_order_id)
            .client_secret
        )
    except GatewayError as exc:
        raise gateway_unavailable(exc, "retry shortly.") from exc


def _checkout_get(*, merchant: Merchant, order_id: str, gateway: str, param: str) -> CheckoutOrder:
    checkout = (
        CheckoutOrder.objects.select_related("payment__gateway_account", "price__product", "customer")
        .filter(merchant=merchant, payment__gateway_order_id=order_id, payment__gateway_account__gateway=gateway)
        .first()
    )
    if checkout is None:
        raise CheckoutNotFound(param=param)
    return checkout


def checkout_verify(
    *, merchant: Merchant, order_id: str, payment_id: str, signature: str, actor: Actor
) -> CheckoutOrder:
    """Razorpay Checkout's word that it paid: believed only after the signature checks out
    (constant time) and the gateway itself confirms the payment. A bad signature changes nothing."""
    checkout = _checkout_get(
        merchant=merchant, order_id=order_id, gateway=GatewayName.RAZORPAY, param="razorpay_order_id"
    )
    gateway = checkout_gateway_for(checkout.payment.gateway_account)
    if not gateway.checkout_signature_valid(order_id=order_id, payment_id=payment_id, signature=signature):
        CHECKOUT_SIGNATURE_FAILURES.labels(gateway=gateway.name).inc()
        logger.warning("checkout_signature_invalid", extra={"checkout": checkout.public_id})
        raise CheckoutSignatureInvalid(param="razorpay_signature")
    return _settle_for_browser(checkout, payment_id, "razorpay_payment_id", actor)


def checkout_confirm(*, merchant: Merchant, payment_intent: str, actor: Actor) -> CheckoutOrder:
    """Stripe.js says it confirmed this checkout's intent (after 3-D Secure if the card asked for
    it). The browser is not believed: the intent is retrieved and settled from what Stripe says."""
    checkout = _checkout_get(
        merchant=merchant, order_id=payment_intent, gateway=GatewayName.STRIPE, param="payment_intent"
    )
    return _settle_for_browser(checkout, payment_intent, "payment_intent", actor)


def _settle_for_browser(checkout: CheckoutOrder, payment_id: str, param: str, actor: Actor) -> CheckoutOrder:
    try:
        return checkout_settle(checkout=checkout, gateway_payment_id=payment_id, actor=actor)
    except GatewayNotFound as exc:
        raise CheckoutMismatch("The gateway has no such payment.", param=param) from exc
    except GatewayRetryable as exc:
        # The payment stays pending: the reconciler finishes it when the gateway answers again.
        raise gateway_unavailable(
            exc, "the payment will be confirmed shortly.", extra={"checkout": checkout.public_id}
        ) from exc
    except GatewayMisconfigured as exc:
        raise GatewayMisconfiguredError(extra={"checkout": checkout.public_id}) from exc


def _pick(found: list[CheckoutPayment]) -> CheckoutPayment | None:
    def key(item: CheckoutPayment) -> tuple[int, float]:
        return _RANK.get(item.status, 9), -(item.created_at.timestamp() if item.created_at else 0.0)

    return min(found, key=key, default=None)


def _check_matches(payment: Payment, found: CheckoutPayment) -> None:
    if found.order_id != payment.gateway_order_id:
        raise CheckoutMismatch("This payment belongs to another order.")
    if found.amount != payment.amount or found.currency != payment.currency:
        logger.error(
            "checkout_amount_mismatch",
            extra={"payment": payment.public_id, "expected": payment.amount, "got": found.amount},
        )
        raise CheckoutMismatch("The paid amount does not match the order.")


def checkout_settle(*, checkout: CheckoutOrder, gateway_payment_id: str = "", actor: Actor) -> CheckoutOrder:
    """Bring a checkout up to date with the gateway and complete it if it is paid. Idempotent,
    safe to run concurrently. Raises GatewayError when the gateway cannot be asked now."""
    payment = checkout.payment
    if checkout.completed_at is not None or not payment.gateway_order_id:
        return checkout
    gateway = checkout_gateway_for(payment.gateway_account)
    if gateway_payment_id:
        found = [gateway.fetch_payment(gateway_payment_id)]
    else:
        found = gateway.order_payments(payment.gateway_order_id)
    best = _pick(found)
    if best is not None:
        _check_matches(payment, best)
        if best.status == "failed":
            payments.checkout_payment_attempt_failed(payment_id=payment.pk, failed=best, actor=actor)
        elif best.status in {"authorized", "captured", "refunded"}:
            payment = payments.checkout_payment_record(payment_id=payment.pk, paid=best, actor=actor)
    if payment.status == PaymentStatus.AUTHORIZED and payment.operation and best and best.status == "captured":
        # Our capture reached the gateway but its request died or lost its answer: settle it now.
        payment = payments.payment_capture_confirmed(payment=payment, actor=actor)
    if payment.status == PaymentStatus.AUTHORIZED and not payment.review:
        # Held for review: the reviewer's approval captures it (payments.payment_review_approve).
        # PaymentStateError: captured by a concurrent settle; the completion below still runs.
        with contextlib.suppress(PaymentStateError):
            payments.payment_capture(payment=payment, actor=actor)
    return checkout_complete(checkout_id=checkout.pk, actor=actor)


def checkout_complete(*, checkout_id: int, actor: Actor) -> CheckoutOrder:
    """Grant the entitlement for a checkout whose payment is captured. Exactly once, and on a
    fresh database connection if the connection was lost."""
    return atomic_with_reconnect(lambda: _checkout_complete(checkout_id, actor), what="checkout_complete")


def _checkout_complete(checkout_id: int, actor: Actor) -> CheckoutOrder:
    checkout = (
        CheckoutOrder.objects.select_for_update(of=("self",))
        .select_related("payment", "price__product", "customer")
        .get(pk=checkout_id)
    )
    if checkout.completed_at is not None or checkout.payment.status != PaymentStatus.CAPTURED:
        return checkout
    checkout.completed_at = timezone.now()
    checkout.save(update_fields=["completed_at"])
    entitlement = Entitlement.objects.create(
        merchant_id=checkout.merchant_id,
        customer=checkout.customer,
        product=checkout.price.product,
        checkout_order=checkout,
        quantity=checkout.quantity,
    )
    audit_record(
        actor=actor,
        action="checkout.completed",
        target=checkout,
        after={"payment": checkout.payment.public_id, "entitlement": entitlement.public_id},
    )
    event_publish(
        merchant_id=checkout.merchant_id,
        livemode=checkout.payment.livemode,
        type="checkout.completed",
        object_type="checkout_order",
        object_id=checkout.public_id,
        data=checkout_representation(checkout),
    )
    return checkout


def checkout_complete_reviewed(*, payment: Payment, **_: Any) -> None:
    """A held checkout's payment was approved and captured (payments' review_decision_carried):
    grant its entitlement now rather than at the reconciler's next run."""
    if payment.status != PaymentStatus.CAPTURED:
        return
    checkout = CheckoutOrder.objects.filter(payment_id=payment.pk, completed_at__isnull=True).first()
    if checkout is not None:
        checkout_complete(checkout_id=checkout.pk, actor=Actor.system("review approval"))


def checkout_status(checkout: CheckoutOrder) -> str:
    if checkout.completed_at is not None:
        return "completed"
    status = checkout.payment.status
    if status in {PaymentStatus.FAILED, PaymentStatus.EXPIRED, PaymentStatus.VOIDED}:
        return str(status)  # voided: a reviewer rejected it
    if status == PaymentStatus.AUTHORIZED and checkout.payment.review == Review.PENDING:
        return "in_review"
    return "open"


def checkout_representation(checkout: CheckoutOrder) -> dict[str, Any]:
    payment = checkout.payment
    return {
        "id": checkout.public_id,
        "object": "checkout_order",
        "status": checkout_status(checkout),
        "price": checkout.price.public_id,
        "product": checkout.price.product.public_id,
        "quantity": checkout.quantity,
        "amount": payment.amount,
        "currency": payment.currency,
        "payment": payment.public_id,
        "payment_status": payment.status,
        "failure_code": payment.failure_code or None,
        "failure_message": payment.failure_message or None,
        "customer": checkout.customer.public_id,
        "entitled": checkout.completed_at is not None,
        "expires_at": checkout.expires_at,
        "completed_at": checkout.completed_at,
        "created_at": checkout.created_at,
    }


def checkout_reconcile(*, now: datetime | None = None, limit: int = 200) -> dict[str, int]:
    """The periodic reconciler: open checkouts not settled after RAZORPAY_RECONCILE_AFTER_SECONDS
    are looked up at the gateway (a verify call and its webhooks may both have been lost); those
    still unpaid past their expiry are expired. Safe to run twice, or concurrently."""
    now = now or timezone.now()
    actor = Actor.system("checkout reconciler")
    counts = {"checked": 0, "completed": 0, "expired": 0, "errors": 0}
    stale = now - timedelta(seconds=settings.RAZORPAY_RECONCILE_AFTER_SECONDS)
    open_checkouts = (
        CheckoutOrder.objects.select_related("payment__gateway_account", "price__product", "customer")
        .filter(
            completed_at__isnull=True,
            created_at__lt=stale,
            payment__status__in=[
                PaymentStatus.PENDING,
                PaymentStatus.UNKNOWN,
                PaymentStatus.AUTHORIZED,
                PaymentStatus.CAPTURED,
            ],
        )
        .exclude(payment__gateway_order_id="")
        # Paid and waiting for a reviewer: nothing to ask the gateway until a decision.
        .exclude(payment__status=PaymentStatus.AUTHORIZED, payment__review=Review.PENDING)
        .order_by("id")[:limit]
    )
    for checkout in open_checkouts:
        counts["checked"] += 1
        try:
            settled = checkout_settle(checkout=checkout, actor=actor)
        except (GatewayError, PaymentBusy, CheckoutMismatch) as exc:
            counts["errors"] += 1
            logger.warning("checkout_reconcile_failed", extra={"checkout": checkout.public_id, "error": str(exc)})
            continue
        if settled.completed_at is not None:
            counts["completed"] += 1
        elif checkout.expires_at <= now:
            expired = payments.checkout_payment_expire(payment_id=checkout.payment_id, actor=actor)
            counts["expired"] += expired.status == PaymentStatus.EXPIRED
    return counts
