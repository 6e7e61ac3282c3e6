"""The Razorpay sandbox's webhooks: Razorpay's envelope, signed per webhook, delivered at least once.

Deliveries are queued on Celery; these tests record what would be queued (instead of sharing the
test broker) and run the task body themselves, in the order a broker would release it.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import razorpay

from apps.sandbox import tasks
from apps.sandbox.models import RzpNotification, RzpOrder, SandboxFault
from apps.sandbox.razorpay.services import rzp_webhook_register
from apps.sandbox.services import rzp_account_create
from tests.sandbox.razorpay_helpers import pay, sdk_client

SECRET = "whsec-sandbox-test"


@dataclass
class Receiver:
    url: str
    statuses: list[int] = field(default_factory=list)  # answered in turn, then 200
    received: list[tuple[dict[str, str], bytes]] = field(default_factory=list)

    def events(self) -> list[str]:
        return [json.loads(body)["event"] for _, body in self.received]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A merchant's webhook endpoint: records every request."""
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
    state.url = f"http://127.0.0.1:{server.server_address[1]}/webhooks/razorpay"
    yield state
    server.shutdown()
    server.server_close()


@dataclass
class Queue:
    """What would have gone to the broker: (countdown, notification pk, copy), in enqueue order."""

    sent: list[tuple[float, int, int]] = field(default_factory=list)

    def run(self) -> None:
        """Run every queued delivery once, earliest release first (as a broker would)."""
        batch, self.sent = sorted(self.sent, key=lambda item: item[0]), []
        for _, pk, copy in batch:
            tasks.rzp_notification_deliver.run(pk, copy=copy)


@pytest.fixture
def queue(monkeypatch: pytest.MonkeyPatch) -> Queue:
    from config.celery import app as celery_app

    recorded = Queue()

    def send_task(name: str, args: tuple[int], kwargs: dict[str, int], countdown: float | None = None) -> None:
        assert name == "apps.sandbox.tasks.rzp_notification_deliver"
        recorded.sent.append((countdown or 0, args[0], kwargs["copy"]))

    monkeypatch.setattr(celery_app, "send_task", send_task)
    return recorded


def verifier(account) -> razorpay.Client:
    return razorpay.Client(auth=(account.key_id, account.key_secret))


def new_order(account, capture: str = "automatic", amount: int = 2500) -> RzpOrder:
    from apps.sandbox.razorpay.ids import new_id

    return RzpOrder.objects.create(
        account=account, rzp_id=new_id("order_"), amount=amount, currency="INR", payment_capture=capture
    )


@pytest.mark.django_db(transaction=True)
def test_a_payment_sends_signed_events_in_razorpays_envelope(receiver, queue):
    account = rzp_account_create()
    rzp_webhook_register(account=account, url=receiver.url, secret=SECRET)
    rzp_webhook_register(account=account, url=receiver.url, secret="other", events=["refund.processed"])
    order = new_order(account)

    result = pay(account, order.rzp_id)
    queue.run()

    assert result.ok
    assert receiver.events() == ["payment.authorized", "payment.captured", "order.paid"]
    client = verifier(account)
    event_ids = set()
    for headers, body in receiver.received:
        assert headers["content-type"] == "application/json"
        signature = headers["x-razorpay-signature"]
        assert signature == signature.lower() and len(signature) == 64
        assert client.utility.verify_webhook_signature(body.decode(), signature, SECRET) is True
        event_ids.add(headers["x-razorpay-event-id"])
    assert len(event_ids) == 3 and all(e.startswith("evt_") and len(e) == 18 for e in event_ids)

    authorized, captured, paid = (json.loads(body) for _, body in receiver.received)
    assert set(authorized) == {"entity", "account_id", "event", "contains", "payload", "created_at"}
    assert (authorized["entity"], authorized["account_id"]) == ("event", account.account_id)
    assert authorized["contains"] == ["payment"] and isinstance(authorized["created_at"], int)
    assert authorized["payload"]["payment"]["entity"]["status"] == "authorized"  # as it was then
    assert authorized["payload"]["payment"]["entity"]["id"] == result.payment_id
    assert captured["payload"]["payment"]["entity"]["status"] == "captured"
    assert paid["contains"] == ["payment", "order"]
    assert paid["payload"]["order"]["entity"]["status"] == "paid"
    assert paid["payload"]["order"]["entity"]["amount_paid"] == 2500
    assert set(RzpNotification.objects.values_list("status", flat=True)) == {"delivered"}


@pytest.mark.django_db(transaction=True)
def test_the_webhook_payload_is_the_api_entity(receiver, queue, rzp_sandbox):
    rzp_webhook_register(account=rzp_sandbox, url=receiver.url, secret=SECRET, events=["payment.captured"])
    client = sdk_client(rzp_sandbox)
    order = client.order.create({"amount": 5000, "currency": "INR", "payment": {"capture": "manual"}})
    result = pay(rzp_sandbox, order["id"])

    client.payment.capture(result.payment_id, 5000, {"currency": "INR"})  # through the live server
    queue.run()

    ((_, body),) = receiver.received
    assert json.loads(body)["payload"]["payment"]["entity"] == client.payment.fetch(
        result.payment_id, {"expand[]": "card"}
    )


@pytest.mark.django_db(transaction=True)
def test_a_refund_sends_created_then_processed_with_refund_and_payment(receiver, queue, rzp_sandbox):
    rzp_webhook_register(
        account=rzp_sandbox, url=receiver.url, secret=SECRET, events=["refund.created", "refund.processed"]
    )
    client = sdk_client(rzp_sandbox)
    order = client.order.create({"amount": 5000, "currency": "INR"})
    result = pay(rzp_sandbox, order["id"])

    refund = client.payment.refund(result.payment_id, {"amount": 2000})
    queue.run()

    assert receiver.events() == ["refund.created", "refund.processed"]
    created, processed = (json.loads(body) for _, body in receiver.received)
    assert created["contains"] == ["refund", "payment"]
    assert created["payload"]["refund"]["entity"]["status"] == "pending"
    assert processed["payload"]["refund"]["entity"] == refund
    assert processed["payload"]["payment"]["entity"]["refund_status"] == "partial"


@pytest.mark.django_db(transaction=True)
def test_a_failed_payment_sends_payment_failed_only_to_who_wants_it(receiver, queue):
    account = rzp_account_create()
    rzp_webhook_register(account=account, url=receiver.url, secret=SECRET, events=["payment.failed"])
    inactive = rzp_webhook_register(account=account, url=receiver.url, secret=SECRET)
    inactive.active = False
    inactive.save()

    pay(account, new_order(account).rzp_id)
    result = pay(account, new_order(account).rzp_id, "4100280000080001")
    queue.run()

    assert receiver.events() == ["payment.failed"]
    entity = json.loads(receiver.received[0][1])["payload"]["payment"]["entity"]
    assert (entity["id"], entity["status"], entity["error_reason"]) == (
        result.payment_id,
        "failed",
        "insufficient_funds",
    )


@pytest.mark.django_db
def test_nothing_is_queued_before_the_transaction_commits(receiver, queue, django_capture_on_commit_callbacks):
    account = rzp_account_create()
    rzp_webhook_register(account=account, url=receiver.url, secret=SECRET)

    with django_capture_on_commit_callbacks() as callbacks:
        pay(account, new_order(account).rzp_id)
        assert queue.sent == []

    assert len(callbacks) == 3 and queue.sent == []
    for callback in callbacks:
        callback()
    assert len(queue.sent) == 3


@pytest.mark.django_db(transaction=True)
def test_a_duplicate_fault_sends_identical_copies(receiver, queue):
    account = rzp_account_create()
    rzp_webhook_register(account=account, url=receiver.url, secret=SECRET, events=["payment.captured"])
    SandboxFault.objects.create(
        gateway="razorpay-webhooks", kind="webhook_duplicate", value=2, match="payment.captured"
    )

    pay(account, new_order(account).rzp_id)
    queue.run()

    assert receiver.events() == ["payment.captured"] * 3
    assert len({headers["x-razorpay-event-id"] for headers, _ in receiver.received}) == 1
    assert len({body for _, body in receiver.received}) == 1
    assert RzpNotification.objects.get().status == "delivered"


@pytest.mark.django_db(transaction=True)
def test_a_delay_fault_lets_later_events_overtake(receiver, queue):
    account = rzp_account_create()
    rzp_webhook_register(account=account, url=receiver.url, secret=SECRET)
    SandboxFault.objects.create(
        gateway="razorpay-webhooks", kind="webhook_delay", value=1500, match="payment.authorized"
    )

    pay(account, new_order(account).rzp_id)

    assert sorted(countdown for countdown, _, _ in queue.sent) == [0, 0, 1.5]
    queue.run()
    assert receiver.events() == ["payment.captured", "order.paid", "payment.authorized"]


@pytest.mark.django_db(transaction=True)
def test_a_redelivery_carries_the_same_event_id_and_signature(receiver, queue, monkeypatch, settings):
    account = rzp_account_create()
    rzp_webhook_register(account=account, url=receiver.url, secret=SECRET, events=["payment.captured"])
    receiver.statuses = [500]
    retries: list[int] = []

    class Retry(Exception):
        pass

    def retry(countdown: int) -> Exception:
        retries.append(countdown)
        return Retry()

    monkeypatch.setattr(tasks.rzp_notification_deliver, "retry", retry)
    pay(account, new_order(account).rzp_id)
    ((_, pk, _),) = queue.sent

    with pytest.raises(Retry):
        tasks.rzp_notification_deliver.run(pk)
    tasks.rzp_notification_deliver.run(pk)
    tasks.rzp_notification_deliver.run(pk)  # delivered: nothing more

    first, second = receiver.received
    assert first == second
    notification = RzpNotification.objects.get(pk=pk)
    assert (notification.status, notification.attempts, notification.last_status_code) == ("delivered", 2, 200)
    assert retries == [settings.SANDBOX_WEBHOOK_RETRY_SECONDS * 2]


@pytest.mark.django_db
def test_an_unreachable_endpoint_is_retried_then_given_up(
    queue, settings, monkeypatch, django_capture_on_commit_callbacks
):
    settings.SANDBOX_WEBHOOK_MAX_ATTEMPTS = 2
    settings.SANDBOX_WEBHOOK_TIMEOUT_SECONDS = 0.5
    account = rzp_account_create()
    rzp_webhook_register(account=account, url="http://127.0.0.1:9/nowhere", secret=SECRET, events=["payment.captured"])
    with django_capture_on_commit_callbacks(execute=True):
        pay(account, new_order(account).rzp_id)
    ((_, pk, _),) = queue.sent
    retries: list[int] = []

    class Retry(Exception):
        pass

    def retry(countdown: int) -> Exception:
        retries.append(countdown)
        return Retry()

    monkeypatch.setattr(tasks.rzp_notification_deliver, "retry", retry)
    with pytest.raises(Retry):
        tasks.rzp_notification_deliver.run(pk)
    tasks.rzp_notification_deliver.run(pk)
    tasks.rzp_notification_deliver.run(pk)  # given up: nothing more

    notification = RzpNotification.objects.get(pk=pk)
    assert (notification.status, notification.attempts, notification.last_status_code) == ("failed", 2, None)
    assert retries == [settings.SANDBOX_WEBHOOK_RETRY_SECONDS * 2]


@pytest.mark.django_db
def test_only_events_the_sandbox_sends_can_be_subscribed():
    with pytest.raises(ValueError, match=r"subscription\.charged"):
        rzp_webhook_register(account=rzp_account_create(), url="http://example.com/", secret=SECRET,
                             events=["subscription.charged"])  # fmt: skip
