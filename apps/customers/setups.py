"""Cards whose setup asked the customer to authenticate (3-D Secure at a Stripe SetupIntent):
settled by asking the gateway when the customer comes back or its webhook arrives."""

from __future__ import annotations

from apps.audit.actors import Actor
from apps.audit.services import audit_record
from apps.core.db import atomic_with_reconnect
from apps.gateways.base import StoredCard
from apps.gateways.errors import GatewayDeclined
from apps.gateways.registry import vault_gateway_for

from .models import Customer, PaymentMethod
from .services import default_set, publish_payment_method


def payment_method_setup_settle(*, method: PaymentMethod, actor: Actor) -> PaymentMethod:
    """The one step that settles a card whose setup asked the customer to authenticate: ask the
    gateway (never the browser) and save the card, or fail it, exactly once (the customer's
    return and the gateway's webhook may arrive together). Raises GatewayError when the gateway
    cannot be asked now."""
    if method.status != PaymentMethod.Status.REQUIRES_ACTION:
        return method
    try:
        stored: StoredCard | None = vault_gateway_for(method.gateway_account).vault_card_setup_result(method.setup_id)
        failure = ""
    except GatewayDeclined as exc:
        stored, failure = None, exc.result.decline_code or "authentication_failed"
    if stored is not None and stored.action_url:
        return method  # the customer has not finished

    def settle() -> PaymentMethod:
        Customer.objects.select_for_update().get(pk=method.customer_id)  # serialises this customer's defaults
        locked = PaymentMethod.objects.select_for_update().get(pk=method.pk)
        if locked.status != PaymentMethod.Status.REQUIRES_ACTION:
            return locked
        locked.action_url = ""
        if stored is None:
            locked.status = PaymentMethod.Status.FAILED
            locked.save(update_fields=["status", "action_url"])
            audit_record(actor=actor, action="payment_method.setup_failed", target=locked, after={"reason": failure})
            return locked
        locked.status = PaymentMethod.Status.ACTIVE
        locked.payment_token = stored.payment_token or locked.payment_token
        locked.save(update_fields=["status", "action_url", "payment_token"])
        if not locked.customer.payment_methods.filter(status=PaymentMethod.Status.ACTIVE, is_default=True).exists():
            default_set(locked)
        audit_record(actor=actor, action="payment_method.added", target=locked,
                     after={"card": str(locked), "default": locked.is_default, "authenticated": True})  # fmt: skip
        publish_payment_method(locked, "payment_method.attached")
        return locked

    return atomic_with_reconnect(settle, what="payment_method_setup_settle")
