"""`stripe trigger <event>` for the sandbox: make the real objects whose changes fire that event
(as the Stripe CLI's fixtures do: a PaymentIntent confirmed with `pm_card_visa`, refunded,
disputed ...), through the sandbox's own API operations, so the events, their deliveries and any
webhook faults are the real ones. Nothing here writes an event row itself.

With `intent_id` an existing PaymentIntent (one our API made, say) is carried to the event
instead: completed (3-D Secure, confirmation or capture), failed (3-D Secure), canceled, refunded
or disputed, as its customer, the dashboard or the bank would.

Only test payment method ids (`pm_card_*`) are used: no card number passes through here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.db import transaction
from django.db.models import Max, Q

from apps.sandbox.models import StripeAccount, StripeCharge, StripeEvent, StripePaymentIntent

from . import customers, payment_intents, refunds, setup_intents
from .challenge import ChallengeNotPending, challenge_resolve
from .context import Call
from .disputes import dispute_open
from .errors import StripeError
from .ids import request_id

DESCRIPTION = "(created by manage.py stripe_trigger)"
Status = StripePaymentIntent.Status


class TriggerError(ValueError):
    """The event cannot be triggered (unknown, wrong account, an intent in the wrong state ...)."""


@dataclass
class Triggered:
    """What a trigger made: the objects (kind, id, status), then the events they fired, in order."""

    event_type: str
    objects: list[tuple[str, str, str]] = field(default_factory=list)
    events: list[StripeEvent] = field(default_factory=list)

    @property
    def event_ids(self) -> list[str]:
        return [event.stripe_id for event in self.events]


class _Run:
    """One trigger: each step is one API operation in its own transaction, with its own request id."""

    def __init__(self, account: StripeAccount, event_type: str) -> None:
        self.account = account
        self.result = Triggered(event_type)
        self.touched: set[str] = set()
        base = urlsplit(settings.STRIPE_TEST_API_BASE)
        self.origin = f"{base.scheme}://{base.netloc}" if base.scheme and base.netloc else ""

    def call(self) -> Call:
        return Call(account=self.account, request_id=request_id(), origin=self.origin)

    def api(self, operation: Callable[..., dict[str, Any]], *args: Any, declined_ok: bool = False) -> dict[str, Any]:
        """Run an API operation as its endpoint does (a decline that stands commits and, where the
        fixture expects one, returns the object it left behind)."""
        with transaction.atomic():
            try:
                body = operation(self.call(), *args)
            except StripeError as error:
                if not (declined_ok and error.commit):
                    raise TriggerError(f"{operation.__name__}: {error.message}") from error
                left = error.extra.get("payment_intent") or error.extra.get("setup_intent")
                if not isinstance(left, dict):
                    raise TriggerError(f"{operation.__name__}: {error.message}") from error
                body = left
        self.note(body)
        return body

    def note(self, body: dict[str, Any]) -> None:
        """Remember an object (and the ids it names) so that its events are found afterwards."""
        self.touched.add(body["id"])
        for key in ("latest_charge", "payment_method", "customer", "charge"):
            value = body.get(key)
            if isinstance(value, str):
                self.touched.add(value)
        kind = body.get("object", "")
        self.result.objects.append((kind, body["id"], body.get("status") or ""))


def _params(**values: Any) -> dict[str, Any]:
    """Form-decoded parameters as the API hands them over: strings, arrays keyed "0", "1" ..."""
    return {key: value for key, value in values.items() if value is not None}


def _payment(run: _Run, card: str = "pm_card_visa", *, confirm: bool = True, **extra: Any) -> dict[str, Any]:
    params = _params(
        amount="2000",
        currency="usd",
        description=DESCRIPTION,
        payment_method=card,
        payment_method_types={"0": "card"},
        confirm="true" if confirm else None,
        **extra,
    )
    return run.api(payment_intents.payment_intent_create, params, declined_ok=True)


def _refund(run: _Run, intent_id: str) -> None:
    run.api(refunds.refund_create, _params(payment_intent=intent_id, reason="requested_by_customer"))


def _dispute(run: _Run, intent_id: str) -> None:
    intent = StripePaymentIntent.objects.filter(account=run.account, stripe_id=intent_id).first()
    if intent is None or intent.latest_charge_id is None:
        raise TriggerError(f"{intent_id} has no charge to dispute")
    with transaction.atomic():
        charge = StripeCharge.objects.select_for_update().get(pk=intent.latest_charge_id)
        if not charge.captured:
            raise TriggerError(f"{charge.stripe_id} was never captured: there is nothing to dispute")
        dispute = dispute_open(run.call(), charge, reason="fraudulent")
    run.touched.add(dispute.stripe_id)
    run.result.objects.append(("dispute", dispute.stripe_id, dispute.status))


def _intent(run: _Run, intent_id: str) -> StripePaymentIntent:
    intent = StripePaymentIntent.objects.filter(account=run.account, stripe_id=intent_id).first()
    if intent is None:
        raise TriggerError(f"No PaymentIntent {intent_id} at sandbox account {run.account.stripe_id}")
    return intent


def _resolve(run: _Run, intent_id: str, *, succeeded: bool) -> dict[str, Any]:
    try:
        challenge_resolve(intent_id, succeeded=succeeded)
    except ChallengeNotPending as exc:
        raise TriggerError(f"{intent_id} is not waiting for 3-D Secure") from exc
    return run.api(payment_intents.payment_intent_retrieve, intent_id, {})


# --- the fixtures: a new object each time, or an existing PaymentIntent carried on --------------


def _succeeded(run: _Run, intent_id: str | None) -> None:
    if intent_id is None:
        _payment(run)
        return
    intent = _intent(run, intent_id)
    if intent.status == Status.REQUIRES_ACTION:
        intent = _intent(run, _resolve(run, intent_id, succeeded=True)["id"])
    elif intent.status == Status.REQUIRES_CONFIRMATION:
        run.api(payment_intents.payment_intent_confirm, intent_id, {}, declined_ok=True)
        intent = _intent(run, intent_id)
    if intent.status == Status.REQUIRES_CAPTURE:
        run.api(payment_intents.payment_intent_capture, intent_id, {})
    elif intent.status != Status.SUCCEEDED:
        raise TriggerError(f"{intent_id} cannot succeed: its status is {intent.status}")


def _failed(run: _Run, intent_id: str | None) -> None:
    if intent_id is None:
        _payment(run, "pm_card_chargeDeclined")
    elif _intent(run, intent_id).status == Status.REQUIRES_ACTION:
        _resolve(run, intent_id, succeeded=False)
    else:
        raise TriggerError(f"{intent_id} can only fail from requires_action (failing its 3-D Secure)")


def _requires_action(run: _Run, intent_id: str | None) -> None:
    if intent_id is not None:
        raise TriggerError("payment_intent.requires_action makes a new PaymentIntent only")
    _payment(run, "pm_card_threeDSecure2Required")


def _canceled(run: _Run, intent_id: str | None) -> None:
    intent_id = intent_id or _payment(run, confirm=False)["id"]
    run.api(payment_intents.payment_intent_cancel, intent_id, _params(cancellation_reason="requested_by_customer"))


def _capturable(run: _Run, intent_id: str | None) -> None:
    if intent_id is not None:
        raise TriggerError("payment_intent.amount_capturable_updated makes a new PaymentIntent only")
    _payment(run, capture_method="manual")


def _captured(run: _Run, intent_id: str | None) -> None:
    intent_id = intent_id or _payment(run, capture_method="manual")["id"]
    run.api(payment_intents.payment_intent_capture, intent_id, {})


def _refunded(run: _Run, intent_id: str | None) -> None:
    _refund(run, intent_id or _payment(run)["id"])


def _disputed(run: _Run, intent_id: str | None) -> None:
    _dispute(run, intent_id or _payment(run)["id"])


def _new_only(make: Callable[[_Run], None], event_type: str) -> Callable[[_Run, str | None], None]:
    def fixture(run: _Run, intent_id: str | None) -> None:
        if intent_id is not None:
            raise TriggerError(f"{event_type} does not act on a PaymentIntent")
        make(run)

    return fixture


def _setup(run: _Run, card: str) -> None:
    params = _params(payment_method=card, confirm="true", payment_method_types={"0": "card"}, usage="off_session")
    run.api(setup_intents.setup_intent_create, params, declined_ok=True)


def _customer(run: _Run) -> None:
    run.api(customers.customer_create, _params(description=DESCRIPTION, email="stripe-trigger@example.com"))


TRIGGERS: dict[str, tuple[str, Callable[[_Run, str | None], None]]] = {
    "payment_intent.succeeded": ("a PaymentIntent confirmed with pm_card_visa", _succeeded),
    "payment_intent.payment_failed": ("a PaymentIntent confirmed with a declining card", _failed),
    "payment_intent.requires_action": ("a PaymentIntent confirmed with a 3-D Secure card", _requires_action),
    "payment_intent.canceled": ("a PaymentIntent, canceled", _canceled),
    "payment_intent.amount_capturable_updated": ("a PaymentIntent authorized for manual capture", _capturable),
    "payment_intent.created": ("a PaymentIntent confirmed with pm_card_visa", _succeeded),
    "charge.succeeded": ("a PaymentIntent confirmed with pm_card_visa", _succeeded),
    "charge.failed": ("a PaymentIntent confirmed with a declining card", _failed),
    "charge.captured": ("a PaymentIntent authorized, then captured", _captured),
    "charge.refunded": ("a PaymentIntent confirmed, then refunded in full", _refunded),
    "refund.created": ("a PaymentIntent confirmed, then refunded in full", _refunded),
    "charge.dispute.created": ("a PaymentIntent confirmed, then disputed as fraudulent", _disputed),
    "setup_intent.succeeded": (
        "a SetupIntent confirmed with pm_card_visa",
        _new_only(lambda run: _setup(run, "pm_card_visa"), "setup_intent.succeeded"),
    ),
    "setup_intent.requires_action": (
        "a SetupIntent confirmed with a card that asks for 3-D Secure on setup",
        _new_only(lambda run: _setup(run, "pm_card_authenticationRequiredOnSetup"), "setup_intent.requires_action"),
    ),
    "setup_intent.setup_failed": (
        "a SetupIntent confirmed with a declining card",
        _new_only(lambda run: _setup(run, "pm_card_chargeDeclined"), "setup_intent.setup_failed"),
    ),
    "customer.created": ("a customer", _new_only(_customer, "customer.created")),
}


def supported() -> list[str]:
    return sorted(TRIGGERS)


def stripe_account_resolve(reference: str | None = None) -> StripeAccount:
    """The sandbox account named by its id (`acct_…`) or secret key; without one, the only account."""
    if reference:
        account = StripeAccount.objects.filter(Q(stripe_id=reference) | Q(secret_key=reference)).first()
        if account is None:
            shown = reference if reference.startswith("acct_") else f"{reference[:12]}…"
            raise TriggerError(f"No Stripe sandbox account {shown}")
        return account
    accounts = list(StripeAccount.objects.order_by("pk")[:2])
    if len(accounts) != 1:
        found = "none exists" if not accounts else "there are several"
        raise TriggerError(f"Name the Stripe sandbox account with --account (acct_… or its secret key): {found}")
    return accounts[0]


def stripe_trigger(account: StripeAccount, event_type: str, *, intent_id: str | None = None) -> Triggered:
    """Make the objects that fire `event_type` (on `intent_id`, an existing PaymentIntent, where
    given). Returns them and the events they fired, oldest first. Raises TriggerError."""
    if event_type not in TRIGGERS:
        raise TriggerError(f"Unsupported event {event_type!r}. Supported events: {', '.join(supported())}")
    run = _Run(account, event_type)
    before = StripeEvent.objects.filter(account=account).aggregate(last=Max("pk"))["last"] or 0
    if intent_id is not None:
        run.touched.add(intent_id)
    TRIGGERS[event_type][1](run, intent_id)
    events = StripeEvent.objects.filter(account=account, pk__gt=before).order_by("pk")
    run.result.events = [event for event in events if _about(event, run.touched)]
    if event_type not in {event.type for event in run.result.events}:
        raise TriggerError(f"{event_type} did not fire (events: {', '.join(e.type for e in run.result.events)})")
    return run.result


def _about(event: StripeEvent, ids: set[str]) -> bool:
    obj = event.data.get("object") or {}
    return obj.get("id") in ids or obj.get("payment_intent") in ids or obj.get("charge") in ids
