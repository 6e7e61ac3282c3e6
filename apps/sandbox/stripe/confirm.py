"""Confirming a PaymentIntent: the card's scripted outcome, 3-D Secure, the charge and its events.

`confirm_locked` runs with the intent's row locked by the caller. A decline records its failed
charge and raises a card error with `commit=True`, so the failure stands (and an idempotent replay
answers the same 402). `authorize` is also what a completed 3-D Secure challenge runs.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from django.urls import reverse

from apps.sandbox.models import StripePaymentIntent, StripePaymentMethod

from . import cards, charges
from . import params as check
from .context import Call
from .errors import CARD_ERROR, StripeError, invalid_param, unexpected_state
from .events import emit
from .money_objects import charge_object
from .objects import payment_intent_object, payment_method_object
from .payment_methods import attach, from_params

Status = StripePaymentIntent.Status
CONFIRMABLE = (Status.REQUIRES_CONFIRMATION, Status.REQUIRES_PAYMENT_METHOD, Status.REQUIRES_ACTION)
CONFIRM_PARAMS = (
    "payment_method",
    "payment_method_data",
    "return_url",
    "off_session",
    "setup_future_usage",
    "error_on_requires_action",
    "use_stripe_sdk",
    "mandate_data",
    "payment_method_options",
)
PARTICIPLES = {"confirm": "confirmed", "capture": "captured", "cancel": "canceled", "update": "updated"}
RETURN_URL_NEEDED = (
    "This PaymentIntent is configured to accept payment methods enabled in your Dashboard. Because some of these "
    "payment methods might redirect your customer off of your page, you must provide a `return_url`. If you don't "
    "want to accept redirect-based payment methods, set `automatic_payment_methods[enabled]` to `true` and "
    "`automatic_payment_methods[allow_redirects]` to `never` when creating Setup Intents and Payment Intents."
)
AUTHENTICATION_FAILED = (
    "We are unable to authenticate your payment method. Please choose a different payment method and try again."
)


def wrong_state(intent: StripePaymentIntent, verb: str, allowed: tuple[str, ...]) -> StripeError:
    return unexpected_state(
        f"You cannot {verb} this PaymentIntent because it has a status of {intent.status}. Only a PaymentIntent "
        f"with one of the following statuses may be {PARTICIPLES[verb]}: {', '.join(allowed)}.",
        code="payment_intent_unexpected_state",
        obj_key="payment_intent",
        obj=payment_intent_object(intent),
    )


def payment_method_types(params: check.Params) -> tuple[list[str], dict[str, Any] | None]:
    """`payment_method_types[]` (cards only here) or `automatic_payment_methods`, on by default
    since API version 2023-08-16."""
    types = [str(kind) for kind in check.array(params, "payment_method_types")]
    automatic = check.hash_(params, "automatic_payment_methods")
    if types and automatic:
        raise StripeError(
            "You may only specify one of these parameters: automatic_payment_methods, payment_method_types.",
            param="automatic_payment_methods",
        )
    for position, kind in enumerate(types):
        if kind != "card":
            raise invalid_param(
                f"payment_method_types[{position}]",
                f"The payment method type provided: {kind} is invalid. The sandbox only accepts card.",
            )
    if types:
        return types, None
    if automatic:
        check.only(automatic, ("enabled", "allow_redirects"), prefix="automatic_payment_methods")
        if "enabled" not in automatic:
            raise StripeError(
                "Missing required param: automatic_payment_methods[enabled].",
                code="parameter_missing",
                param="automatic_payment_methods[enabled]",
            )
        if not check.boolean(automatic, "enabled"):
            return ["card"], None
        redirects = check.enum(automatic, "allow_redirects", ("always", "never"), default="always")
        return ["card"], {"allow_redirects": redirects, "enabled": True}
    return ["card"], {"allow_redirects": "always", "enabled": True}


def return_url(params: check.Params) -> str | None:
    url = check.string(params, "return_url", max_length=2048)
    if url is not None and (urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).netloc):
        raise invalid_param("return_url", "Not a valid URL", code="url_invalid")
    return url


def off_session(params: check.Params) -> bool:
    value = params.get("off_session")
    if value in ("one_off", "recurring"):
        return True
    return check.boolean(params, "off_session")


def challenge_action(call: Call, intent_id: str, return_to: str | None) -> dict[str, Any]:
    url = call.origin + reverse("sandbox:stripe-3ds", args=[intent_id])
    return {"type": "redirect_to_url", "redirect_to_url": {"return_url": return_to, "url": url}}


def wants_challenge(params: check.Params) -> bool:
    card = check.hash_(params, "payment_method_options").get("card")
    return isinstance(card, dict) and card.get("request_three_d_secure") in ("any", "challenge")


def three_d_secure_option(params: check.Params) -> str | None:
    """payment_method_options[card][request_three_d_secure] of a create or confirm, if given."""
    card = check.hash_(params, "payment_method_options").get("card")
    if not isinstance(card, dict) or card.get("request_three_d_secure") in (None, ""):
        return None
    value = card["request_three_d_secure"]
    if value not in ("automatic", "any", "challenge"):
        raise StripeError(
            "Invalid payment_method_options[card][request_three_d_secure]: must be one of automatic, any, or challenge",
            param="payment_method_options[card][request_three_d_secure]",
        )
    return str(value)


def confirm_locked(call: Call, intent: StripePaymentIntent, params: check.Params, *, method_given: bool) -> None:
    if intent.status not in CONFIRMABLE:
        raise wrong_state(intent, "confirm", CONFIRMABLE)
    if method_given:
        intent.payment_method = from_params(call, params) or intent.payment_method
    if "return_url" in params:
        intent.return_url = return_url(params)
    intent.off_session = off_session(params)
    intent.request_three_d_secure = three_d_secure_option(params) or intent.request_three_d_secure
    usage = check.enum(params, "setup_future_usage", ("on_session", "off_session"))
    intent.setup_future_usage = usage or intent.setup_future_usage
    method = intent.payment_method
    if method is None:
        raise StripeError(
            "You cannot confirm this PaymentIntent because it's missing a payment method. You can either update the "
            "PaymentIntent with a payment method and then confirm it again, or confirm it again directly with a "
            "payment method.",
            code="payment_intent_unexpected_state",
            param="payment_method",
            extra={"payment_intent": payment_intent_object(intent)},
        )
    _check_method(intent, method)
    redirects = (intent.automatic_payment_methods or {}).get("allow_redirects") == "always"
    if redirects and not intent.return_url and not intent.off_session and not call.publishable:
        raise StripeError(RETURN_URL_NEEDED, param="return_url")
    intent.last_payment_error = None
    intent.next_action = None
    auth = cards.needs_authentication(method.scenario, off_session=intent.off_session, set_up=method.set_up)
    if auth is None and intent.request_three_d_secure in ("any", "challenge") and not intent.off_session:
        auth = "challenge"
    if auth == "challenge" and check.boolean(params, "error_on_requires_action"):
        auth = "refuse"
    if auth == "challenge":
        previous = intent.status
        intent.status = Status.REQUIRES_ACTION
        intent.next_action = challenge_action(call, intent.stripe_id, intent.return_url)
        intent.save()
        emit(call, "payment_intent.requires_action", payment_intent_object(intent), {"status": previous})
        return
    decline = cards.DECLINES["authentication_required"] if auth == "refuse" else cards.decline_for(method.scenario)
    authorize(call, intent, method, decline=decline, three_d_secure=False)


def _check_method(intent: StripePaymentIntent, method: StripePaymentMethod) -> None:
    if method.customer_id is None and method.consumed:
        raise StripeError(
            "The provided PaymentMethod was previously used with a PaymentIntent without Customer attachment, shared "
            "with a connected account without Customer attachment, or was detached from a Customer. It may not be "
            "used again. To use a PaymentMethod multiple times, you must attach it to a Customer first.",
            param="payment_method",
        )
    if method.customer_id is not None and method.customer_id != intent.customer_id:
        raise StripeError(
            f"The provided PaymentMethod ({method.stripe_id}) is attached to a different Customer than the one on "
            "this PaymentIntent. Pass the customer the PaymentMethod is attached to.",
            param="payment_method",
        )


def authorize(
    call: Call,
    intent: StripePaymentIntent,
    method: StripePaymentMethod,
    *,
    decline: cards.Decline | None,
    three_d_secure: bool,
) -> None:
    """One attempt at the card network: a charge, then the intent succeeded / requires_capture, or
    back to requires_payment_method with the decline (raised, committed)."""
    charge = charges.charge_attempt(call, intent, method, decline=decline, three_d_secure=three_d_secure)
    intent.latest_charge = charge
    intent.next_action = None
    previous = {"status": intent.status}
    if decline is not None:
        method_object = payment_method_object(method)
        intent.last_payment_error = decline.error(charge=charge.stripe_id, payment_method=method_object).as_dict()
        intent.status = Status.REQUIRES_PAYMENT_METHOD
        intent.payment_method = None
        intent.save()
        emit(call, "charge.failed", charge_object(charge))
        emit(call, "payment_intent.payment_failed", payment_intent_object(intent), previous)
        raise decline.error(
            charge=charge.stripe_id, payment_intent=payment_intent_object(intent), payment_method=method_object
        )
    if intent.setup_future_usage and intent.customer is not None:
        attach(call, method, intent.customer, set_up=intent.setup_future_usage == "off_session")
    elif method.customer_id is None:
        method.consumed = True
        method.save(update_fields=["consumed"])
    emit(call, "charge.succeeded", charge_object(charge))
    if intent.capture_method == "manual":
        intent.status = Status.REQUIRES_CAPTURE
        intent.amount_capturable = intent.amount
        intent.save()
        emit(
            call,
            "payment_intent.amount_capturable_updated",
            payment_intent_object(intent),
            {**previous, "amount_capturable": 0},
        )
        return
    charges.capture(call, charge, intent.amount)
    intent.status = Status.SUCCEEDED
    intent.amount_received = intent.amount
    intent.save()
    emit(call, "payment_intent.succeeded", payment_intent_object(intent), {**previous, "amount_received": 0})


def authentication_failed(call: Call, intent: StripePaymentIntent) -> None:
    """The cardholder failed (or abandoned) the 3-D Secure challenge."""
    method = intent.payment_method
    error: dict[str, Any] = StripeError(
        AUTHENTICATION_FAILED, type=CARD_ERROR, code="payment_intent_authentication_failure"
    ).as_dict()
    if method is not None:
        error["payment_method"] = payment_method_object(method)
    intent.last_payment_error = error
    intent.status = Status.REQUIRES_PAYMENT_METHOD
    intent.payment_method = None
    intent.next_action = None
    intent.save()
    emit(call, "payment_intent.payment_failed", payment_intent_object(intent), {"status": Status.REQUIRES_ACTION})
