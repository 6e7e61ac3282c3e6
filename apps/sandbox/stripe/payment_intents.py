"""PaymentIntents: create, retrieve, update, list, search, capture, cancel. Confirmation, its card
outcomes and 3-D Secure are in confirm.py."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.utils import timezone

from apps.sandbox.models import StripePaymentIntent

from . import charges, lists, search
from . import params as check
from .confirm import CONFIRM_PARAMS, confirm_locked, payment_method_types, three_d_secure_option, wrong_state
from .context import Call, check_client_secret
from .errors import StripeError, resource_missing
from .events import emit
from .ids import client_secret, new_id
from .money_objects import charge_object
from .objects import payment_intent_object
from .payment_methods import customer_get, from_params

Status = StripePaymentIntent.Status
RELATED = ("customer", "payment_method", "latest_charge")
CAPTURE_METHODS = ("automatic", "automatic_async", "manual")
CANCELLATION_REASONS = ("abandoned", "duplicate", "fraudulent", "requested_by_customer")
CANCELABLE = (
    Status.REQUIRES_PAYMENT_METHOD,
    Status.REQUIRES_CAPTURE,
    Status.REQUIRES_CONFIRMATION,
    Status.REQUIRES_ACTION,
    Status.PROCESSING,
)
MODIFIABLE = (Status.REQUIRES_PAYMENT_METHOD, Status.REQUIRES_CONFIRMATION, Status.REQUIRES_ACTION)
CREATE_PARAMS = (
    "amount",
    "currency",
    "capture_method",
    "confirmation_method",
    "customer",
    "description",
    "metadata",
    "receipt_email",
    "statement_descriptor",
    "automatic_payment_methods",
    "payment_method_types",
    "confirm",
    *CONFIRM_PARAMS,
)


def intent_get(call: Call, intent_id: str, *, for_update: bool = False) -> StripePaymentIntent:
    intents = StripePaymentIntent.objects.select_related(*RELATED).filter(account=call.account, stripe_id=intent_id)
    found = (intents.select_for_update(of=("self",)) if for_update else intents).first()
    if found is None:
        raise resource_missing("payment_intent", intent_id)
    return found


def payment_intent_create(call: Call, params: check.Params) -> dict[str, Any]:
    check.only(params, CREATE_PARAMS)
    currency = check.currency(params)
    amount = check.amount(params, currency)
    customer_id = check.string(params, "customer")
    methods, automatic = payment_method_types(params)
    intent = StripePaymentIntent(
        account=call.account,
        amount=amount,
        currency=currency,
        capture_method=check.enum(params, "capture_method", CAPTURE_METHODS, default="automatic"),
        confirmation_method=check.enum(params, "confirmation_method", ("automatic", "manual"), default="automatic"),
        customer=customer_get(call, customer_id) if customer_id else None,
        description=check.string(params, "description", max_length=1000),
        metadata=check.metadata(params),
        receipt_email=check.string(params, "receipt_email"),
        statement_descriptor=check.string(params, "statement_descriptor", max_length=22),
        payment_method_types=methods,
        automatic_payment_methods=automatic,
        request_three_d_secure=three_d_secure_option(params) or "automatic",
        status=Status.REQUIRES_PAYMENT_METHOD,
    )
    confirm = check.boolean(params, "confirm")
    if not confirm:
        for param in ("off_session", "return_url", "error_on_requires_action", "mandate_data"):
            if params.get(param) not in (None, ""):
                raise StripeError(f"You can only set `{param}` when `confirm` is true.", param=param)
    method = from_params(call, params)
    intent.stripe_id = new_id("pi_")
    intent.client_secret = client_secret(intent.stripe_id)
    intent.payment_method = method
    intent.setup_future_usage = check.enum(params, "setup_future_usage", ("on_session", "off_session"))
    if method is not None:
        intent.status = Status.REQUIRES_CONFIRMATION
    intent.save()
    emit(call, "payment_intent.created", payment_intent_object(intent))
    if confirm:
        # The payment method is already resolved (a `pm_card_*` id must not make a second card).
        confirm_locked(call, intent, params, method_given=False)
    return payment_intent_object(intent)


def payment_intent_retrieve(call: Call, intent_id: str, params: check.Params) -> dict[str, Any]:
    check.only(params, ("client_secret",))
    intent = intent_get(call, intent_id)
    check_client_secret(call, intent.client_secret, params, kind="PaymentIntent")
    return payment_intent_object(intent)


def payment_intent_update(call: Call, intent_id: str, params: check.Params) -> dict[str, Any]:
    check.only(
        params,
        (
            "amount",
            "currency",
            "customer",
            "description",
            "metadata",
            "payment_method",
            "receipt_email",
            "setup_future_usage",
            "statement_descriptor",
            "capture_method",
        ),
    )
    intent = intent_get(call, intent_id, for_update=True)
    money_fields = {"amount", "currency", "customer", "payment_method", "setup_future_usage", "capture_method"}
    if money_fields & set(params) and intent.status not in MODIFIABLE:
        raise wrong_state(intent, "update", MODIFIABLE)
    if "currency" in params:
        intent.currency = check.currency(params)
    if "amount" in params:
        intent.amount = check.amount(params, intent.currency)
    if "customer" in params:
        customer_id = check.string(params, "customer")
        intent.customer = customer_get(call, customer_id) if customer_id else None
    if "capture_method" in params:
        intent.capture_method = check.enum(params, "capture_method", CAPTURE_METHODS, default="automatic")
    if "setup_future_usage" in params:
        intent.setup_future_usage = check.enum(params, "setup_future_usage", ("on_session", "off_session"))
    for field in ("description", "receipt_email", "statement_descriptor"):
        if field in params:
            setattr(intent, field, check.string(params, field))
    if "payment_method" in params:
        intent.payment_method = from_params(call, params)
        intent.status = Status.REQUIRES_CONFIRMATION if intent.payment_method else Status.REQUIRES_PAYMENT_METHOD
        intent.next_action = None
    intent.metadata = check.metadata(params, intent.metadata)
    intent.save()
    return payment_intent_object(intent)


def payment_intent_confirm(call: Call, intent_id: str, params: check.Params) -> dict[str, Any]:
    check.only(params, (*CONFIRM_PARAMS, "client_secret", "receipt_email"))
    intent = intent_get(call, intent_id, for_update=True)
    check_client_secret(call, intent.client_secret, params, kind="PaymentIntent")
    if "receipt_email" in params:
        intent.receipt_email = check.string(params, "receipt_email")
    confirm_locked(call, intent, params, method_given="payment_method" in params or "payment_method_data" in params)
    return payment_intent_object(intent)


def payment_intent_capture(call: Call, intent_id: str, params: check.Params) -> dict[str, Any]:
    check.only(params, ("amount_to_capture", "metadata", "statement_descriptor", "final_capture"))
    intent = intent_get(call, intent_id, for_update=True)
    if intent.status != Status.REQUIRES_CAPTURE:
        raise wrong_state(intent, "capture", (Status.REQUIRES_CAPTURE,))
    amount = check.integer(params, "amount_to_capture", minimum=1)
    amount = intent.amount_capturable if amount is None else amount
    if amount > intent.amount_capturable:
        raise StripeError(
            f"The amount_to_capture ({amount}) must be less than or equal to the PaymentIntent's amount_capturable "
            f"({intent.amount_capturable}).",
            code="amount_too_large",
            param="amount_to_capture",
        )
    charge = charges.charge_lock(intent.latest_charge_id)
    charges.capture(call, charge, amount)
    intent.amount_received = amount
    intent.amount_capturable = 0
    intent.status = Status.SUCCEEDED
    intent.metadata = check.metadata(params, intent.metadata)
    intent.save()
    emit(call, "charge.captured", charge_object(charge), {"captured": False, "amount_captured": 0})
    emit(
        call,
        "payment_intent.succeeded",
        payment_intent_object(intent),
        {"status": Status.REQUIRES_CAPTURE, "amount_capturable": amount, "amount_received": 0},
    )
    return payment_intent_object(intent)


def payment_intent_cancel(call: Call, intent_id: str, params: check.Params) -> dict[str, Any]:
    check.only(params, ("cancellation_reason",))
    intent = intent_get(call, intent_id, for_update=True)
    if intent.status not in CANCELABLE:
        raise wrong_state(intent, "cancel", CANCELABLE)
    previous: dict[str, Any] = {"status": intent.status, "cancellation_reason": None, "canceled_at": None}
    if intent.status == Status.REQUIRES_CAPTURE and intent.latest_charge is not None:
        charges.release(call, charges.charge_lock(intent.latest_charge_id))
        previous["amount_capturable"] = intent.amount_capturable
        intent.amount_capturable = 0
    intent.status = Status.CANCELED
    intent.cancellation_reason = check.enum(params, "cancellation_reason", CANCELLATION_REASONS)
    intent.canceled_at = timezone.now()
    intent.next_action = None
    intent.save()
    emit(call, "payment_intent.canceled", payment_intent_object(intent), previous)
    return payment_intent_object(intent)


def payment_intent_list(call: Call, params: check.Params) -> dict[str, Any]:
    check.only(params, (*lists.LIST_PARAMS, "customer", "created"))
    intents = StripePaymentIntent.objects.select_related(*RELATED).filter(
        account=call.account, **check.created_range(params)
    )
    customer_id = check.string(params, "customer")
    if customer_id:
        intents = intents.filter(customer__stripe_id=customer_id)
    return lists.page(intents, params, url="/v1/payment_intents", kind="payment_intent", render=payment_intent_object)


def payment_intent_search(call: Call, params: check.Params) -> dict[str, Any]:
    check.only(params, ("query", "limit", "page"))
    query = check.required(params, "query")
    intents = StripePaymentIntent.objects.select_related(*RELATED).filter(account=call.account)
    if call.search_lag_seconds:
        intents = intents.filter(created_at__lt=timezone.now() - timedelta(seconds=call.search_lag_seconds))
    condition = search.parse(query, search.PAYMENT_INTENT_FIELDS)
    return lists.search_page(intents, condition, params, url="/v1/payment_intents/search", render=payment_intent_object)
