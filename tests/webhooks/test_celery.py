"""At-least-once on Celery, with Redis or RabbitMQ: a worker killed mid-task gives the message
back, and the work is done again, once; a transaction that rolls back enqueues nothing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from django.db import connection, transaction

from apps.audit.actors import Actor
from apps.audit.models import AuditEvent
from apps.events.endpoints import webhook_endpoint_create
from apps.events.models import Event
from apps.events.services import event_publish
from apps.gateways.base import CaptureRequest
from apps.payments.models import Payment
from apps.webhooks.models import IncomingWebhook
from tests.brokers import broker_purge, queue_length
from tests.payments.helpers import purchase
from tests.webhooks.helpers import anet_body, post_anet, wait_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow, pytest.mark.celery]
ROOT = Path(__file__).resolve().parents[2]


def test_a_rolled_back_transaction_enqueues_nothing_and_a_committed_one_does(merchant):
    webhook_endpoint_create(merchant=merchant, url="https://example.com/h", event_types=["*"], actor=Actor.system("t"))
    broker_purge()

    def publish_then_fail() -> None:
        with transaction.atomic():
            event_publish(merchant_id=merchant.pk, livemode=False, type="payment.captured", object_type="payment",
                          object_id="p1", data={})  # fmt: skip
            raise RuntimeError("rolled back")

    with pytest.raises(RuntimeError):
        publish_then_fail()
    after_rollback = queue_length("deliveries")
    with transaction.atomic():
        event_publish(merchant_id=merchant.pk, livemode=False, type="payment.captured", object_type="payment",
                      object_id="p2", data={})  # fmt: skip
    after_commit = queue_length("deliveries")
    broker_purge()

    assert (after_rollback, after_commit) == (0, 1)
    assert list(Event.objects.values_list("object_id", flat=True)) == ["p2"]


def _worker_children(pid: int) -> list[int]:
    output = subprocess.run(["pgrep", "-P", str(pid)], check=False, capture_output=True, text=True).stdout
    return [int(line) for line in output.split()]


def _start_worker(live_server: Any, anet_endpoint: str) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "DATABASE_URL": "postgres://{USER}@{HOST}:{PORT}/{NAME}".format(**connection.settings_dict),
        "AUTHORIZENET_TEST_ENDPOINT": anet_endpoint,
    }
    command = [sys.executable, "-m", "celery", "-A", "config", "worker", "--pool", "prefork", "--concurrency", "1",
               "--queues", "webhooks", "--without-mingle", "--without-gossip", "--loglevel", "WARNING"]  # fmt: skip
    return subprocess.Popen(command, cwd=ROOT, env=env, start_new_session=True)


def test_a_worker_killed_mid_processing_leaves_the_event_to_be_processed_again_once(
    api, client, anet_account, anet_gateway, sandbox_fault, live_server, settings
):
    broker_purge()
    payment = Payment.objects.get(public_id=purchase(api, 3300, capture=False).json()["id"])
    anet_gateway.capture(CaptureRequest("outside-k", payment.gateway_transaction_id, 3300, "USD"))
    # The processor's question to the gateway hangs for a while: the worker dies in the middle.
    sandbox_fault("latency", 4000, match="getTransactionDetailsRequest")
    body = anet_body(payment.gateway_transaction_id, "net.authorize.payment.priorAuthCapture.created")
    assert post_anet(client, anet_account, body).status_code == 200
    webhook = IncomingWebhook.objects.get()

    worker = _start_worker(live_server, settings.AUTHORIZENET_TEST_ENDPOINT)
    try:
        wait_for(lambda: IncomingWebhook.objects.get(pk=webhook.pk).attempts == 1, timeout=60)
        time.sleep(0.5)  # inside the gateway call now
        (child,) = _worker_children(worker.pid)
        os.kill(child, signal.SIGKILL)
        wait_for(lambda: IncomingWebhook.objects.get(pk=webhook.pk).status == "processed", timeout=60)
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait(timeout=30)

    webhook.refresh_from_db()
    payment.refresh_from_db()
    assert webhook.attempts == 2
    assert (payment.status, payment.amount_captured) == ("captured", 3300)
    assert AuditEvent.objects.filter(target_id=payment.public_id, action="payment.captured").count() == 1
    assert Event.objects.filter(object_id=payment.public_id, type="payment.captured").count() == 1
