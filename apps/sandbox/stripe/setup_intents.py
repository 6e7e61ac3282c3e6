"""SetupIntents: save a card for later (off-session) use, with 3-D Secure where the card asks for
it on setup. Create, retrieve, update, confirm, cancel, list."""

from __future__ import annotations

from typing import Any

from apps.sandbox.models import StripePaymentMethod, StripeSetupIntent

from . import cards, lists
from . import params as check
from .confirm import (
    AUTHENTICATION_FAILED,
    RETURN_URL_NEEDED,
    challenge_action,
    payment_method_types,
    return_url,
    wants_challenge,
)
from .context import Call, check_client_secret
from .errors import CARD_ERROR, StripeError, resource_missing, unexpected_state
from .events import emit
from .ids import client_secret, new_id
from .objects import payment_method_object, setup_intent_object
from .payment_methods import attach, customer_get, from_params

Status = StripeSetupIntent.Status
RELATED = ("customer", "payment_method")
CONFIRMABLE = (Status.REQUIRES_PAYMENT_METHOD, Status.REQUIRES_CONFIRMATION, Status.REQUIRES_ACTION)
CANCELABLE = CONFIRMABLE
CONFIRM_PARAMS = (
    "payment_method",
    "payment_method_data",
    "return_url",
    "mandate_data",
    "payment_method_options",
    "use_stripe_sdk",
)


def _intent(call: Call, intent_id: str, *, for_update: bool = False) -> StripeSetupIntent:
    intents = StripeSetupIntent.objects.select_related(*RELATED).filter(account=call.account, stripe_id=intent_id)
    found = (intents.select_for_update(of=("self",)) if for_update else intents).first()
    if found is None:
        raise resource_missing("setup_intent", intent_id)
    return found


def _wrong_state(intent: StripeSetupIntent, verb: str, participle: str, allowed: tuple[str, ...]) -> StripeError:
    return unexpected_state(
        f"You cannot {verb} this SetupIntent because it has a status of {intent.status}. Only a SetupIntent with "
        f"one of the following statuses may be {participle}: {', '.join(allowed)}.",
        code="setup_intent_unexpected_state",
        obj_key="setup_intent",
        obj=setup_intent_object(intent),
    )


def setup_intent_create(call: Call, params: check.Params) -> dict[str, Any]:
    check.only(
        params,
        (
            "customer",
            "confirm",
            "usage",
            "description",
            "metadata",
            "payment_method_types",
            "automatic_payment_methods",
            *CONFIRM_PARAMS,
        ),
    )
    customer_id = check.string(params, "customer")
    methods, automatic = payment_method_types(params)
    intent = StripeSetupIntent(
        account=call.account,
        stripe_id=new_id("seti_"),
        customer=customer_get(call, customer_id) if customer_id else None,
        usage=check.enum(params, "usage", ("on_session", "off_session"), default="off_session"),
        description=check.string(params, "description", max_length=1000),
        metadata=check.metadata(params),
        payment_method_types=methods,
        automatic_payment_methods=automatic,
        status=Status.REQUIRES_PAYMENT_METHOD,
    )
    intent.client_secret = client_secret(intent.stripe_id)
    confirm = check.boolean(params, "confirm")
    if not confirm and params.get("return_url") not in (None, ""):
        raise StripeError("You can only set `return_url` when `confirm` is true.", param="return_url")
    intent.payment_method = from_params(call, params)
    if intent.payment_method is not None:
        intent.status = Status.REQUIRES_CONFIRMATION
    intent.save()
    emit(call, "setup_intent.created", setup_intent_object(intent))
    if confirm:
        _confirm_locked(call, intent, params, method_given=False)
    return setup_intent_object(intent)


def setup_intent_retrieve(call: Call, intent_id: str, params: check.Params) -> dict[str, Any]:
    check.only(params, ("client_secret",))
    intent = _intent(call, intent_id)
    check_client_secret(call, intent.client_secret, params, kind="SetupIntent")
    return setup_intent_object(intent)


def setup_intent_update(call: Call, intent_id: str, params: check.Params) -> dict[str, Any]:
    check.only(params, ("customer", "description", "metadata", "payment_method"))
    intent = _intent(call, intent_id, for_update=True)
    if {"customer", "payment_method"} & set(params) and intent.status not in CONFIRMABLE:
        raise _wrong_state(intent, "update", "updated", CONFIRMABLE)
    if "customer" in params:
        customer_id = check.string(params, "customer")
        intent.customer = customer_get(call, customer_id) if customer_id else None
    if "payment_method" in params:
        intent.payment_method = from_params(call, params)
        intent.status = Status.REQUIRES_CONFIRMATION if intent.payment_method else Status.REQUIRES_PAYMENT_METHOD
        intent.next_action = None
    if "description" in params:
        intent.description = check.string(params, "description", max_length=1000)
    intent.metadata = check.metadata(params, intent.metadata)
    intent.save()
    return setup_intent_object(intent)


def setup_intent_confirm(call: Call, intent_id: str, params: check.Params) -> dict[str, Any]:
    check.only(params, (*CONFIRM_PARAMS, "client_secret"))
    intent = _intent(call, intent_id, for_update=True)
    check_client_secret(call, intent.client_secret, params, kind="SetupIntent")
    _confirm_locked(call, intent, params, method_given=True)
    return setup_intent_object(intent)


def _confirm_locked(call: Call, intent: StripeSetupIntent, params: check.Params, *, method_given: bool) -> None:
    if intent.status not in CONFIRMABLE:
        raise _wrong_state(intent, "confirm", "confirmed", CONFIRMABLE)
    if method_given:
        intent.payment_method = from_params(call, params) or intent.payment_method
    if "return_url" in params:
        intent.return_url = return_url(params)
    method = intent.payment_method
    if method is None:
        raise StripeError(
            "You cannot confirm this SetupIntent because it's missing a payment method. Update the SetupIntent with "
            "a payment method and then confirm it again.",
            code="setup_intent_unexpected_state",
            param="payment_method",
            extra={"setup_intent": setup_intent_object(intent)},
        )
    redirects = (intent.automatic_payment_methods or {}).get("allow_redirects") == "always"
    if redirects and not intent.return_url and not call.publishable:
        raise StripeError(RETURN_URL_NEEDED.replace("PaymentIntent", "SetupIntent"), param="return_url")
    intent.last_setup_error = None
    intent.next_action = None
    decline = cards.setup_decline_for(method.scenario)
    if decline is not None:
        _fail(call, intent, method, decline.error(payment_method=payment_method_object(method)).as_dict())
        raise decline.error(setup_intent=setup_intent_object(intent), payment_method=payment_method_object(method))
    # Setting a card up is on session: the cards that want 3-D Secure on setup all ask for it here.
    if cards.needs_authentication(method.scenario, off_session=False, set_up=False) or wants_challenge(params):
        previous = intent.status
        intent.status = Status.REQUIRES_ACTION
        intent.next_action = challenge_action(call, intent.stripe_id, intent.return_url)
        intent.save()
        emit(call, "setup_intent.requires_action", setup_intent_object(intent), {"status": previous})
        return
    succeed(call, intent, method)


def succeed(call: Call, intent: StripeSetupIntent, method: StripePaymentMethod) -> None:
    previous = {"status": intent.status}
    if intent.customer is not None:
        attach(call, method, intent.customer, set_up=True)
    else:
        method.set_up = True
        method.save(update_fields=["set_up"])
    intent.status = Status.SUCCEEDED
    intent.next_action = None
    intent.save()
    emit(call, "setup_intent.succeeded", setup_intent_object(intent), previous)


def _fail(call: Call, intent: StripeSetupIntent, method: StripePaymentMethod | None, error: dict[str, Any]) -> None:
    previous = {"status": intent.status}
    intent.last_setup_error = error
    intent.status = Status.REQUIRES_PAYMENT_METHOD
    intent.payment_method = None
    intent.next_action = None
    intent.save()
    emit(call, "setup_intent.setup_failed", setup_intent_object(intent), previous)


def authentication_failed(call: Call, intent: StripeSetupIntent) -> None:
    error = StripeError(AUTHENTICATION_FAILED, type=CARD_ERROR, code="setup_intent_authentication_failure").as_dict()
    if intent.payment_method is not None:
        error["payment_method"] = payment_method_object(intent.payment_method)
    _fail(call, intent, intent.payment_method, error)


def setup_intent_cancel(call: Call, intent_id: str, params: check.Params) -> dict[str, Any]:
    check.only(params, ("cancellation_reason",))
    intent = _intent(call, intent_id, for_update=True)
    if intent.status not in CANCELABLE:
        raise _wrong_state(intent, "cancel", "canceled", CANCELABLE)
    previous = {"status": intent.status, "cancellation_reason": None}
    intent.status = Status.CANCELED
    intent.cancellation_reason = check.enum(
        params, "cancellation_reason", ("abandoned", "duplicate", "requested_by_customer")
    )
    intent.next_action = None
    intent.save()
    emit(call, "setup_intent.canceled", setup_intent_object(intent), previous)
    return setup_intent_object(intent)


def setup_intent_list(call: Call, params: check.Params) -> dict[str, Any]:
    check.only(params, (*lists.LIST_PARAMS, "customer", "payment_method", "created"))
    intents = StripeSetupIntent.objects.select_related(*RELATED).filter(
        account=call.account, **check.created_range(params)
    )
    for param, lookup in (("customer", "customer__stripe_id"), ("payment_method", "payment_method__stripe_id")):
        value = check.string(params, param)
        if value:
            intents = intents.filter(**{lookup: value})
    return lists.page(intents, params, url="/v1/setup_intents", kind="setup_intent", render=setup_intent_object)
