"""The Stripe sandbox's events and webhooks: endpoints through the API, events through the API, and
deliveries signed as Stripe signs them (verified with the SDK's `stripe.Webhook.construct_event`).

Deliveries are queued on Celery; most tests record what would be queued and run the task body
themselves, in the order a broker would release it; one runs a real worker.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import stripe
from django.conf import settings

from apps.sandbox import tasks
from apps.sandbox.models import StripeCharge, StripeNotification
from apps.sandbox.stripe.services import stripe_dispute_create, stripe_webhook_endpoint_create

pytestmark = pytest.mark.django_db(transaction=True)

CREATE = {
    "amount": 1000,
    "currency": "usd",
    "payment_method": "pm_card_visa",
    "confirm": True,
    "payment_method_types": ["card"],
}


@dataclass
class Receiver:
    url: str
    statuses: list[int] = field(default_factory=list)  # answered in turn, then 200
    received: list[tuple[dict[str, str], bytes]] = field(default_factory=list)

    def types(self) -> list[str]:
        return [json.loads(body)["type"] for _, body in self.received]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            state.received.append(({k.lower(): v for k, v in self.headers.items()}, body))
            self.send_response(state.statuses.pop(0) if state.statuses else 200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/webhooks/stripe"
    yield state
    server.shutdown()
    server.server_close()


@dataclass
class Queue:
    """What would have gone to the broker: (countdown, notification pk, copy), in enqueue order."""

    sent: list[tuple[float, int, int]] = field(default_factory=list)

    def run(self) -> None:
        batch, self.sent = sorted(self.sent, key=lambda item: item[0]), []
        for _, pk, copy in batch:
            tasks.stripe_notification_deliver.run(pk, copy=copy)


@pytest.fixture
def queue(monkeypatch: pytest.MonkeyPatch) -> Queue:
    from config.celery import app as celery_app

    recorded = Queue()

    def send_task(name: str, args: tuple[int], kwargs: dict[str, int], countdown: float | None = None) -> None:
        assert name == "apps.sandbox.tasks.stripe_notification_deliver"
        recorded.sent.append((countdown or 0, args[0], kwargs["copy"]))

    monkeypatch.setattr(celery_app, "send_task", send_task)
    return recorded


@pytest.fixture
def client(stripe_sandbox):
    return stripe.StripeClient(
        stripe_sandbox.secret_key, base_addresses={"api": settings.STRIPE_TEST_API_BASE}, max_network_retries=0
    )


def test_endpoints_are_managed_through_the_api_and_the_secret_is_shown_once(client):
    created = client.v1.webhook_endpoints.create(
        params={
            "url": "https://shop.example/hooks",
            "enabled_events": ["payment_intent.succeeded"],
            "description": "shop",
            "api_version": "2023-08-16",
        }
    )
    retrieved = client.v1.webhook_endpoints.retrieve(created.id)
    updated = client.v1.webhook_endpoints.update(created.id, params={"enabled_events": ["*"], "disabled": True})
    listed = client.v1.webhook_endpoints.list()
    deleted = client.v1.webhook_endpoints.delete(created.id)

    assert created.id.startswith("we_") and created.secret.startswith("whsec_")
    assert (created.status, created.api_version, created.url) == ("enabled", "2023-08-16", "https://shop.example/hooks")
    assert "secret" not in retrieved and "secret" not in listed.data[0]
    assert (updated.enabled_events, updated.status) == (["*"], "disabled")
    assert [endpoint.id for endpoint in listed.data] == [created.id]
    assert deleted.deleted is True
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.webhook_endpoints.retrieve(created.id)
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.webhook_endpoints.create(params={"url": "ftp://x", "enabled_events": ["*"]})
    assert raised.value.param == "url"


def test_events_record_each_change_with_its_request_and_are_listed_by_type(client):
    intent = client.v1.payment_intents.create(params=CREATE, options={"idempotency_key": "evt-1"})

    succeeded = client.v1.events.list(params={"type": "payment_intent.succeeded"})
    every_intent_event = client.v1.events.list(params={"type": "payment_intent.*"})
    event = client.v1.events.retrieve(succeeded.data[0].id)

    assert [e.type for e in every_intent_event.data] == ["payment_intent.succeeded", "payment_intent.created"]
    assert event.id.startswith("evt_") and event.object == "event" and event.api_version == "2023-08-16"
    assert event.data.object.id == intent.id and event.data.object.status == "succeeded"
    assert event.data.previous_attributes.status == "requires_confirmation"
    assert event.request.id == intent.last_response.request_id and event.request.idempotency_key == "evt-1"
    assert event.livemode is False and event.pending_webhooks == 0


def test_deliveries_are_signed_as_stripe_signs_and_verify_with_the_sdk(client, stripe_sandbox, receiver, queue):
    endpoint, secret = stripe_webhook_endpoint_create(
        account=stripe_sandbox, url=receiver.url, enabled_events=["payment_intent.succeeded", "charge.succeeded"]
    )
    stripe_webhook_endpoint_create(account=stripe_sandbox, url=receiver.url, enabled_events=["refund.created"])

    intent = client.v1.payment_intents.create(params=CREATE)
    queue.run()

    assert receiver.types() == ["charge.succeeded", "payment_intent.succeeded"]
    for headers, body in receiver.received:
        assert headers["content-type"].startswith("application/json")
        event = stripe.Webhook.construct_event(body, headers["stripe-signature"], secret)
        assert event.type in ("charge.succeeded", "payment_intent.succeeded")
        with pytest.raises(stripe.SignatureVerificationError):
            stripe.Webhook.construct_event(body, headers["stripe-signature"], "whsec_other")
    delivered = json.loads(receiver.received[1][1])
    assert delivered["data"]["object"]["id"] == intent.id and delivered["pending_webhooks"] == 1
    assert set(StripeNotification.objects.values_list("status", flat=True)) == {"delivered"}
    assert StripeNotification.objects.filter(endpoint=endpoint).count() == 2


def test_a_failed_delivery_is_retried_until_the_endpoint_answers_2xx(
    stripe_sandbox, client, receiver, queue, monkeypatch
):
    _, secret = stripe_webhook_endpoint_create(
        account=stripe_sandbox, url=receiver.url, enabled_events=["payment_intent.succeeded"]
    )
    receiver.statuses = [500]
    client.v1.payment_intents.create(params=CREATE)

    class Retry(Exception):
        pass

    retried: list[int] = []

    def retry(countdown: int) -> Exception:
        retried.append(countdown)
        return Retry()

    monkeypatch.setattr(tasks.stripe_notification_deliver, "retry", retry)
    ((_, pk, _),) = queue.sent
    with pytest.raises(Retry):
        tasks.stripe_notification_deliver.run(pk)
    tasks.stripe_notification_deliver.run(pk)

    assert len(receiver.received) == 2 and retried and retried[0] > 0
    notification = StripeNotification.objects.get()
    assert (notification.status, notification.attempts) == ("delivered", 2)
    second = receiver.received[1][0]["stripe-signature"]
    assert receiver.received[0][1] == receiver.received[1][1]  # the same event, freshly signed each time
    stripe.Webhook.construct_event(receiver.received[1][1], second, secret)


def test_faults_duplicate_and_reorder_deliveries(stripe_sandbox, client, receiver, queue, sandbox_fault):
    stripe_webhook_endpoint_create(
        account=stripe_sandbox, url=receiver.url, enabled_events=["charge.succeeded", "payment_intent.succeeded"]
    )
    sandbox_fault("webhook_delay", value=5000, match="charge.succeeded", gateway="stripe-webhooks")
    sandbox_fault("webhook_duplicate", value=1, match="payment_intent.succeeded", gateway="stripe-webhooks")

    client.v1.payment_intents.create(params=CREATE)
    queue.run()

    assert receiver.types() == ["payment_intent.succeeded", "payment_intent.succeeded", "charge.succeeded"]
    ids = [json.loads(body)["id"] for _, body in receiver.received]
    assert ids[0] == ids[1] != ids[2]


def test_a_dispute_opens_on_a_charge_with_its_event_and_balance_withdrawal(stripe_sandbox, client, receiver, queue):
    _, secret = stripe_webhook_endpoint_create(
        account=stripe_sandbox, url=receiver.url, enabled_events=["charge.dispute.created"]
    )
    intent = client.v1.payment_intents.create(params=CREATE)

    dispute = stripe_dispute_create(StripeCharge.objects.get(stripe_id=intent.latest_charge))
    queue.run()

    ((headers, body),) = receiver.received
    event = stripe.Webhook.construct_event(body, headers["stripe-signature"], secret)
    assert event.type == "charge.dispute.created" and event.data.object.id == dispute.stripe_id
    assert event.request.id is None
    read = client.v1.disputes.retrieve(dispute.stripe_id)
    assert (read.charge, read.payment_intent, read.amount, read.status) == (
        intent.latest_charge,
        intent.id,
        1000,
        "needs_response",
    )
    (withdrawal,) = read.balance_transactions
    assert (withdrawal.type, withdrawal.amount, withdrawal.fee, withdrawal.net) == ("adjustment", -1000, 1500, -2500)
    assert client.v1.charges.retrieve(intent.latest_charge).disputed is True


@pytest.mark.usefixtures("celery_worker")
def test_a_real_worker_delivers_the_events(stripe_sandbox, client, receiver):
    _, secret = stripe_webhook_endpoint_create(
        account=stripe_sandbox, url=receiver.url, enabled_events=["payment_intent.succeeded"]
    )

    client.v1.payment_intents.create(params=CREATE)
    deadline = time.monotonic() + 15
    while not receiver.received and time.monotonic() < deadline:
        time.sleep(0.1)

    ((headers, body),) = receiver.received
    assert stripe.Webhook.construct_event(body, headers["stripe-signature"], secret).type == "payment_intent.succeeded"
