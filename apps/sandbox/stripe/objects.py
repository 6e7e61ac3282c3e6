"""One rendering function per object, shared by API answers, error bodies and event payloads.

Shapes follow Stripe's OpenAPI schemas of API version 2023-08-16: every field Stripe has for
what the sandbox does is present (null where Stripe would have null), none it lacks is added.
Expandable fields carry ids; `expand.py` swaps them for objects on request. Charges, refunds,
balance transactions and disputes are in money_objects.py.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from apps.sandbox.models import (
    StripeCustomer,
    StripeEvent,
    StripePaymentIntent,
    StripePaymentMethod,
    StripeSetupIntent,
    StripeWebhookEndpoint,
)

API_VERSION = "2023-08-16"


def unix(moment: datetime | None) -> int | None:
    return int(moment.timestamp()) if moment is not None else None


def related_id(related: Any) -> str | None:
    return related.stripe_id if related is not None else None


def list_object(data: Iterable[dict[str, Any]], *, url: str, has_more: bool) -> dict[str, Any]:
    return {"object": "list", "data": list(data), "has_more": has_more, "url": url}


def search_result(data: Iterable[dict[str, Any]], *, url: str, next_page: str | None) -> dict[str, Any]:
    return {
        "object": "search_result",
        "data": list(data),
        "has_more": next_page is not None,
        "next_page": next_page,
        "url": url,
    }


def _address(address: dict[str, Any] | None) -> dict[str, Any]:
    fields = ("city", "country", "line1", "line2", "postal_code", "state")
    return {field: (address or {}).get(field) for field in fields}


def billing_details(method: StripePaymentMethod) -> dict[str, Any]:
    details = method.billing_details or {}
    return {
        "address": _address(details.get("address")),
        "email": details.get("email"),
        "name": details.get("name"),
        "phone": details.get("phone"),
    }


def payment_method_object(method: StripePaymentMethod) -> dict[str, Any]:
    return {
        "id": method.stripe_id,
        "object": "payment_method",
        "billing_details": billing_details(method),
        "card": {
            "brand": method.brand,
            "checks": {
                "address_line1_check": None,
                "address_postal_code_check": None,
                "cvc_check": "pass" if method.cvc_supplied else "unchecked",
            },
            "country": method.country,
            "exp_month": method.exp_month,
            "exp_year": method.exp_year,
            "fingerprint": method.fingerprint,
            "funding": method.funding,
            "generated_from": None,
            "last4": method.last4,
            "networks": {"available": [method.brand], "preferred": None},
            "three_d_secure_usage": {"supported": True},
            "wallet": None,
        },
        "created": unix(method.created_at),
        "customer": related_id(method.customer),
        "livemode": False,
        "metadata": method.metadata,
        "type": method.type,
    }


def customer_object(customer: StripeCustomer) -> dict[str, Any]:
    if customer.deleted:
        return {"id": customer.stripe_id, "object": "customer", "deleted": True}
    return {
        "id": customer.stripe_id,
        "object": "customer",
        "address": None,
        "balance": 0,
        "created": unix(customer.created_at),
        "currency": None,
        "default_source": None,
        "delinquent": False,
        "description": customer.description,
        "discount": None,
        "email": customer.email,
        "invoice_prefix": hashlib.sha256(customer.stripe_id.encode()).hexdigest()[:8].upper(),
        "invoice_settings": {
            "custom_fields": None,
            "default_payment_method": customer.default_payment_method,
            "footer": None,
            "rendering_options": None,
        },
        "livemode": False,
        "metadata": customer.metadata,
        "name": customer.name,
        "next_invoice_sequence": 1,
        "phone": customer.phone,
        "preferred_locales": [],
        "shipping": None,
        "tax_exempt": "none",
        "test_clock": None,
    }


def _intent_common(intent: StripePaymentIntent | StripeSetupIntent) -> dict[str, Any]:
    return {
        "id": intent.stripe_id,
        "automatic_payment_methods": intent.automatic_payment_methods,
        "cancellation_reason": intent.cancellation_reason,
        "client_secret": intent.client_secret,
        "created": unix(intent.created_at),
        "customer": related_id(intent.customer),
        "description": intent.description,
        "livemode": False,
        "metadata": intent.metadata,
        "next_action": intent.next_action,
        "payment_method": related_id(intent.payment_method),
        "payment_method_types": intent.payment_method_types,
        "status": intent.status,
    }


def payment_intent_object(intent: StripePaymentIntent) -> dict[str, Any]:
    body = {
        **_intent_common(intent),
        "object": "payment_intent",
        "amount": intent.amount,
        "amount_capturable": intent.amount_capturable,
        "amount_details": {"tip": {}},
        "amount_received": intent.amount_received,
        "application": None,
        "application_fee_amount": None,
        "canceled_at": unix(intent.canceled_at),
        "capture_method": intent.capture_method,
        "confirmation_method": intent.confirmation_method,
        "currency": intent.currency,
        "invoice": None,
        "last_payment_error": intent.last_payment_error,
        "latest_charge": related_id(intent.latest_charge),
        "on_behalf_of": None,
        "payment_method_options": {
            "card": {
                "installments": None,
                "mandate_options": None,
                "network": None,
                "request_three_d_secure": intent.request_three_d_secure,
            }
        },
        "processing": None,
        "receipt_email": intent.receipt_email,
        "review": None,
        "setup_future_usage": intent.setup_future_usage,
        "shipping": None,
        "statement_descriptor": intent.statement_descriptor,
        "statement_descriptor_suffix": None,
        "transfer_data": None,
        "transfer_group": None,
    }
    return dict(sorted(body.items()))


def setup_intent_object(intent: StripeSetupIntent) -> dict[str, Any]:
    body = {
        **_intent_common(intent),
        "object": "setup_intent",
        "application": None,
        "flow_directions": None,
        "last_setup_error": intent.last_setup_error,
        "latest_attempt": None,
        "mandate": None,
        "on_behalf_of": None,
        "payment_method_options": {
            "card": {"mandate_options": None, "network": None, "request_three_d_secure": "automatic"}
        },
        "single_use_mandate": None,
        "usage": intent.usage,
    }
    return dict(sorted(body.items()))


def webhook_endpoint_object(endpoint: StripeWebhookEndpoint, *, with_secret: bool = False) -> dict[str, Any]:
    if endpoint.deleted:
        return {"id": endpoint.stripe_id, "object": "webhook_endpoint", "deleted": True}
    body = {
        "id": endpoint.stripe_id,
        "object": "webhook_endpoint",
        "api_version": endpoint.api_version,
        "application": None,
        "created": unix(endpoint.created_at),
        "description": endpoint.description,
        "enabled_events": endpoint.enabled_events,
        "livemode": False,
        "metadata": endpoint.metadata,
        "status": endpoint.status,
        "url": endpoint.url,
    }
    if with_secret:
        body["secret"] = endpoint.secret
    return body


def event_object(event: StripeEvent) -> dict[str, Any]:
    return {
        "id": event.stripe_id,
        "object": "event",
        "api_version": API_VERSION,
        "created": unix(event.created_at),
        "data": event.data,
        "livemode": False,
        "pending_webhooks": event.pending_webhooks,
        "request": {"id": event.request_id, "idempotency_key": event.idempotency_key},
        "type": event.type,
    }
