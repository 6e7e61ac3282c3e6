"""The outbox and merchant webhooks: events written with the change, relayed, delivered signed the
Standard Webhooks way, retried on a schedule, and endpoints managed over the API."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from django.db import transaction
from django.utils import timezone
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from apps.audit.actors import Actor
from apps.audit.models import AuditEvent
from apps.events.deliveries import webhook_delivery_attempt, webhook_delivery_resend
from apps.events.endpoints import webhook_endpoint_create, webhook_endpoint_rotate_secret
from apps.events.models import DeliveryAttempt, Event, WebhookDelivery, WebhookEndpoint
from apps.events.services import event_publish, event_relay, events_sweep
from tests.payments.helpers import VISA, purchase
from tests.webhooks.helpers import wait_for

# Also run on SQLite (the quickstart's database): see config/settings/test_sqlite.py.
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.sqlite]
D = WebhookDelivery.Status


class Receiver:
    """A merchant's webhook endpoint: records what it gets, answers what it is told to."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.responses: list[tuple[int, dict[str, str]]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests.append({"headers": {k.lower(): v for k, v in self.headers.items()}, "body": body})
                status, headers = receiver.responses.pop(0) if receiver.responses else (200, {})
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    yield server
    server.server.shutdown()


def make_endpoint(merchant: Any, url: str, types: list[str] | None = None) -> Any:
    return webhook_endpoint_create(merchant=merchant, url=url, event_types=types or ["*"], actor=Actor.system("tests"))


def publish(merchant: Any, type: str = "payment.captured") -> Event:
    with transaction.atomic():
        return event_publish(
            merchant_id=merchant.pk,
            livemode=False,
            type=type,
            object_type="payment",
            object_id="pay_1",
            data={"id": "pay_1"},
        )


# --- the outbox ---------------------------------------------------------------------------------


def test_each_payment_change_writes_its_event_in_the_same_transaction(api, anet_account):
    payment_id = purchase(api, 2000, capture=False).json()["id"]
    api.post(f"/api/v1/payments/{payment_id}/capture", {"amount": 1500}, format="json")
    declined_card = {**VISA, "billing_details": {"postal_code": "46282"}}
    declined = purchase(api, 2000, payment_method=declined_card).json()["error"]["payment"]

    types = list(Event.objects.order_by("id").values_list("type", "object_id"))

    assert types == [
        ("payment.authorized", payment_id),
        ("payment.captured", payment_id),
        ("payment.failed", declined),
    ]
    captured = Event.objects.get(type="payment.captured")
    assert (captured.data["status"], captured.data["amount_captured"]) == ("captured", 1500)


def test_a_rolled_back_change_leaves_no_event_and_enqueues_nothing(merchant, sent_tasks):
    make_endpoint(merchant, "https://example.com/hooks")

    def publish_then_fail() -> None:
        with transaction.atomic():
            event_publish(merchant_id=merchant.pk, livemode=False, type="payment.captured", object_type="payment",
                          object_id="p", data={})  # fmt: skip
            raise RuntimeError("the change fails after the event was written")

    with pytest.raises(RuntimeError):
        publish_then_fail()

    assert Event.objects.count() == 0
    assert sent_tasks == []


def test_without_endpoints_an_event_is_relayed_at_once_and_queues_nothing(merchant, sent_tasks):

    event = publish(merchant)
    make_endpoint(merchant, "https://example.com/hooks")
    listened = publish(merchant)

    assert event.relayed_at is not None
    assert listened.relayed_at is None
    assert [(task.name, task.args) for task in sent_tasks] == [("apps.events.tasks.event_relay", (listened.pk,))]


def test_events_api_lists_and_shows_only_the_merchants_own(api, merchant, other_merchant, client_for, issue_key):
    mine = publish(merchant)
    publish(other_merchant)
    other_api = client_for(issue_key(other_merchant).secret)

    listing = api.get("/api/v1/events").json()
    detail = api.get(f"/api/v1/events/{mine.public_id}")
    foreign = other_api.get(f"/api/v1/events/{mine.public_id}")
    filtered = api.get("/api/v1/events?type=payment.voided").json()

    assert [event["id"] for event in listing["data"]] == [mine.public_id]
    assert detail.json()["data"] == {"object": {"id": "pay_1"}}
    assert detail.json()["type"] == "payment.captured"
    assert foreign.status_code == 404
    assert filtered["data"] == []


def test_relay_fans_out_once_to_subscribed_enabled_endpoints(merchant, receiver):
    everything = make_endpoint(merchant, receiver.url).endpoint
    captures = make_endpoint(merchant, receiver.url, ["payment.captured"]).endpoint
    make_endpoint(merchant, receiver.url, ["refund.succeeded"])
    disabled = make_endpoint(merchant, receiver.url).endpoint
    WebhookEndpoint.objects.filter(pk=disabled.pk).update(enabled=False)
    event = publish(merchant)

    first = event_relay(event_id=event.pk)
    second = event_relay(event_id=event.pk)

    assert second == []
    assert sorted(WebhookDelivery.objects.filter(pk__in=first).values_list("endpoint_id", flat=True)) == sorted(
        [everything.pk, captures.pk]
    )
    assert Event.objects.get(pk=event.pk).relayed_at is not None


def test_the_sweeper_relays_events_whose_relay_was_lost(merchant, settings, receiver, sent_tasks):
    settings.WEBHOOK_REQUEUE_AFTER_SECONDS = 0
    make_endpoint(merchant, receiver.url)
    event = Event.objects.create(
        merchant=merchant, type="payment.captured", object_type="payment", object_id="p", data={}
    )

    counts = events_sweep()

    assert counts["events"] == 1
    assert [(task.name, task.args) for task in sent_tasks] == [("apps.events.tasks.event_relay", (event.pk,))]


# --- deliveries ----------------------------------------------------------------------------------


def deliver_one(merchant: Any, receiver: Receiver, **endpoint_kwargs: Any) -> tuple[Any, WebhookDelivery]:
    issued = make_endpoint(merchant, receiver.url, **endpoint_kwargs)
    event = publish(merchant)
    (delivery_id,) = event_relay(event_id=event.pk)
    return issued, WebhookDelivery.objects.get(pk=delivery_id)


def test_a_delivery_verifies_with_a_standard_webhooks_library(merchant, receiver):
    issued, delivery = deliver_one(merchant, receiver)

    result = webhook_delivery_attempt(delivery_id=delivery.pk)

    assert result is not None and result.status == D.SUCCEEDED
    (request,) = receiver.requests
    payload = Webhook(issued.secret).verify(request["body"], request["headers"])
    assert payload["type"] == "payment.captured"
    assert payload["id"] == request["headers"]["webhook-id"] == delivery.event.public_id
    assert payload["data"] == {"object": {"id": "pay_1"}}
    attempt = DeliveryAttempt.objects.get()
    assert (attempt.status_code, attempt.error) == (200, "")
    with pytest.raises(WebhookVerificationError):
        Webhook("whsec_" + "A" * 44).verify(request["body"], request["headers"])


def test_a_delivery_runs_once_even_when_two_workers_take_it(merchant, receiver):
    _, delivery = deliver_one(merchant, receiver)

    first = webhook_delivery_attempt(delivery_id=delivery.pk)
    second = webhook_delivery_attempt(delivery_id=delivery.pk)

    assert first is not None and second is None
    assert len(receiver.requests) == 1


def test_failures_retry_on_the_schedule_then_give_up(merchant, receiver, settings):
    settings.WEBHOOK_DELIVERY_SCHEDULE_SECONDS = [5, 300]
    receiver.responses = [(500, {}), (503, {}), (500, {})]
    _, delivery = deliver_one(merchant, receiver)

    first = webhook_delivery_attempt(delivery_id=delivery.pk)
    not_due = webhook_delivery_attempt(delivery_id=delivery.pk)
    second = webhook_delivery_attempt(delivery_id=delivery.pk, force=True)
    third = webhook_delivery_attempt(delivery_id=delivery.pk, force=True)

    assert first is not None and first.status == D.PENDING
    assert 4.4 <= (first.next_attempt_at - timezone.now()).total_seconds() <= 5.6
    assert not_due is None
    assert second is not None and 260 <= (second.next_attempt_at - timezone.now()).total_seconds() <= 331
    assert third is not None and (third.status, third.attempts, third.last_status_code) == (D.FAILED, 3, 500)
    assert DeliveryAttempt.objects.filter(delivery=delivery).count() == 3


def test_retry_after_is_honoured(merchant, receiver, settings):
    settings.WEBHOOK_DELIVERY_SCHEDULE_SECONDS = [5]
    receiver.responses = [(429, {"Retry-After": "120"})]
    _, delivery = deliver_one(merchant, receiver)

    result = webhook_delivery_attempt(delivery_id=delivery.pk)

    assert result is not None
    assert 115 <= (result.next_attempt_at - timezone.now()).total_seconds() <= 121


def test_410_gone_disables_the_endpoint(merchant, receiver):
    receiver.responses = [(410, {})]
    issued, delivery = deliver_one(merchant, receiver)

    result = webhook_delivery_attempt(delivery_id=delivery.pk)

    endpoint = WebhookEndpoint.objects.get(pk=issued.endpoint.pk)
    assert result is not None and result.status == D.FAILED
    assert (endpoint.enabled, endpoint.disabled_reason) == (False, "The endpoint answered 410 Gone.")
    assert AuditEvent.objects.filter(action="webhook_endpoint.disabled", target_id=endpoint.public_id).exists()


def test_an_endpoint_failing_for_days_is_disabled_and_its_queue_cancelled(merchant, receiver, settings):
    settings.WEBHOOK_ENDPOINT_DISABLE_AFTER_HOURS = 72
    receiver.responses = [(500, {})]
    issued, delivery = deliver_one(merchant, receiver)
    WebhookEndpoint.objects.filter(pk=issued.endpoint.pk).update(failing_since=timezone.now() - timedelta(days=4))
    waiting = WebhookDelivery.objects.create(event=publish(merchant), endpoint=issued.endpoint)

    webhook_delivery_attempt(delivery_id=delivery.pk)

    endpoint = WebhookEndpoint.objects.get(pk=issued.endpoint.pk)
    assert endpoint.enabled is False and endpoint.disabled_reason.startswith("Failing since")
    assert WebhookDelivery.objects.get(pk=waiting.pk).status == D.CANCELLED


def test_a_success_clears_the_failing_streak(merchant, receiver):
    issued, delivery = deliver_one(merchant, receiver)
    WebhookEndpoint.objects.filter(pk=issued.endpoint.pk).update(failing_since=timezone.now() - timedelta(hours=1))

    webhook_delivery_attempt(delivery_id=delivery.pk)

    assert WebhookEndpoint.objects.get(pk=issued.endpoint.pk).failing_since is None


def test_an_unreachable_endpoint_is_a_failed_attempt_with_the_error(merchant):
    issued = make_endpoint(merchant, "http://127.0.0.1:9/nothing-listens")
    event = publish(merchant)
    (delivery_id,) = event_relay(event_id=event.pk)

    result = webhook_delivery_attempt(delivery_id=delivery_id)

    assert result is not None and result.status == D.PENDING
    assert "ConnectionError" in result.last_error
    assert issued.endpoint.pk == result.endpoint_id


def test_after_a_rotation_both_secrets_verify_during_the_grace_period(merchant, receiver):
    issued, delivery = deliver_one(merchant, receiver)
    rotated = webhook_endpoint_rotate_secret(endpoint=issued.endpoint, actor=Actor.system("tests"))

    webhook_delivery_attempt(delivery_id=delivery.pk)

    (request,) = receiver.requests
    assert rotated.secret != issued.secret
    assert len(request["headers"]["webhook-signature"].split(" ")) == 2
    Webhook(rotated.secret).verify(request["body"], request["headers"])
    Webhook(issued.secret).verify(request["body"], request["headers"])


def test_staff_can_resend_a_delivered_event(merchant, receiver):
    _, delivery = deliver_one(merchant, receiver)
    webhook_delivery_attempt(delivery_id=delivery.pk)

    resent = webhook_delivery_resend(delivery=delivery, actor=Actor.system("tests"))
    webhook_delivery_attempt(delivery_id=resent.pk)

    assert len(receiver.requests) == 2
    assert receiver.requests[0]["headers"]["webhook-id"] == receiver.requests[1]["headers"]["webhook-id"]
    assert AuditEvent.objects.filter(action="webhook_delivery.resent").exists()


def test_end_to_end_a_purchase_reaches_the_merchant_through_a_real_worker(api, anet_account, receiver, celery_worker):
    issued = make_endpoint(anet_account.merchant, receiver.url, ["payment.captured"])

    payment_id = purchase(api, 2100).json()["id"]

    wait_for(lambda: len(receiver.requests) == 1)
    payload = Webhook(issued.secret).verify(receiver.requests[0]["body"], receiver.requests[0]["headers"])
    assert (payload["type"], payload["data"]["object"]["id"]) == ("payment.captured", payment_id)
    wait_for(lambda: WebhookDelivery.objects.filter(status=D.SUCCEEDED).count() == 1)


# --- endpoints over the API ------------------------------------------------------------------------


def test_endpoints_api_create_shows_the_secret_once(api):
    created = api.post(
        "/api/v1/webhook-endpoints",
        {"url": "https://example.com/hooks", "event_types": ["payment.captured", "refund.succeeded"]},
        format="json",
        HTTP_IDEMPOTENCY_KEY="ep-1",
    )
    endpoint_id = created.json()["id"]

    listing = api.get("/api/v1/webhook-endpoints").json()
    shown = api.get(f"/api/v1/webhook-endpoints/{endpoint_id}").json()

    assert created.status_code == 201
    assert created.json()["secret"].startswith("whsec_")
    assert endpoint_id.startswith("we_")
    assert "secret" not in shown and "secret" not in listing["data"][0]
    assert shown["event_types"] == ["payment.captured", "refund.succeeded"]
    assert WebhookEndpoint.objects.get(public_id=endpoint_id).secret() == created.json()["secret"]
    assert created.json()["secret"] not in WebhookEndpoint.objects.get(public_id=endpoint_id).secret_ciphertext


def test_endpoints_api_update_rotate_and_delete(api):
    endpoint_id = api.post(
        "/api/v1/webhook-endpoints", {"url": "https://example.com/a", "event_types": ["*"]}, format="json"
    ).json()["id"]

    updated = api.patch(f"/api/v1/webhook-endpoints/{endpoint_id}", {"enabled": False, "url": "https://example.com/b"},
                        format="json")  # fmt: skip
    rotated = api.post(f"/api/v1/webhook-endpoints/{endpoint_id}/rotate-secret")
    deleted = api.delete(f"/api/v1/webhook-endpoints/{endpoint_id}")
    gone = api.get(f"/api/v1/webhook-endpoints/{endpoint_id}")

    assert (updated.json()["enabled"], updated.json()["url"]) == (False, "https://example.com/b")
    assert rotated.status_code == 200 and rotated.json()["secret"].startswith("whsec_")
    assert deleted.status_code == 204
    assert gone.status_code == 404
    actions = set(AuditEvent.objects.filter(target_id=endpoint_id).values_list("action", flat=True))
    assert {"webhook_endpoint.created", "webhook_endpoint.updated", "webhook_endpoint.secret_rotated",
            "webhook_endpoint.deleted"} <= actions  # fmt: skip


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"url": "https://example.com/a", "event_types": ["payment.exploded"]}, "event_types"),
        ({"url": "not a url", "event_types": ["*"]}, "url"),
        ({"url": "https://example.com/a", "event_types": []}, "event_types"),
    ],
)
def test_endpoints_api_refuses_bad_input_and_changes_nothing(api, body, param):
    response = api.post("/api/v1/webhook-endpoints", body, format="json")

    assert response.status_code == 400
    assert response.json()["error"]["param"].startswith(param)
    assert WebhookEndpoint.objects.count() == 0


@pytest.mark.parametrize(
    "url",
    ["http://example.com/hooks", "https://127.0.0.1/hooks", "https://10.1.2.3/x", "https://localhost/x",
     "https://[::1]/x", "https://169.254.169.254/latest",
     # IPv6 forms that carry a loopback or the metadata address inside
     "https://[::127.0.0.1]/x", "https://[::a9fe:a9fe]/x", "https://[2002:7f00:1::]/x",
     "https://[64:ff9b::a9fe:a9fe]/x", "https://[::ffff:169.254.169.254]/x",
     # a host name is resolved when the endpoint is saved: one that resolves to nothing is refused
     "https://hooks.example.invalid/x"],
)  # fmt: skip
def test_in_prod_endpoints_on_private_addresses_are_refused(api, settings, url):
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = False

    response = api.post("/api/v1/webhook-endpoints", {"url": url, "event_types": ["*"]}, format="json")

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "url_not_allowed"


def test_in_prod_a_name_resolving_to_a_private_address_is_refused_at_delivery(merchant, settings, receiver):
    issued, delivery = deliver_one(merchant, receiver)
    WebhookEndpoint.objects.filter(pk=issued.endpoint.pk).update(url="https://localtest.me.invalid/x")
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = False

    result = webhook_delivery_attempt(delivery_id=delivery.pk)

    assert result is not None and result.last_error.startswith("refused")
    assert receiver.requests == []


def test_endpoint_scoping(api, merchant, other_merchant, client_for, issue_key):
    endpoint = make_endpoint(merchant, "https://example.com/a").endpoint
    other_api = client_for(issue_key(other_merchant).secret)

    assert other_api.get(f"/api/v1/webhook-endpoints/{endpoint.public_id}").status_code == 404
    assert other_api.delete(f"/api/v1/webhook-endpoints/{endpoint.public_id}").status_code == 404
    assert other_api.get("/api/v1/webhook-endpoints").json()["data"] == []
    assert json.loads(json.dumps(api.get("/api/v1/webhook-endpoints").json()))["data"][0]["id"] == endpoint.public_id
