"""Stripe webhooks in: Stripe-Signature verified (HMAC-SHA256 of `t.body`, any v1, 300 s), read in
our words, stored once per event id at /webhooks/stripe/<account>."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from apps.gateways.base import InvalidSignature, MalformedNotification, NotificationKind
from apps.gateways.services import gateway_account_set_credentials
from apps.gateways.stripe import parse_notification, read_notification, webhook_signature
from apps.webhooks.models import IncomingWebhook

from .conftest import ACTOR, signed

SECRET = "whsec_test_secret"


def event(event_type: str, obj: dict[str, Any], event_id: str = "evt_1") -> dict[str, Any]:
    return {
        "id": event_id,
        "object": "event",
        "api_version": "2023-08-16",
        "created": int(time.time()),
        "data": {"object": obj},
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "type": event_type,
    }


INTENT = {"id": "pi_1", "object": "payment_intent", "status": "succeeded", "metadata": {"reference": "chabc"}}


def parse(body: bytes, header: str, secret: str = SECRET) -> Any:
    return parse_notification(body, {"Stripe-Signature": header}, {"webhook_secret": secret})


def test_a_signed_event_is_read_in_our_words() -> None:
    body, header = signed(event("payment_intent.succeeded", INTENT), SECRET)
    notification = parse(body, header)
    assert notification.kind is NotificationKind.PAYMENT_CAPTURED
    assert (notification.event_id, notification.object_id, notification.reference) == ("evt_1", "pi_1", "chabc")
    assert notification.order_id == "pi_1"  # a checkout's order is its PaymentIntent


def test_any_of_several_v1_signatures_verifies() -> None:
    body, header = signed(event("payment_intent.succeeded", INTENT), SECRET)
    t, v1 = header.split(",")
    assert parse(body, f"{t},v1={'0' * 64},{v1},v0=ignored").event_id == "evt_1"


@pytest.mark.parametrize(
    "tamper",
    [
        lambda body, header: (body + b" ", header),  # the body changed
        lambda body, header: (body, header.replace("v1=", "v0=")),  # no v1 at all
        lambda body, header: (body, ""),  # no header
        lambda body, header: (body, webhook_signature(body, "whsec_other", int(time.time()))),  # another secret
        lambda body, header: (body, webhook_signature(body, SECRET, int(time.time()) - 301)),  # too old
    ],
)
def test_bad_signatures_are_refused(tamper: Any) -> None:
    body, header = signed(event("payment_intent.succeeded", INTENT), SECRET)
    body, header = tamper(body, header)
    with pytest.raises(InvalidSignature):
        parse(body, header)


def test_no_secret_configured_refuses_everything() -> None:
    body, header = signed(event("payment_intent.succeeded", INTENT), SECRET)
    with pytest.raises(InvalidSignature):
        parse(body, header, secret="")


def test_signed_but_not_an_event_is_malformed() -> None:
    body = b'{"object": "payment_intent"}'
    with pytest.raises(MalformedNotification):
        parse(body, webhook_signature(body, SECRET, int(time.time())))
    with pytest.raises(MalformedNotification):
        read_notification(b"not json", {})


@pytest.mark.parametrize(
    ("event_type", "obj", "kind", "object_id", "charge_id"),
    [
        ("payment_intent.requires_action", INTENT, NotificationKind.PAYMENT_ACTION_REQUIRED, "pi_1", ""),
        ("payment_intent.payment_failed", INTENT, NotificationKind.PAYMENT_FAILED, "pi_1", ""),
        ("payment_intent.canceled", INTENT, NotificationKind.PAYMENT_VOIDED, "pi_1", ""),
        ("payment_intent.amount_capturable_updated", INTENT, NotificationKind.PAYMENT_AUTHORIZED, "pi_1", ""),
        (
            "charge.refunded",
            {"id": "ch_1", "object": "charge", "payment_intent": "pi_1"},
            NotificationKind.REFUND_SUCCEEDED,
            "pi_1",
            "",
        ),
        (
            "charge.refund.updated",
            {"id": "re_1", "object": "refund", "payment_intent": "pi_1", "status": "failed"},
            NotificationKind.REFUND_FAILED,
            "re_1",
            "pi_1",
        ),
        (
            "setup_intent.succeeded",
            {"id": "seti_1", "object": "setup_intent"},
            NotificationKind.CARD_SAVED,
            "seti_1",
            "",
        ),
        (
            "charge.dispute.created",
            {"id": "dp_1", "object": "dispute", "payment_intent": "pi_1", "charge": "ch_1"},
            NotificationKind.DISPUTE_OPENED,
            "dp_1",
            "pi_1",
        ),
        ("customer.created", {"id": "cus_1", "object": "customer"}, NotificationKind.OTHER, "cus_1", ""),
    ],
)
def test_event_kinds(
    event_type: str, obj: dict[str, Any], kind: NotificationKind, object_id: str, charge_id: str
) -> None:
    notification = read_notification(json.dumps(event(event_type, obj)).encode(), {})
    assert (notification.kind, notification.object_id, notification.charge_id) == (kind, object_id, charge_id)


@pytest.mark.django_db
def test_the_endpoint_stores_each_event_once(client: Any, stripe_account: Any) -> None:
    gateway_account_set_credentials(account=stripe_account, credentials={"webhook_secret": SECRET}, actor=ACTOR)
    url = f"/webhooks/stripe/{stripe_account.public_id}"
    body, header = signed(event("customer.created", {"id": "cus_1", "object": "customer"}, "evt_once"), SECRET)
    first = client.post(url, body, content_type="application/json", HTTP_STRIPE_SIGNATURE=header)
    again = client.post(url, body, content_type="application/json", HTTP_STRIPE_SIGNATURE=header)
    assert first.status_code == again.status_code == 200
    assert (first.json()["duplicate"], again.json()["duplicate"]) == (False, True)
    assert IncomingWebhook.objects.filter(gateway="stripe", event_id="evt_once").count() == 1
    bad = client.post(url, body, content_type="application/json", HTTP_STRIPE_SIGNATURE=header.replace("v1=", "v1=0"))
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "signature_invalid"


def test_a_signature_that_is_not_ascii_is_refused_not_a_crash() -> None:
    body, _ = signed(event("payment_intent.succeeded", INTENT), SECRET)
    with pytest.raises(InvalidSignature):
        parse(body, f"t={int(time.time())},v1=\u00e9")


def test_an_event_id_longer_than_any_stripe_sends_is_malformed() -> None:
    body, header = signed(event("payment_intent.succeeded", INTENT, event_id="evt_" + "x" * 120), SECRET)
    with pytest.raises(MalformedNotification):
        parse(body, header)
