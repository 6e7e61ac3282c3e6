"""`manage.py stripe_trigger` and `manage.py stripe_listen`, the sandbox's `stripe trigger` and
`stripe listen`: triggers make the real objects whose changes fire the event; listen prints the
events as they are made and, forwarding, has the sandbox deliver them (signed, through the Celery
task, faults and all) to our `/webhooks/stripe/<account>` endpoint, where each is processed once."""

from __future__ import annotations

import re
import threading
import uuid
from dataclasses import dataclass, field
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connections
from django.urls import reverse
from prometheus_client import REGISTRY

from apps.audit.models import AuditEvent
from apps.gateways.services import gateway_account_set_credentials
from apps.ledger.models import JournalEntry
from apps.payments.models import Payment
from apps.sandbox.models import (
    SandboxFault,
    StripeCharge,
    StripeCustomer,
    StripeDispute,
    StripeEvent,
    StripeNotification,
    StripePaymentIntent,
    StripeRefund,
    StripeSetupIntent,
    StripeWebhookEndpoint,
)
from apps.sandbox.stripe.services import TRIGGERS, stripe_account_create
from apps.webhooks.models import IncomingWebhook
from tests.helpers import wait_for

from .conftest import ACTOR

ARRIVED = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d   --> (\S+) \[(evt_\w+)\]$")
ANSWERED = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d  <--  \[(\w+)\] POST (\S+) \[(evt_\w+)\]")
MODELS: dict[str, Any] = {
    "pi_": StripePaymentIntent,
    "ch_": StripeCharge,
    "re_": StripeRefund,
    "dp_": StripeDispute,
    "seti_": StripeSetupIntent,
    "cus_": StripeCustomer,
}

# What the object each triggered event is about looks like at the sandbox afterwards.
EXPECTED: dict[str, tuple[str, str, Any]] = {
    "payment_intent.succeeded": ("pi_", "status", "succeeded"),
    "payment_intent.payment_failed": ("pi_", "status", "requires_payment_method"),
    "payment_intent.requires_action": ("pi_", "status", "requires_action"),
    "payment_intent.canceled": ("pi_", "status", "canceled"),
    "payment_intent.amount_capturable_updated": ("pi_", "status", "requires_capture"),
    "payment_intent.created": ("pi_", "status", "succeeded"),
    "charge.succeeded": ("ch_", "status", "succeeded"),
    "charge.failed": ("ch_", "status", "failed"),
    "charge.captured": ("ch_", "captured", True),
    "charge.refunded": ("ch_", "amount_refunded", 2_000),
    "refund.created": ("re_", "status", "succeeded"),
    "charge.dispute.created": ("dp_", "status", "needs_response"),
    "setup_intent.succeeded": ("seti_", "status", "succeeded"),
    "setup_intent.requires_action": ("seti_", "status", "requires_action"),
    "setup_intent.setup_failed": ("seti_", "status", "requires_payment_method"),
    "customer.created": ("cus_", "deleted", False),
}


def trigger(*args: str) -> str:
    out = StringIO()
    call_command("stripe_trigger", *args, stdout=out)
    return out.getvalue()


def stored(object_id: str) -> Any:
    prefix = next(prefix for prefix in MODELS if object_id.startswith(prefix))
    return MODELS[prefix].objects.get(stripe_id=object_id)


@dataclass
class Listening:
    """`manage.py stripe_listen` running in a thread, as in a second terminal."""

    out: StringIO = field(default_factory=StringIO)
    errors: list[BaseException] = field(default_factory=list)
    thread: threading.Thread | None = None

    def lines(self) -> list[str]:
        return self.out.getvalue().splitlines()

    def ready(self) -> str:
        """Wait for "Ready!"; the webhook signing secret it shows, if any."""
        wait_for(lambda: "Ready!" in self.out.getvalue() or self.errors, timeout=5)
        assert not self.errors, self.errors
        found = re.search(r"signing secret is (whsec_\w+)", self.out.getvalue())
        return found.group(1) if found else ""

    def finish(self) -> None:
        assert self.thread is not None
        self.thread.join(timeout=15)
        assert not self.thread.is_alive(), "stripe_listen did not stop"
        assert not self.errors, self.errors

    def arrived(self) -> list[tuple[str, str]]:
        return [match.groups() for line in self.lines() if (match := ARRIVED.match(line))]  # type: ignore[misc]

    def answered(self) -> list[tuple[str, str, str]]:
        return [match.groups() for line in self.lines() if (match := ANSWERED.match(line))]  # type: ignore[misc]


def listen(*args: str) -> Listening:
    listening = Listening()

    def run() -> None:
        try:
            call_command("stripe_listen", "--interval", "0.05", *args, stdout=listening.out)
        except BaseException as exc:  # reported by finish()
            listening.errors.append(exc)
        finally:
            connections.close_all()

    listening.thread = threading.Thread(target=run, daemon=True)
    listening.thread.start()
    return listening


# --- stripe_trigger -------------------------------------------------------------------------------


def test_every_supported_event_has_an_expectation_here() -> None:
    assert set(EXPECTED) == set(TRIGGERS)


@pytest.mark.django_db
@pytest.mark.parametrize("event_type", sorted(EXPECTED))
def test_trigger_makes_the_real_objects_and_their_events(event_type: str) -> None:
    account = stripe_account_create()
    prefix, attribute, value = EXPECTED[event_type]

    output = trigger(event_type)

    events = list(StripeEvent.objects.filter(account=account).order_by("pk"))
    fired = [event for event in events if event.type == event_type]
    assert len(fired) == 1, [event.type for event in events]
    about = fired[0].data["object"]["id"]
    assert about.startswith(prefix)
    assert getattr(stored(about), attribute) == value
    # Every event printed is a stored one of this account, in the order made, about objects that exist.
    printed = re.findall(r"^  (evt_\w+) (\S+)$", output, flags=re.MULTILINE)
    assert printed == [(event.stripe_id, event.type) for event in events]
    for event in events:
        obj = event.data["object"]
        if obj["object"] in ("payment_intent", "charge", "refund", "dispute", "setup_intent", "customer"):
            assert stored(obj["id"]).account_id == account.pk
    assert "4242" not in output  # no card number (nor a piece of one) is printed


@pytest.mark.django_db
def test_a_triggered_3ds_payment_waits_on_the_sandbox_challenge_page(settings: Any) -> None:
    stripe_account_create()

    trigger("payment_intent.requires_action")

    intent = StripePaymentIntent.objects.get()
    origin = settings.STRIPE_TEST_API_BASE.removesuffix("/sandbox/stripe")
    assert intent.next_action["redirect_to_url"]["url"] == origin + reverse(
        "sandbox:stripe-3ds", args=[intent.stripe_id]
    )
    assert intent.status == "requires_action"
    assert StripeCharge.objects.count() == 0


@pytest.mark.django_db
def test_trigger_refuses_an_unknown_event_and_names_the_supported_ones() -> None:
    stripe_account_create()

    with pytest.raises(CommandError) as refused:
        trigger("invoice.paid")

    message = str(refused.value)
    assert "invoice.paid" in message
    assert all(name in message for name in TRIGGERS)
    assert not StripeEvent.objects.exists()


@pytest.mark.django_db
def test_trigger_needs_the_account_named_when_there_are_several() -> None:
    first, second = stripe_account_create(), stripe_account_create()

    with pytest.raises(CommandError, match="--account"):
        trigger("customer.created")
    output = trigger("customer.created", "--account", second.secret_key)
    trigger("customer.created", "--account", first.stripe_id)

    assert StripeCustomer.objects.filter(account=second).count() == 1
    assert StripeCustomer.objects.filter(account=first).count() == 1
    assert second.secret_key not in output and second.stripe_id in output
    with pytest.raises(CommandError, match="No Stripe sandbox account"):
        trigger("customer.created", "--account", "acct_nobody")


@pytest.mark.django_db
def test_trigger_carries_an_existing_intent_on_only_from_a_state_that_allows_it() -> None:
    account = stripe_account_create()
    trigger("payment_intent.amount_capturable_updated")
    intent = StripePaymentIntent.objects.get(account=account)

    trigger("payment_intent.succeeded", "--payment-intent", intent.stripe_id)
    with pytest.raises(CommandError, match="can only fail from requires_action"):
        trigger("payment_intent.payment_failed", "--payment-intent", intent.stripe_id)
    with pytest.raises(CommandError, match="No PaymentIntent"):
        trigger("payment_intent.succeeded", "--payment-intent", "pi_missing")

    intent.refresh_from_db()
    assert (intent.status, intent.amount_received) == ("succeeded", 2_000)
    assert StripePaymentIntent.objects.count() == 1  # carried on, not made anew
    assert StripeEvent.objects.filter(type="payment_intent.succeeded").count() == 1


# --- stripe_listen --------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_listen_prints_the_events_as_they_are_made_in_order_up_to_the_limit() -> None:
    account = stripe_account_create()
    trigger("customer.created")  # before listening: not shown
    listening = listen("--limit", "3", "--timeout", "8")
    listening.ready()

    trigger("charge.refunded")
    listening.finish()

    made = list(StripeEvent.objects.filter(account=account).exclude(type="customer.created").order_by("pk"))
    assert [event.type for event in made] == [
        "payment_intent.created",
        "charge.succeeded",
        "payment_intent.succeeded",
        "refund.created",
        "charge.refunded",
    ]
    assert listening.arrived() == [(event.type, event.stripe_id) for event in made[:3]]
    assert listening.answered() == []  # nothing forwarded


@pytest.mark.django_db(transaction=True)
def test_listen_shows_only_the_events_asked_for() -> None:
    stripe_account_create()
    listening = listen("--events", "charge.refunded,refund.created", "--limit", "2", "--timeout", "8")
    listening.ready()

    trigger("charge.refunded")
    listening.finish()

    assert [event_type for event_type, _ in listening.arrived()] == ["refund.created", "charge.refunded"]


@pytest.mark.django_db
def test_listen_stops_with_an_error_when_the_limit_is_not_reached_in_time() -> None:
    stripe_account_create()

    with pytest.raises(CommandError, match=r"Stopped after 0.3 s: 0 of 1 events"):
        call_command("stripe_listen", "--once", "--timeout", "0.3", stdout=StringIO())


@pytest.mark.django_db
def test_forwarding_registers_one_endpoint_per_url_and_reuses_it() -> None:
    account = stripe_account_create()
    first, again = StringIO(), StringIO()

    call_command("stripe_listen", "--forward-to", "http://127.0.0.1:9/hooks", "--timeout", "0", stdout=first)
    call_command(
        "stripe_listen",
        "--forward-to",
        "http://127.0.0.1:9/hooks",
        "--events",
        "payment_intent.succeeded",
        "--timeout",
        "0",
        stdout=again,
    )

    (endpoint,) = StripeWebhookEndpoint.objects.filter(account=account)
    assert f"Your webhook signing secret is {endpoint.secret} " in first.getvalue()
    assert f"Your webhook signing secret is {endpoint.secret} " in again.getvalue()
    assert "Registered" in first.getvalue() and "Reusing" in again.getvalue()
    assert endpoint.enabled_events == ["payment_intent.succeeded"]


# --- end to end: the sandbox delivers to our endpoint over HTTP, a real worker processes ----------


def pay_with_3ds(api: Any) -> Payment:
    """A payment through our API with Stripe's 3-D Secure test payment method: requires_action."""
    answer = api.post(
        "/api/v1/payments",
        {
            "amount": 2_000,
            "currency": "USD",
            "payment_method": {
                "type": "opaque_data",
                "descriptor": "stripe.payment_method",
                "value": "pm_card_threeDSecure2Required",
            },
            "return_url": "https://shop.example/done",
        },
        format="json",
        HTTP_IDEMPOTENCY_KEY=uuid.uuid4().hex,
    )
    assert answer.status_code == 201, answer.content
    assert answer.json()["status"] == "requires_action"
    return Payment.objects.get(public_id=answer.json()["id"])


def forward_to_us(live_server: Any, stripe_account: Any, stripe_sandbox: Any, *extra: str) -> Listening:
    """`stripe_listen --forward-to` our webhook URL; its signing secret becomes our account's."""
    url = f"{live_server.url}/webhooks/stripe/{stripe_account.public_id}"
    listening = listen("--account", stripe_sandbox.stripe_id, "--forward-to", url, "--timeout", "9", *extra)
    secret = listening.ready()
    gateway_account_set_credentials(account=stripe_account, credentials={"webhook_secret": secret}, actor=ACTOR)
    return listening


def captured_once(payment: Payment) -> None:
    payment.refresh_from_db()
    assert (payment.status, payment.amount_captured) == ("captured", 2_000)
    assert AuditEvent.objects.filter(target_id=payment.public_id, action="payment.captured").count() == 1
    assert JournalEntry.objects.filter(payment=payment).count() == 1


def duplicates_received() -> float:
    sample = REGISTRY.get_sample_value(
        "clearhouse_webhooks_received_total", {"gateway": "stripe", "outcome": "duplicate"}
    )
    return sample or 0.0


def succeeded_webhook(intent_id: str) -> IncomingWebhook | None:
    return IncomingWebhook.objects.filter(
        gateway="stripe", event_type="payment_intent.succeeded", object_id=intent_id
    ).first()


PAYMENT_EVENTS = [
    "payment_intent.created",
    "payment_intent.requires_action",
    "charge.succeeded",
    "payment_intent.succeeded",
]


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("celery_worker")
def test_a_triggered_success_is_delivered_to_us_and_settles_our_payment_once(
    api: Any, stripe_account: Any, stripe_sandbox: Any, live_server: Any
) -> None:
    listening = forward_to_us(live_server, stripe_account, stripe_sandbox, "--limit", "4")
    payment = pay_with_3ds(api)

    trigger("payment_intent.succeeded", "--payment-intent", payment.gateway_transaction_id)
    listening.finish()
    wait_for(lambda: (webhook := succeeded_webhook(payment.gateway_transaction_id)) and webhook.status == "processed")

    events = list(StripeEvent.objects.filter(account=stripe_sandbox).order_by("pk"))
    assert [event.type for event in events] == PAYMENT_EVENTS
    assert listening.arrived() == [(event.type, event.stripe_id) for event in events]
    assert sorted(evt for code, _, evt in listening.answered() if code == "200") == sorted(e.stripe_id for e in events)
    assert {url for _, url, _ in listening.answered()} == {
        f"{live_server.url}/webhooks/stripe/{stripe_account.public_id}"
    }
    assert set(StripeNotification.objects.values_list("status", flat=True)) == {"delivered"}
    stored_ids = IncomingWebhook.objects.filter(gateway="stripe").values_list("event_id", flat=True)
    assert sorted(stored_ids) == sorted(event.stripe_id for event in events)
    captured_once(payment)


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("celery_worker")
def test_a_duplicated_delivery_arrives_three_times_and_is_processed_once(
    api: Any, stripe_account: Any, stripe_sandbox: Any, live_server: Any
) -> None:
    SandboxFault.objects.create(
        gateway="stripe-webhooks", kind="webhook_duplicate", value=2, match="payment_intent.succeeded"
    )
    listening = forward_to_us(live_server, stripe_account, stripe_sandbox, "--limit", "4")
    payment = pay_with_3ds(api)
    before = duplicates_received()

    trigger("payment_intent.succeeded", "--payment-intent", payment.gateway_transaction_id)
    listening.finish()
    wait_for(lambda: duplicates_received() == before + 2)
    wait_for(lambda: (webhook := succeeded_webhook(payment.gateway_transaction_id)) and webhook.status == "processed")

    succeeded = StripeEvent.objects.get(account=stripe_sandbox, type="payment_intent.succeeded")
    assert IncomingWebhook.objects.filter(gateway="stripe", event_id=succeeded.stripe_id).count() == 1
    assert SandboxFault.objects.get().remaining == 0
    captured_once(payment)


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("celery_worker")
def test_a_stale_event_delivered_late_does_not_move_our_payment_back(
    api: Any, stripe_account: Any, stripe_sandbox: Any, live_server: Any
) -> None:
    SandboxFault.objects.create(
        gateway="stripe-webhooks", kind="webhook_delay", value=2_000, match="payment_intent.requires_action"
    )
    listening = forward_to_us(live_server, stripe_account, stripe_sandbox, "--limit", "4")
    payment = pay_with_3ds(api)

    trigger("payment_intent.succeeded", "--payment-intent", payment.gateway_transaction_id)
    listening.finish()
    wait_for(
        lambda: IncomingWebhook.objects.filter(
            gateway="stripe", event_type="payment_intent.requires_action", status="processed"
        ).exists()
    )

    received = list(IncomingWebhook.objects.filter(gateway="stripe").order_by("received_at", "pk"))
    types = [webhook.event_type for webhook in received]
    assert sorted(types) == sorted(PAYMENT_EVENTS)
    # The requires_action event was made first and arrived last: after the success it is older than.
    assert types[-1] == "payment_intent.requires_action"
    assert types.index("payment_intent.succeeded") < types.index("payment_intent.requires_action")
    assert received[-1].status == "processed"
    assert AuditEvent.objects.filter(target_id=payment.public_id, action="payment.requires_action").count() == 1
    captured_once(payment)
