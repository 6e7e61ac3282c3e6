"""A delivery's post is bounded as a whole and its claim outlasts the task: an endpoint that trickles
its answer (or sends megabytes) cannot keep a worker past the delivery timeout, and no second
worker (nor a staff resend) posts a delivery while the first may still be posting it. Against a
real local HTTP server."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.db import connection, transaction
from django.utils import timezone

from apps.accounts import roles
from apps.audit.actors import Actor
from apps.audit.models import AuditEvent
from apps.events import tasks
from apps.events.deliveries import RESPONSE_BODY_LIMIT, webhook_delivery_attempt, webhook_delivery_resend
from apps.events.endpoints import webhook_endpoint_create
from apps.events.errors import DeliveryInProgress
from apps.events.models import DeliveryAttempt, WebhookDelivery
from apps.events.services import event_publish, event_relay
from tests.webhooks.helpers import wait_for

pytestmark = pytest.mark.django_db(transaction=True)

BODY_SIZE = 5_000
CHUNK = 100
CHUNK_EVERY = 0.1  # the whole body takes 5 s to arrive


class SlowEndpoint:
    """Answers 200 at once, then trickles its body; `hold` keeps the answer back until released."""

    def __init__(self) -> None:
        self.requests = 0
        self.arrived = threading.Event()
        self.release = threading.Event()
        self.release.set()
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers["Content-Length"]))
                endpoint.requests += 1
                endpoint.arrived.set()
                endpoint.release.wait(30)
                self.send_response(200)
                self.send_header("Content-Length", str(BODY_SIZE))
                self.end_headers()
                try:
                    for _ in range(BODY_SIZE // CHUNK):
                        self.wfile.write(b"x" * CHUNK)
                        self.wfile.flush()
                        time.sleep(CHUNK_EVERY)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client stopped reading, as it should

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def slow_endpoint() -> Iterator[SlowEndpoint]:
    server = SlowEndpoint()
    yield server
    server.release.set()
    server.server.shutdown()


def a_delivery(merchant: Any, url: str) -> WebhookDelivery:
    webhook_endpoint_create(merchant=merchant, url=url, event_types=["*"], actor=Actor.system("tests"))
    with transaction.atomic():
        event = event_publish(
            merchant_id=merchant.pk,
            livemode=False,
            type="payment.captured",
            object_type="payment",
            object_id="pay_1",
            data={"id": "pay_1"},
        )
    (delivery_id,) = event_relay(event_id=event.pk)
    return WebhookDelivery.objects.get(pk=delivery_id)


def test_a_trickling_answer_is_cut_at_the_delivery_timeout(merchant, settings, slow_endpoint):
    settings.WEBHOOK_DELIVERY_TIMEOUT_SECONDS = 1
    delivery = a_delivery(merchant, slow_endpoint.url)

    started = time.monotonic()
    result = webhook_delivery_attempt(delivery_id=delivery.pk)
    took = time.monotonic() - started

    assert took < 3, f"the post took {took:.1f} s for a 1 s timeout"
    assert result is not None and (result.status, result.attempts, result.locked_until) == (
        WebhookDelivery.Status.SUCCEEDED,
        1,
        None,
    )
    attempt = DeliveryAttempt.objects.get(delivery=delivery)
    assert attempt.status_code == 200
    assert 0 < len(attempt.response_body) <= RESPONSE_BODY_LIMIT
    assert slow_endpoint.requests == 1


def test_no_second_worker_takes_a_delivery_while_the_first_is_posting(merchant, settings, slow_endpoint):
    settings.WEBHOOK_DELIVERY_TIMEOUT_SECONDS = 2
    delivery = a_delivery(merchant, slow_endpoint.url)
    slow_endpoint.release.clear()
    results: list[Any] = []

    def first_worker() -> None:
        try:
            results.append(webhook_delivery_attempt(delivery_id=delivery.pk))
        finally:
            connection.close()

    worker = threading.Thread(target=first_worker)
    worker.start()
    try:
        assert slow_endpoint.arrived.wait(10)
        posting = WebhookDelivery.objects.get(pk=delivery.pk)
        lease = (posting.locked_until - timezone.now()).total_seconds()
        # The lease outlasts the task's hard time limit: the sweeper cannot hand it on before the
        # first worker has certainly finished (or been killed).
        assert lease > tasks.webhook_delivery_attempt.time_limit
        assert posting.attempts == 1  # counted when claimed
        assert webhook_delivery_attempt(delivery_id=delivery.pk, force=True) is None
    finally:
        slow_endpoint.release.set()
        worker.join(20)

    wait_for(lambda: bool(results))
    assert results[0] is not None and results[0].status == WebhookDelivery.Status.SUCCEEDED
    assert slow_endpoint.requests == 1
    assert DeliveryAttempt.objects.filter(delivery=delivery).count() == 1
    assert WebhookDelivery.objects.get(pk=delivery.pk).attempts == 1


@pytest.fixture
def posting(merchant, settings, slow_endpoint) -> Iterator[WebhookDelivery]:
    """A delivery a worker is posting right now (the endpoint holds its answer until the end)."""
    settings.WEBHOOK_DELIVERY_TIMEOUT_SECONDS = 2
    delivery = a_delivery(merchant, slow_endpoint.url)
    slow_endpoint.release.clear()

    def first_worker() -> None:
        try:
            webhook_delivery_attempt(delivery_id=delivery.pk)
        finally:
            connection.close()

    worker = threading.Thread(target=first_worker)
    worker.start()
    assert slow_endpoint.arrived.wait(10)
    try:
        yield WebhookDelivery.objects.get(pk=delivery.pk)
    finally:
        slow_endpoint.release.set()
        worker.join(20)


def test_a_resend_is_refused_while_a_post_is_under_way(posting, slow_endpoint):
    with pytest.raises(DeliveryInProgress):
        webhook_delivery_resend(delivery=posting, actor=Actor.system("tests"))

    after = WebhookDelivery.objects.get(pk=posting.pk)
    assert after.locked_until == posting.locked_until  # the lease is not cut short
    assert webhook_delivery_attempt(delivery_id=posting.pk) is None  # as a queued resend would run
    assert slow_endpoint.requests == 1
    assert not AuditEvent.objects.filter(action="webhook_delivery.resent").exists()


def test_the_admin_says_which_deliveries_it_did_not_resend(posting, staff_client, slow_endpoint):
    ops = staff_client(roles.OPS)
    data = {"action": "resend_selected", ACTION_CHECKBOX_NAME: [posting.pk], "confirm": "yes"}

    done = ops.post("/admin/events/webhookdelivery/", data, follow=True)

    assert b"0 deliver(ies) queued" in done.content
    assert f"being posted right now (try again in a few minutes): {posting.public_id}".encode() in done.content
    assert WebhookDelivery.objects.get(pk=posting.pk).locked_until == posting.locked_until
    assert slow_endpoint.requests == 1


def test_a_delivery_whose_post_ended_can_be_resent(merchant, slow_endpoint):
    delivery = a_delivery(merchant, slow_endpoint.url)
    webhook_delivery_attempt(delivery_id=delivery.pk)

    resent = webhook_delivery_resend(delivery=delivery, actor=Actor.system("tests"))
    webhook_delivery_attempt(delivery_id=resent.pk)

    assert slow_endpoint.requests == 2
    assert WebhookDelivery.objects.get(pk=delivery.pk).attempts == 2
