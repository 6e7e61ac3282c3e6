"""3-D Secure challenges: what the sandbox's challenge page (`/sandbox/stripe/3ds/<id>/`) shows and
does. Completing one carries the intent on (the card's own outcome still applies: a card that
declines after authentication declines); failing it sends the intent back to
requires_payment_method with an authentication failure. Either way the cardholder returns to the
intent's return_url with Stripe's query parameters."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from django.db import transaction

from apps.sandbox.models import StripePaymentIntent, StripeSetupIntent

from . import cards, confirm, setup_intents
from .context import Call
from .errors import StripeError

SUCCEEDED = ("succeeded", "requires_capture", "processing")


class ChallengeNotFound(LookupError):
    pass


class ChallengeNotPending(ValueError):
    """The intent is not waiting for authentication (already done, canceled, confirmed again ...)."""


@dataclass(frozen=True)
class Challenge:
    intent_id: str
    kind: str  # payment_intent | setup_intent
    status: str
    amount: int | None
    currency: str | None
    card: str  # "visa •••• 3184"

    @property
    def pending(self) -> bool:
        return self.status == "requires_action"


@dataclass(frozen=True)
class Resolution:
    intent_id: str
    status: str  # the intent's status afterwards
    redirect_status: str  # succeeded | failed
    redirect_url: str | None  # the return_url with Stripe's parameters; None without a return_url


def _payment_intent(intent_id: str, *, for_update: bool = False) -> StripePaymentIntent | None:
    intents = StripePaymentIntent.objects.select_related("account", "customer", "payment_method", "latest_charge")
    return (intents.select_for_update(of=("self",)) if for_update else intents).filter(stripe_id=intent_id).first()


def _setup_intent(intent_id: str, *, for_update: bool = False) -> StripeSetupIntent | None:
    intents = StripeSetupIntent.objects.select_related("account", "customer", "payment_method")
    return (intents.select_for_update(of=("self",)) if for_update else intents).filter(stripe_id=intent_id).first()


def challenge_get(intent_id: str) -> Challenge:
    intent: StripePaymentIntent | StripeSetupIntent | None = (
        _payment_intent(intent_id) if intent_id.startswith("pi_") else _setup_intent(intent_id)
    )
    if intent is None:
        raise ChallengeNotFound(intent_id)
    method = intent.payment_method
    return Challenge(
        intent_id=intent.stripe_id,
        kind="payment_intent" if isinstance(intent, StripePaymentIntent) else "setup_intent",
        status=intent.status,
        amount=intent.amount if isinstance(intent, StripePaymentIntent) else None,
        currency=intent.currency if isinstance(intent, StripePaymentIntent) else None,
        card=f"{method.brand} •••• {method.last4}" if method is not None else "",
    )


def _with_query(url: str, extra: dict[str, str]) -> str:
    parts = urlsplit(url)
    query = urlencode([*parse_qsl(parts.query, keep_blank_values=True), *extra.items()])
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))


def challenge_resolve(intent_id: str, *, succeeded: bool) -> Resolution:
    """Complete (`succeeded=True`) or fail the pending 3-D Secure challenge of a pi_… or seti_…."""
    with transaction.atomic():
        if intent_id.startswith("pi_"):
            payment = _payment_intent(intent_id, for_update=True)
            if payment is None:
                raise ChallengeNotFound(intent_id)
            _resolve_payment(payment, succeeded=succeeded)
            status, return_url, key = payment.status, payment.return_url, "payment_intent"
            secret = payment.client_secret
        else:
            setup = _setup_intent(intent_id, for_update=True)
            if setup is None:
                raise ChallengeNotFound(intent_id)
            _resolve_setup(setup, succeeded=succeeded)
            status, return_url, key = setup.status, setup.return_url, "setup_intent"
            secret = setup.client_secret
    redirect_status = "succeeded" if status in SUCCEEDED else "failed"
    query = {key: intent_id, f"{key}_client_secret": secret, "redirect_status": redirect_status}
    return Resolution(
        intent_id=intent_id,
        status=status,
        redirect_status=redirect_status,
        redirect_url=_with_query(return_url, query) if return_url else None,
    )


def _resolve_payment(intent: StripePaymentIntent, *, succeeded: bool) -> None:
    if intent.status != StripePaymentIntent.Status.REQUIRES_ACTION or intent.payment_method is None:
        raise ChallengeNotPending(intent.stripe_id)
    call = Call(account=intent.account)
    if not succeeded:
        confirm.authentication_failed(call, intent)
        return
    method = intent.payment_method
    if intent.setup_future_usage == "off_session":
        method.set_up = True  # authenticated now, so later off-session charges need no challenge
        method.save(update_fields=["set_up"])
    # A decline after authentication is recorded on the intent and its failed charge.
    with contextlib.suppress(StripeError):
        confirm.authorize(call, intent, method, decline=cards.decline_for(method.scenario), three_d_secure=True)


def _resolve_setup(intent: StripeSetupIntent, *, succeeded: bool) -> None:
    if intent.status != StripeSetupIntent.Status.REQUIRES_ACTION or intent.payment_method is None:
        raise ChallengeNotPending(intent.stripe_id)
    call = Call(account=intent.account)
    if succeeded:
        setup_intents.succeed(call, intent, intent.payment_method)
    else:
        setup_intents.authentication_failed(call, intent)
