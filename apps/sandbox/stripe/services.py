"""Writes of the Stripe sandbox that are not API calls: what the dashboard does (accounts, webhook
endpoints), what a cardholder does on the 3-D Secure page, and what the bank does later (disputes,
refunds that settle or fail, payouts: payouts.py). Tests and demos call these."""

from __future__ import annotations

from django.db import transaction

from apps.sandbox.models import StripeAccount, StripeCharge, StripeDispute, StripeRefund, StripeWebhookEndpoint

from .challenge import Resolution, challenge_resolve
from .context import Call
from .disputes import dispute_open
from .ids import new_id
from .listen import ListenTimedOut, stripe_listen, stripe_listen_endpoint
from .payouts import stripe_payout_run, stripe_settlement_discrepancy
from .refunds import refund_advance
from .trigger import TRIGGERS, Triggered, TriggerError, stripe_account_resolve, stripe_trigger
from .webhooks import new_secret

__all__ = [
    "TRIGGERS",
    "ListenTimedOut",
    "TriggerError",
    "Triggered",
    "stripe_3ds_complete",
    "stripe_3ds_fail",
    "stripe_account_create",
    "stripe_account_resolve",
    "stripe_dispute_create",
    "stripe_listen",
    "stripe_listen_endpoint",
    "stripe_payout_run",
    "stripe_refund_advance",
    "stripe_settlement_discrepancy",
    "stripe_trigger",
    "stripe_webhook_endpoint_create",
]


def stripe_account_create(*, secret_key: str | None = None) -> StripeAccount:
    """A sandbox account with a fresh test key pair (`sk_test_…`, `pk_test_…`)."""
    suffix = new_id("", 24)
    return StripeAccount.objects.create(
        stripe_id=new_id("acct_", 16),
        secret_key=secret_key or f"sk_test_{suffix}{new_id('', 75)}",
        publishable_key=f"pk_test_{suffix}{new_id('', 75)}",
    )


def stripe_webhook_endpoint_create(
    *, account: StripeAccount, url: str, enabled_events: tuple[str, ...] | list[str] = ("*",)
) -> tuple[StripeWebhookEndpoint, str]:
    """A webhook endpoint of the account (as the dashboard makes one). Returns it and its secret."""
    endpoint = StripeWebhookEndpoint.objects.create(
        account=account,
        stripe_id=new_id("we_"),
        url=url,
        enabled_events=list(enabled_events),
        secret=new_secret(),
    )
    return endpoint, endpoint.secret


def stripe_3ds_complete(intent_id: str) -> Resolution:
    """What "Complete authentication" on the challenge page does, for a `pi_…` or `seti_…` in
    requires_action. Raises ChallengeNotFound / ChallengeNotPending."""
    return challenge_resolve(intent_id, succeeded=True)


def stripe_3ds_fail(intent_id: str) -> Resolution:
    """What "Fail authentication" on the challenge page does."""
    return challenge_resolve(intent_id, succeeded=False)


def stripe_dispute_create(
    charge: StripeCharge | str, *, reason: str = "fraudulent", amount: int | None = None
) -> StripeDispute:
    """Open a dispute on a captured charge (a model or its `ch_…` id): charge.dispute.created."""
    charge_id = charge if isinstance(charge, str) else charge.stripe_id
    with transaction.atomic():
        locked = StripeCharge.objects.select_related("account", "payment_intent").select_for_update(of=("self",))
        row = locked.get(stripe_id=charge_id)
        return dispute_open(Call(account=row.account), row, reason=reason, amount=amount)


def stripe_refund_advance(refund: StripeRefund | str) -> bool:
    """Move a test card's refund on, as the bank would later: a pending refund (card
    4000000000007726) succeeds; a refund of card 4000000000005126 fails. False: nothing to do."""
    refund_id = refund if isinstance(refund, str) else refund.stripe_id
    with transaction.atomic():
        locked = StripeRefund.objects.select_related("account", "charge__payment_method", "charge__payment_intent")
        row = locked.select_for_update(of=("self",)).get(stripe_id=refund_id)
        return refund_advance(Call(account=row.account), row)
