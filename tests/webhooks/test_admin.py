"""Ops in the admin: the webhook inspector, replays and resends behind a confirmation, by role."""

from __future__ import annotations

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME

from apps.accounts import roles
from apps.audit.actors import Actor
from apps.audit.models import AuditEvent
from apps.events.endpoints import webhook_endpoint_create
from apps.events.models import Event, WebhookDelivery
from apps.gateways.services import gateway_account_create
from apps.webhooks.models import IncomingWebhook
from tests.webhooks.helpers import anet_body, post_anet

pytestmark = pytest.mark.django_db


@pytest.fixture
def account(merchant):
    return gateway_account_create(
        merchant=merchant,
        gateway="authorizenet",
        mode="test",
        credentials={"api_login_id": "x", "transaction_key": "y", "signature_key": "SIGKEY"},
        actor=Actor.system("tests"),
    )


@pytest.fixture
def dead_webhook(client, account):
    response = post_anet(client, account, anet_body("40000000123", notification_id="n-admin"))
    webhook = IncomingWebhook.objects.get(public_id=response.json()["id"])
    IncomingWebhook.objects.filter(pk=webhook.pk).update(
        status="dead",
        attempts=8,
        last_error="GatewayRetryable: boom",
        last_traceback="Traceback (most recent call last):\n  boom",
    )
    return webhook


def test_the_inspector_shows_payload_headers_error_and_traceback(staff_client, dead_webhook):
    ops = staff_client(roles.OPS)

    listing = ops.get("/admin/webhooks/incomingwebhook/?status__exact=dead")
    page = ops.get(f"/admin/webhooks/incomingwebhook/{dead_webhook.pk}/change/")

    assert listing.status_code == 200 and dead_webhook.public_id.encode() in listing.content
    assert page.status_code == 200
    for expected in (b"&quot;notificationId&quot;: &quot;n-admin&quot;", b"x-anet-signature", b"GatewayRetryable: boom",
                     b"Traceback (most recent call last)"):  # fmt: skip
        assert expected in page.content


def test_replay_needs_a_confirmation_and_the_ops_role(staff_client, dead_webhook):
    data = {"action": "replay_selected", ACTION_CHECKBOX_NAME: [dead_webhook.pk]}
    viewer = staff_client(roles.FINANCE_VIEWER)
    refused = viewer.post("/admin/webhooks/incomingwebhook/", data)
    assert IncomingWebhook.objects.get(pk=dead_webhook.pk).status == "dead"

    ops = staff_client(roles.OPS)
    confirm = ops.post("/admin/webhooks/incomingwebhook/", data)
    assert IncomingWebhook.objects.get(pk=dead_webhook.pk).status == "dead"
    done = ops.post("/admin/webhooks/incomingwebhook/", {**data, "confirm": "yes"}, follow=True)

    assert refused.status_code in {200, 302, 403}
    assert b"Replay these notifications?" in confirm.content and dead_webhook.public_id.encode() in confirm.content
    assert b"1 notification(s) queued" in done.content
    assert IncomingWebhook.objects.get(pk=dead_webhook.pk).status == "received"
    assert AuditEvent.objects.filter(action="incoming_webhook.replayed", actor_type="staff").count() == 1


def test_deliveries_can_be_resent_by_ops(staff_client, merchant):
    endpoint = webhook_endpoint_create(
        merchant=merchant, url="https://example.com/h", event_types=["*"], actor=Actor.system("tests")
    ).endpoint
    event = Event.objects.create(
        merchant=merchant, type="payment.captured", object_type="payment", object_id="p", data={}
    )
    delivery = WebhookDelivery.objects.create(event=event, endpoint=endpoint, status="failed", attempts=9)
    ops = staff_client(roles.OPS)
    data = {"action": "resend_selected", ACTION_CHECKBOX_NAME: [delivery.pk]}

    confirm = ops.post("/admin/events/webhookdelivery/", data)
    ops.post("/admin/events/webhookdelivery/", {**data, "confirm": "yes"})
    page = ops.get(f"/admin/events/webhookdelivery/{delivery.pk}/change/")
    endpoints = ops.get("/admin/events/webhookendpoint/")
    events = ops.get(f"/admin/events/event/{event.pk}/change/")

    assert b"Resend these deliveries?" in confirm.content
    assert WebhookDelivery.objects.get(pk=delivery.pk).status == "pending"
    assert page.status_code == endpoints.status_code == events.status_code == 200
    assert b"https://example.com/h" in endpoints.content
