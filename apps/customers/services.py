"""Customers and their saved cards.

Saving a card: (1) make sure the customer has a profile in the gateway's vault (a create that
is safe to repeat: the gateway answers a duplicate with the existing profile), (2) save the
card there, validated with a zero-value authorisation, (3) record the tokens, brand, last four
and expiry here. The network calls happen outside any transaction; the local writes are short
transactions that tolerate a concurrent twin (unique constraints, get-or-create under a lock).

Removing a card is decided here first (authoritative: no new charge can use it) and the copy at
the gateway is deleted afterwards by a retried task.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta
from typing import Any
from urllib.parse import urljoin

from django.db import IntegrityError, connection, transaction
from django.urls import reverse
from django.utils import timezone

from apps.audit.actors import Actor
from apps.audit.models import ActorType
from apps.audit.services import audit_record
from apps.core.db import atomic_with_reconnect, run_with_reconnect
from apps.core.ids import digest_token
from apps.core.queueing import enqueue, enqueue_on_commit
from apps.customers.models import Customer
from apps.events.services import event_publish
from apps.gateways.api_errors import (
    GatewayMisconfiguredError,
    PaymentDeclined,
    RawCardDataNotAllowed,
    gateway_unavailable,
)
from apps.gateways.base import Billing, Card, OpaqueToken, StoredCard, VaultCustomerRequest
from apps.gateways.errors import (
    GatewayDeclined,
    GatewayError,
    GatewayFeatureUnavailable,
    GatewayMisconfigured,
    GatewayNotFound,
)
from apps.gateways.models import GatewayAccount
from apps.gateways.registry import vault_gateway_for
from apps.gateways.selectors import card_expired, check_payment_method, vault_account_for
from apps.merchants.models import Merchant

from .errors import PaymentMethodInUse, PaymentMethodRemoved, VaultNotSupported
from .models import PaymentMethod, VaultProfile, new_payment_method_id

logger = logging.getLogger(__name__)

PURGE_TASK = "apps.customers.tasks.payment_method_purge"

CUSTOMER_FIELDS = ("email", "name", "phone", "metadata")


def _customer_snapshot(customer: Customer) -> dict[str, Any]:
    return {"email": customer.email, "name": customer.name, "phone": customer.phone}


def customer_representation(customer: Customer) -> dict[str, Any]:
    default = customer.payment_methods.filter(status=PaymentMethod.Status.ACTIVE, is_default=True).first()
    return {
        "id": customer.public_id,
        "object": "customer",
        "email": customer.email,
        "name": customer.name,
        "phone": customer.phone,
        "metadata": customer.metadata,
        "default_payment_method": default.public_id if default else None,
        "created_at": customer.created_at,
    }


def payment_method_representation(method: PaymentMethod) -> dict[str, Any]:
    return {
        "id": method.public_id,
        "object": "payment_method",
        "customer": method.customer.public_id,
        "card": {
            "brand": method.card_brand,
            "last4": method.card_last4,
            "exp_month": method.exp_month,
            "exp_year": method.exp_year,
        },
        "is_default": method.is_default,
        "status": method.status,
        "next_action": (
            {
                "type": "redirect_to_url",
                "redirect_to_url": {"url": method.action_url, "return_url": method.return_url or None},
            }
            if method.status == PaymentMethod.Status.REQUIRES_ACTION and method.action_url
            else None
        ),
        "created_at": method.created_at,
    }


def _next_action(method: PaymentMethod) -> dict[str, Any] | None:
    """While the card's setup waits for the customer: where to send them (as payments do)."""
    if method.status != PaymentMethod.Status.REQUIRES_ACTION or not method.action_url:
        return None
    redirect = {"url": method.action_url, "return_url": method.return_url or None}
    return {"type": "redirect_to_url", "redirect_to_url": redirect}


def customer_create(
    *,
    merchant: Merchant,
    email: str = "",
    name: str = "",
    phone: str = "",
    metadata: dict[str, Any] | None = None,
    actor: Actor,
) -> Customer:
    with transaction.atomic():
        customer = Customer.objects.create(
            merchant=merchant, email=email, name=name, phone=phone, metadata=metadata or {}
        )
        audit_record(actor=actor, action="customer.created", target=customer, after=_customer_snapshot(customer))
    return customer


# pg_advisory_xact_lock namespace for "a customer with this email is being created" ("CUST").
_CUSTOMER_EMAIL_LOCK = 0x43555354


def customer_find_or_create(
    *, merchant: Merchant, email: str = "", name: str = "", phone: str = "", actor: Actor
) -> Customer:
    """The merchant's customer with this email (the first, case-insensitively), or a new one,
    audited. Concurrent callers with one email find one customer: the lookup and the insert run
    under a transaction-scoped lock on (merchant, email) (SQLite's transactions already serialise)."""
    with transaction.atomic():
        if email:
            if connection.vendor == "postgresql":
                with connection.cursor() as cursor:
                    cursor.execute(
                        "SELECT pg_advisory_xact_lock(%s, hashtext(%s))",
                        [_CUSTOMER_EMAIL_LOCK, f"{merchant.pk}:{email.lower()}"],
                    )
            existing = Customer.objects.filter(merchant=merchant, email__iexact=email).order_by("id").first()
            if existing is not None:
                return existing
        customer = Customer.objects.create(merchant=merchant, email=email, name=name, phone=phone)
        audit_record(actor=actor, action="customer.created", target=customer, after=_customer_snapshot(customer))
    return customer


def customer_update(*, customer: Customer, changes: dict[str, Any], actor: Actor) -> Customer:
    with transaction.atomic():
        customer = Customer.objects.select_for_update().get(pk=customer.pk)
        before = _customer_snapshot(customer)
        for name in CUSTOMER_FIELDS:
            if name in changes:
                setattr(customer, name, changes[name])
        customer.save()
        audit_record(
            actor=actor, action="customer.updated", target=customer, before=before, after=_customer_snapshot(customer)
        )
    return customer


def vault_error(exc: GatewayError) -> Exception:
    if isinstance(exc, GatewayDeclined):
        result = exc.result
        return PaymentDeclined(
            result.message or "The card was declined when checked.", code=result.decline_code or "card_declined"
        )
    if isinstance(exc, GatewayFeatureUnavailable):
        return VaultNotSupported(f"{VaultNotSupported.default_message} ({exc.message})")
    if isinstance(exc, GatewayMisconfigured | GatewayNotFound):
        return GatewayMisconfiguredError(f"{GatewayMisconfiguredError.default_message} ({exc.message})")
    return gateway_unavailable(exc, "no card was saved. Retry later.")


def vault_reference(customer: Customer) -> str:
    """Our id for the customer at the gateway (Authorize.Net allows 20 characters)."""
    return f"cus{customer.pk}"


def vault_profile_for(customer: Customer, account: GatewayAccount) -> VaultProfile:
    """The customer's record at the account's vault, made there (outside any transaction) if new."""
    existing = VaultProfile.objects.filter(customer=customer, gateway_account=account).first()
    if existing is not None:
        return existing
    gateway = vault_gateway_for(account)
    token = gateway.vault_customer_create(
        VaultCustomerRequest(
            reference=vault_reference(customer),
            email=customer.email,
            description=customer.name[:255],
            phone=customer.phone,
        )
    )

    def record() -> VaultProfile:
        try:
            with transaction.atomic():
                return VaultProfile.objects.create(customer=customer, gateway_account=account, customer_token=token)
        except IntegrityError:  # a concurrent request saved it first (the gateway gave both the same id)
            return VaultProfile.objects.get(customer=customer, gateway_account=account)

    # On a fresh connection if ours was cut while the gateway made the profile (safe to repeat).
    return run_with_reconnect(record, what="vault_profile_record")


def payment_method_add(
    *,
    customer: Customer,
    livemode: bool,
    payment: Card | OpaqueToken,
    billing: Billing | None = None,
    make_default: bool = False,
    return_url: str = "",
    site_url: str = "",
    reference: str = "",
    actor: Actor,
) -> PaymentMethod:
    """Save a card for later charges. Declined when checked: PaymentDeclined, nothing saved.
    Saving the same card twice returns the card already saved.

    Where the card asks the customer to authenticate before it can be charged without them (3-D
    Secure at a Stripe SetupIntent), the card is kept `requires_action` with the page to send the
    customer to; they come back to us (`site_url`: our address as their browser reaches it) and
    go on to the merchant's `return_url`. Only then is it saved (payment_method_setup_settle).

    A customer acting for itself (a customer session, the portal) gives only a token from the
    gateway's browser library: card numbers never pass through a customer-facing path.

    `reference` (the API's idempotency reference) goes to the gateway with its writes, so a retry
    after a lost answer or a crash finds the first run's card instead of setting up another;
    without one, the new card's own id does."""
    if actor.type == ActorType.CUSTOMER and not isinstance(payment, OpaqueToken):
        raise RawCardDataNotAllowed(param="type")
    account = vault_account_for(merchant=customer.merchant, livemode=livemode)
    check_payment_method(account, payment)
    expired = card_expired(payment)
    if expired is not None:
        raise expired  # refused before the gateway, as a decline: nothing saved
    try:
        gateway = vault_gateway_for(account)
    except GatewayMisconfigured as exc:
        raise VaultNotSupported() from exc
    # The card's id is in the page the customer returns to, which the gateway keeps with the
    # setup: a retry must send the same one.
    public_id = f"pm_{digest_token('payment-method', reference, length=24)}" if reference else new_payment_method_id()
    try:
        profile = vault_profile_for(customer, account)
        stored: StoredCard = gateway.vault_card_add(
            customer_token=profile.customer_token,
            payment=payment,
            billing=billing or Billing(email=customer.email, name=customer.name),
            validate=True,
            return_url=urljoin(site_url, reverse("payment-method-authenticated", args=[public_id])) if site_url else "",
            reference=reference or public_id,
        )
    except GatewayError as exc:
        raise vault_error(exc) from exc
    if stored.action_url:
        return atomic_with_reconnect(
            lambda: _payment_method_pending(
                public_id=public_id, customer=customer, account=account, profile=profile, stored=stored,
                return_url=return_url, actor=actor,
            ),
            what="payment_method_add",
        )  # fmt: skip
    return atomic_with_reconnect(
        lambda: payment_method_record(
            customer=customer, account=account, profile=profile, stored=stored, make_default=make_default, actor=actor
        ),
        what="payment_method_add",
    )


def _payment_method_pending(
    *,
    public_id: str,
    customer: Customer,
    account: GatewayAccount,
    profile: VaultProfile,
    stored: StoredCard,
    return_url: str,
    actor: Actor,
) -> PaymentMethod:
    """A card set up at the gateway but waiting for the customer to authenticate: kept, unusable."""
    method, created = PaymentMethod.objects.get_or_create(
        gateway_account=account,
        setup_id=stored.setup_id,
        defaults={
            "public_id": public_id,
            "merchant": customer.merchant,
            "customer": customer,
            "profile": profile,
            "payment_token": stored.payment_token,
            "card_brand": stored.card_brand,
            "card_last4": stored.card_last4,
            "exp_month": stored.exp_month,
            "exp_year": stored.exp_year,
            "status": PaymentMethod.Status.REQUIRES_ACTION,
            "action_url": stored.action_url[:2000],
            "return_url": return_url,
        },
    )
    if created:
        audit_record(actor=actor, action="payment_method.requires_action", target=method, after={"card": str(method)})
    return method


def payment_method_record(
    *,
    customer: Customer,
    account: GatewayAccount,
    profile: VaultProfile,
    stored: StoredCard,
    make_default: bool,
    actor: Actor,
) -> PaymentMethod:
    """In the caller's transaction: the card the vault saved, once (a repeat finds it)."""
    Customer.objects.select_for_update().get(pk=customer.pk)  # serialises this customer's defaults
    method = PaymentMethod.objects.filter(
        profile=profile, payment_token=stored.payment_token, status=PaymentMethod.Status.ACTIVE
    ).first()
    created = method is None
    if method is None:
        method = PaymentMethod.objects.create(
            merchant=customer.merchant,
            customer=customer,
            gateway_account=account,
            profile=profile,
            payment_token=stored.payment_token,
            card_brand=stored.card_brand,
            card_last4=stored.card_last4,
            exp_month=stored.exp_month,
            exp_year=stored.exp_year,
        )
    has_default = customer.payment_methods.filter(status=PaymentMethod.Status.ACTIVE, is_default=True).exists()
    if make_default or not has_default:
        default_set(method)
    if created:
        audit_record(
            actor=actor,
            action="payment_method.added",
            target=method,
            after={"card": str(method), "default": method.is_default},
        )
        publish_payment_method(method, "payment_method.attached")
    return method


def payment_method_import(
    *,
    customer: Customer,
    account: GatewayAccount,
    customer_token: str,
    payment_token: str,
    card_brand: str,
    card_last4: str,
    exp_month: int | None,
    exp_year: int | None,
    actor: Actor,
) -> PaymentMethod:
    """Record a card already saved in the gateway's vault (a migration from another system, or
    demo data): the tokens and what identifies the card, no gateway call."""
    with transaction.atomic():
        Customer.objects.select_for_update().get(pk=customer.pk)
        profile, _ = VaultProfile.objects.get_or_create(
            customer=customer, gateway_account=account, defaults={"customer_token": customer_token}
        )
        method = PaymentMethod.objects.create(
            merchant=customer.merchant, customer=customer, gateway_account=account, profile=profile,
            payment_token=payment_token, card_brand=card_brand, card_last4=card_last4, exp_month=exp_month,
            exp_year=exp_year,
        )  # fmt: skip
        if not customer.payment_methods.filter(status=PaymentMethod.Status.ACTIVE, is_default=True).exists():
            default_set(method)
        audit_record(actor=actor, action="payment_method.imported", target=method, after={"card": str(method)})
    return method


def default_set(method: PaymentMethod) -> None:
    PaymentMethod.objects.filter(customer_id=method.customer_id, is_default=True).exclude(pk=method.pk).update(
        is_default=False
    )
    if not method.is_default:
        method.is_default = True
        method.save(update_fields=["is_default"])


def publish_payment_method(method: PaymentMethod, event_type: str) -> None:
    event_publish(
        merchant_id=method.merchant_id,
        livemode=method.gateway_account.mode == "live",
        type=event_type,
        object_type="payment_method",
        object_id=method.public_id,
        data=payment_method_representation(method),
    )


def payment_method_set_default(*, method: PaymentMethod, actor: Actor) -> PaymentMethod:
    with transaction.atomic():
        Customer.objects.select_for_update().get(pk=method.customer_id)
        method = PaymentMethod.objects.select_related("customer").get(pk=method.pk)
        if method.status != PaymentMethod.Status.ACTIVE:
            raise PaymentMethodRemoved()
        if not method.is_default:
            default_set(method)
            audit_record(actor=actor, action="payment_method.made_default", target=method, after={"card": str(method)})
    return method


# Who may still charge a saved card (subscriptions add theirs from their app's ready()): a card
# some of them use cannot be removed. The customers app knows none of them.
_IN_USE_CHECKS: list[Callable[[PaymentMethod], bool]] = []


def payment_method_in_use_check_register(check: Callable[[PaymentMethod], bool]) -> None:
    if check not in _IN_USE_CHECKS:
        _IN_USE_CHECKS.append(check)


def payment_method_remove(*, method: PaymentMethod, actor: Actor) -> PaymentMethod:
    """Remove a saved card. Refused while something that charges it (a live subscription) uses it."""
    with transaction.atomic():
        Customer.objects.select_for_update().get(pk=method.customer_id)
        method = PaymentMethod.objects.select_for_update(of=("self",)).select_related("customer").get(pk=method.pk)
        if method.status == PaymentMethod.Status.REMOVED:
            return method
        if any(check(method) for check in _IN_USE_CHECKS):
            raise PaymentMethodInUse()
        method.status, method.removed_at = PaymentMethod.Status.REMOVED, timezone.now()
        was_default, method.is_default = method.is_default, False
        method.save(update_fields=["status", "removed_at", "is_default"])
        if was_default:
            successor = (
                PaymentMethod.objects.filter(customer_id=method.customer_id, status=PaymentMethod.Status.ACTIVE)
                .order_by("-id")
                .first()
            )
            if successor is not None:
                default_set(successor)
        audit_record(actor=actor, action="payment_method.removed", target=method, after={"card": str(method)})
        publish_payment_method(method, "payment_method.detached")
        enqueue_on_commit(PURGE_TASK, method.pk)
    return method


def payment_method_purge(*, payment_method_id: int) -> bool:
    """Delete a removed card from the gateway's vault. Idempotent; True when nothing is left."""
    method = PaymentMethod.objects.select_related("profile", "gateway_account").get(pk=payment_method_id)
    if method.status != PaymentMethod.Status.REMOVED or method.gateway_deleted_at is not None:
        return True
    gateway = vault_gateway_for(method.gateway_account)
    gateway.vault_card_delete(method.profile.customer_token, method.payment_token)  # not found is fine
    PaymentMethod.objects.filter(pk=method.pk, gateway_deleted_at__isnull=True).update(
        gateway_deleted_at=timezone.now()
    )
    return True


def payment_methods_purge_sweep(*, older_than_seconds: int = 300, limit: int = 500) -> list[int]:
    """Periodic: queue the vault deletion of removed cards whose task was lost (the broker was
    down when they were removed). Returns the ids queued."""
    before = timezone.now() - timedelta(seconds=older_than_seconds)
    ids = list(
        PaymentMethod.objects.filter(
            status=PaymentMethod.Status.REMOVED, gateway_deleted_at__isnull=True, removed_at__lt=before
        )
        .order_by("id")
        .values_list("pk", flat=True)[:limit]
    )
    for pk in ids:
        enqueue(PURGE_TASK, pk)
    return ids
