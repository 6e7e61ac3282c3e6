"""Payments waiting for their customer to authenticate (3-D Secure) that nobody settled: the
customer never came back and no webhook arrived. Asked about after a while, given up in the end:
the gateway's intent is cancelled first, so a late authentication cannot take money we no longer
expect; if the gateway says it went through meanwhile, it is settled as such instead."""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from apps.audit.actors import Actor
from apps.core.db import atomic_with_reconnect
from apps.gateways.base import GatewayResult, Outcome, VoidRequest
from apps.gateways.errors import GatewayDeclined, GatewayError
from apps.gateways.registry import gateway_for
from apps.payments.models import GatewayTransaction, Payment, PaymentStatus, new_gateway_reference

from .common import CallOutcome, record_call
from .outcomes import apply_charge_result
from .resolution import payment_authentication_settle, payment_sync_with_gateway

logger = logging.getLogger(__name__)

ABANDONED = "authentication_abandoned"


def payment_authentication_abandon(*, payment: Payment, actor: Actor) -> str:
    """Cancel the intent of a payment whose customer never authenticated, then fail the payment.
    Raises GatewayError when the gateway cannot be asked now (try again later)."""
    settled = payment_authentication_settle(payment=payment, actor=actor)
    payment.refresh_from_db()
    if payment.status != PaymentStatus.REQUIRES_ACTION:
        return settled
    call = (
        GatewayTransaction.objects.select_related("gateway_account")
        .filter(payment=payment, status=GatewayTransaction.Status.REQUIRES_ACTION)
        .order_by("-id")
        .first()
    )
    if call is None:
        return settled
    try:
        gateway_for(call.gateway_account).void(VoidRequest(new_gateway_reference(), call.gateway_transaction_id))
    except GatewayDeclined:  # it moved on at the gateway meanwhile: its word settles it
        return payment_authentication_settle(payment=payment, actor=actor)
    result = GatewayResult(
        Outcome.DECLINED,
        call.gateway_transaction_id,
        message="The customer did not authenticate in time; the payment was cancelled.",
        decline_code=ABANDONED,
    )
    outcome = CallOutcome(result, GatewayDeclined(result), 0)

    def record() -> str | None:
        locked_payment = (
            Payment.objects.select_for_update(of=("self",)).select_related("gateway_account").get(pk=payment.pk)
        )
        locked = GatewayTransaction.objects.select_for_update().get(pk=call.pk)
        if locked.status != GatewayTransaction.Status.REQUIRES_ACTION:
            return None
        latency = locked.latency_ms
        record_call(locked, outcome)
        GatewayTransaction.objects.filter(pk=locked.pk).update(latency_ms=latency)
        apply_charge_result(locked_payment, locked, outcome.result, actor)
        return f"requires_action -> {locked_payment.status} ({ABANDONED})"

    done = atomic_with_reconnect(record, what="payment_authentication_abandon")
    if done is None:
        # The customer authenticated just before our cancel, and their return (or a webhook)
        # recorded the authorisation meanwhile; the cancel released it at the gateway. Its word
        # now stands: the payment follows it (voided), never left authorised with nothing behind.
        return payment_sync_with_gateway(payment=payment, actor=actor)
    return done


def payments_authentication_sweep(*, limit: int = 500) -> list[str]:
    """Payments waiting for authentication for longer than PAYMENT_AUTHENTICATION_CHECK_SECONDS
    are settled from the gateway's word; past PAYMENT_AUTHENTICATION_TIMEOUT_SECONDS abandoned."""
    now = timezone.now()
    check_before = now - timedelta(seconds=settings.PAYMENT_AUTHENTICATION_CHECK_SECONDS)
    give_up_before = now - timedelta(seconds=settings.PAYMENT_AUTHENTICATION_TIMEOUT_SECONDS)
    actor = Actor.system("authentication sweeper")
    waiting = Payment.objects.select_related("gateway_account").filter(
        status=PaymentStatus.REQUIRES_ACTION, created_at__lt=check_before
    )
    done: list[str] = []
    for payment in waiting.order_by("id")[:limit]:
        try:
            if payment.created_at < give_up_before:
                done.append(f"{payment.public_id}: {payment_authentication_abandon(payment=payment, actor=actor)}")
            else:
                done.append(f"{payment.public_id}: {payment_authentication_settle(payment=payment, actor=actor)}")
        except GatewayError as exc:
            logger.warning("authentication_sweep_failed", extra={"payment": payment.public_id, "error": exc.code})
    return done
