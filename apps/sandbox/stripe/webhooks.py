"""Webhook endpoints (`we_…`, created through the API or `stripe_webhook_endpoint_create`) and the
delivery of events to them, signed as Stripe signs:
`Stripe-Signature: t=<unix>,v1=<hex HMAC-SHA256 of "<t>.<body>" keyed with the whsec_ string>`.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from typing import Any, cast
from urllib.parse import urlsplit

from apps.sandbox.models import StripeNotification, StripeWebhookEndpoint
from apps.sandbox.notifications import post_notification

from . import lists
from . import params as check
from .context import Call
from .errors import StripeError, invalid_param, missing_param, resource_missing
from .ids import new_id
from .objects import webhook_endpoint_object

_EVENT_NAME = re.compile(r"^(\*|[a-z_]+(\.[a-z_]+)+|[a-z_]+\.\*)$")
USER_AGENT = "Stripe/1.0 (+https://stripe.com/docs/webhooks)"


def signature_header(body: bytes, secret: str, timestamp: int) -> str:
    signed = f"{timestamp}.".encode() + body
    return f"t={timestamp},v1={hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()}"


def deliver(notification: StripeNotification, *, copy: int = 0) -> int | None:
    """POST it once, freshly signed. Returns the HTTP status, None when the endpoint was unreachable."""
    body = bytes(notification.body)
    endpoint = notification.endpoint
    headers = {
        "Content-Type": "application/json; charset=utf-8",
        "Stripe-Signature": signature_header(body, endpoint.secret, int(time.time())),
        "User-Agent": USER_AGENT,
    }
    # post_notification works on any SandboxNotification; its annotation names the older two.
    return post_notification(cast(Any, notification), url=endpoint.url, body=body, headers=headers, copy=copy)


def new_secret() -> str:
    return new_id("whsec_", 32)


def _url(params: check.Params, *, required: bool) -> str | None:
    url = check.string(params, "url", required=required, max_length=2048)
    if url is not None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise invalid_param("url", f"Invalid URL: {url}. URLs must begin with http:// or https://.")
    return url


def _events(params: check.Params, *, required: bool) -> list[str] | None:
    if "enabled_events" not in params:
        if required:
            raise missing_param("enabled_events")
        return None
    events = [str(event) for event in check.array(params, "enabled_events")]
    if not events:
        raise missing_param("enabled_events")
    for position, event in enumerate(events):
        if not _EVENT_NAME.match(event):
            raise invalid_param(f"enabled_events[{position}]", f"Invalid enabled_events[{position}]: {event}")
    return events


def _endpoint(call: Call, endpoint_id: str) -> StripeWebhookEndpoint:
    endpoint = StripeWebhookEndpoint.objects.filter(account=call.account, stripe_id=endpoint_id, deleted=False).first()
    if endpoint is None:
        raise resource_missing("webhook_endpoint", endpoint_id)
    return endpoint


def webhook_endpoint_create(call: Call, params: check.Params) -> dict[str, Any]:
    check.only(params, ("url", "enabled_events", "description", "api_version", "metadata", "connect"))
    if check.boolean(params, "connect"):
        raise StripeError("The sandbox has no Connect accounts.", param="connect")
    url, events = _url(params, required=True), _events(params, required=True)
    if url is None:
        raise missing_param("url")
    endpoint = StripeWebhookEndpoint.objects.create(
        account=call.account,
        stripe_id=new_id("we_"),
        url=url,
        enabled_events=events,
        secret=new_secret(),
        description=check.string(params, "description"),
        api_version=check.string(params, "api_version"),
        metadata=check.metadata(params),
    )
    return webhook_endpoint_object(endpoint, with_secret=True)


def webhook_endpoint_retrieve(call: Call, endpoint_id: str, params: check.Params) -> dict[str, Any]:
    return webhook_endpoint_object(_endpoint(call, endpoint_id))


def webhook_endpoint_update(call: Call, endpoint_id: str, params: check.Params) -> dict[str, Any]:
    check.only(params, ("url", "enabled_events", "description", "metadata", "disabled"))
    endpoint = _endpoint(call, endpoint_id)
    url, events = _url(params, required=False), _events(params, required=False)
    if url is not None:
        endpoint.url = url
    if events is not None:
        endpoint.enabled_events = events
    if "description" in params:
        endpoint.description = check.string(params, "description")
    if "disabled" in params:
        endpoint.status = "disabled" if check.boolean(params, "disabled") else "enabled"
    endpoint.metadata = check.metadata(params, endpoint.metadata)
    endpoint.save()
    return webhook_endpoint_object(endpoint)


def webhook_endpoint_delete(call: Call, endpoint_id: str, params: check.Params) -> dict[str, Any]:
    endpoint = _endpoint(call, endpoint_id)
    endpoint.deleted = True
    endpoint.save(update_fields=["deleted"])
    return webhook_endpoint_object(endpoint)


def webhook_endpoint_list(call: Call, params: check.Params) -> dict[str, Any]:
    check.only(params, lists.LIST_PARAMS)
    endpoints = StripeWebhookEndpoint.objects.filter(account=call.account, deleted=False)
    return lists.page(
        endpoints, params, url="/v1/webhook_endpoints", kind="webhook_endpoint", render=webhook_endpoint_object
    )
