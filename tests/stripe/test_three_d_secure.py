"""3-D Secure through the API: a card that asks for it leaves the payment `requires_action` with the
page the customer must visit; the customer's return and Stripe's webhooks settle it through one
step, by asking Stripe, exactly once, whichever comes first or all at once."""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from django.db import connections

from apps.audit.actors import Actor
from apps.audit.models import AuditEvent
from apps.gateways.services import gateway_account_set_credentials
from apps.ledger.models import JournalEntry
from apps.payments.models import Payment, PaymentStatus
from apps.payments.services import (
    payment_authentication_abandon,
    payment_authentication_settle,
    payments_authentication_sweep,
)
from apps.sandbox.models import SandboxCall, SandboxFault, StripePaymentIntent
from apps.webhooks.models import IncomingWebhook
from apps.webhooks.services import incoming_webhook_process
from tests.helpers import wait_for

from .conftest import ACTOR, signed
from .helpers import authenticate

pytestmark = pytest.mark.django_db(transaction=True)

NEXT_YEAR = datetime.now(UTC).year + 1
THREE_D_SECURE = "4000000000003220"
SECRET = "whsec_three_d_secure"
MERCHANT_RETURN = "https://shop.example/checkout/done?order=42"


def pay(api: Any, number: str = THREE_D_SECURE, *, key: str | None = None, **extra: Any) -> Any:
    body = {
        "amount": 2_000,
        "currency": "USD",
        "payment_method": {"type": "card", "number": number, "exp_month": 12, "exp_year": NEXT_YEAR, "cvc": "123"},
        "return_url": MERCHANT_RETURN,
        **extra,
    }
    return api.post("/api/v1/payments", body, format="json", HTTP_IDEMPOTENCY_KEY=key or uuid.uuid4().hex)


def come_back(client: Any, location: str) -> Any:
    """The customer's browser following the challenge page's redirect to us."""
    parts = urlsplit(location)
    return client.get(parts.path, dict(parse_qs(parts.query)))


def actions(payment_id: str, action: str) -> int:
    return AuditEvent.objects.filter(target_id=payment_id, action=action).count()


@pytest.fixture
def secret(stripe_account: Any) -> str:
    gateway_account_set_credentials(account=stripe_account, credentials={"webhook_secret": SECRET}, actor=ACTOR)
    return SECRET


def webhook(client: Any, stripe_sdk: Any, account: Any, secret: str, event_type: str, intent_id: str) -> None:
    """Stripe's event about this intent, delivered to our endpoint and processed."""
    events = stripe_sdk.v1.events.list(params={"type": event_type, "limit": 100})
    event = next(e for e in events.data if e.data.object["id"] == intent_id).to_dict()
    body, header = signed(event, secret)
    answer = client.post(
        f"/webhooks/stripe/{account.public_id}", body, content_type="application/json", HTTP_STRIPE_SIGNATURE=header
    )
    assert answer.status_code == 200, answer.content
    stored = IncomingWebhook.objects.get(gateway="stripe", event_id=event["id"])
    incoming_webhook_process(webhook_id=stored.pk)


def test_the_customer_authenticates_and_the_payment_is_captured(api: Any, client: Any, stripe_account: Any) -> None:
    created = pay(api)
    assert created.status_code == 201, created.content
    data = created.json()
    assert (data["status"], data["authentication"]) == ("requires_action", "required")
    assert data["amount_captured"] == 0
    redirect = data["next_action"]["redirect_to_url"]
    assert redirect["return_url"] == MERCHANT_RETURN
    location = authenticate(redirect["url"])
    assert urlsplit(location).path == f"/payments/{data['id']}/authenticated"
    back = come_back(client, location)
    assert back.status_code == 302
    assert back["Location"] == f"{MERCHANT_RETURN}&payment={data['id']}&status=captured"
    payment = api.get(f"/api/v1/payments/{data['id']}").json()
    assert (payment["status"], payment["authentication"], payment["next_action"]) == ("captured", "succeeded", None)
    assert payment["amount_captured"] == 2_000
    assert actions(data["id"], "payment.requires_action") == actions(data["id"], "payment.captured") == 1
    assert JournalEntry.objects.filter(payment__public_id=data["id"]).count() == 1


def test_failed_authentication_fails_the_payment(api: Any, client: Any, stripe_account: Any) -> None:
    data = pay(api).json()
    location = authenticate(data["next_action"]["redirect_to_url"]["url"], complete=False)
    back = come_back(client, location)
    assert back["Location"].endswith(f"payment={data['id']}&status=failed")
    payment = Payment.objects.get(public_id=data["id"])
    assert (payment.status, payment.authentication, payment.failure_code) == (
        "failed",
        "failed",
        "authentication_failed",
    )
    assert (payment.amount_authorized, payment.action_url) == (0, "")
    assert not JournalEntry.objects.filter(payment=payment).exists()


def test_an_authorisation_needing_3ds_is_authorized_then_captured(api: Any, client: Any, stripe_account: Any) -> None:
    data = pay(api, capture=False).json()
    come_back(client, authenticate(data["next_action"]["redirect_to_url"]["url"]))
    assert Payment.objects.get(public_id=data["id"]).status == PaymentStatus.AUTHORIZED
    captured = api.post(f"/api/v1/payments/{data['id']}/capture", {"amount": 1_500}, format="json",
                        HTTP_IDEMPOTENCY_KEY=uuid.uuid4().hex)  # fmt: skip
    assert (captured.status_code, captured.json()["amount_captured"]) == (200, 1_500)


def test_the_webhook_first_then_the_browser(
    api: Any, client: Any, stripe_account: Any, stripe_sdk: Any, secret: str
) -> None:
    data = pay(api).json()
    location = authenticate(data["next_action"]["redirect_to_url"]["url"])
    payment = Payment.objects.get(public_id=data["id"])
    webhook(client, stripe_sdk, stripe_account, secret, "payment_intent.succeeded", payment.gateway_transaction_id)
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.CAPTURED
    assert come_back(client, location)["Location"].endswith("status=captured")
    assert actions(data["id"], "payment.captured") == 1


def test_a_failure_webhook_fails_it(api: Any, client: Any, stripe_account: Any, stripe_sdk: Any, secret: str) -> None:
    data = pay(api).json()
    authenticate(data["next_action"]["redirect_to_url"]["url"], complete=False)
    payment = Payment.objects.get(public_id=data["id"])
    webhook(client, stripe_sdk, stripe_account, secret, "payment_intent.payment_failed", payment.gateway_transaction_id)
    payment.refresh_from_db()
    assert (payment.status, payment.authentication) == ("failed", "failed")


def test_return_and_webhooks_racing_settle_it_once(api: Any, stripe_account: Any) -> None:
    data = pay(api).json()
    authenticate(data["next_action"]["redirect_to_url"]["url"])
    payment = Payment.objects.get(public_id=data["id"])
    barrier = threading.Barrier(6)
    errors: list[BaseException] = []

    def settle() -> None:
        from django.db import connection

        try:
            barrier.wait()
            payment_authentication_settle(payment=payment, actor=Actor.system("race"))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=settle) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.CAPTURED
    assert actions(data["id"], "payment.captured") == 1
    assert JournalEntry.objects.filter(payment=payment).count() == 1


def test_a_retry_with_the_key_is_the_same_payment_and_no_new_intent(api: Any, stripe_account: Any) -> None:
    key = uuid.uuid4().hex
    first = pay(api, key=key)
    again = pay(api, key=key)
    assert again.json()["id"] == first.json()["id"]
    assert again["Idempotent-Replayed"] == "true"
    assert SandboxCall.objects.filter(gateway="stripe", operation="payment_intents.create").count() == 1


def test_the_browser_is_never_trusted(api: Any, client: Any, stripe_account: Any) -> None:
    data = pay(api).json()
    # The customer has not authenticated; the browser claims it succeeded.
    back = client.get(f"/payments/{data['id']}/authenticated", {"redirect_status": "succeeded"})
    assert back["Location"].endswith("status=requires_action")
    assert Payment.objects.get(public_id=data["id"]).status == PaymentStatus.REQUIRES_ACTION


def test_without_a_merchant_page_the_outcome_is_shown_here(api: Any, client: Any, stripe_account: Any) -> None:
    data = pay(api, return_url="").json()
    assert data["next_action"]["redirect_to_url"]["return_url"] is None
    page = come_back(client, authenticate(data["next_action"]["redirect_to_url"]["url"]))
    assert page.status_code == 200
    assert b'data-status="captured"' in page.content
    assert client.get("/payments/pay_doesnotexist/authenticated").status_code == 404


def test_cards_without_3ds_are_captured_at_once(api: Any, stripe_account: Any) -> None:
    data = pay(api, "4242424242424242").json()
    assert (data["status"], data["authentication"], data["next_action"]) == ("captured", None, None)
    declined = pay(api, "4000000000009995")
    assert declined.status_code == 402
    assert declined.json()["error"]["code"] == "insufficient_funds"


def test_the_sweeper_settles_what_nobody_reported(api: Any, stripe_account: Any, settings: Any) -> None:
    settings.PAYMENT_AUTHENTICATION_CHECK_SECONDS = 0
    data = pay(api).json()
    authenticate(data["next_action"]["redirect_to_url"]["url"])  # no return, no webhook
    assert any("captured" in line for line in payments_authentication_sweep())
    assert Payment.objects.get(public_id=data["id"]).status == PaymentStatus.CAPTURED


def test_the_sweeper_gives_up_and_cancels_the_intent(
    api: Any, stripe_account: Any, stripe_sdk: Any, settings: Any
) -> None:
    settings.PAYMENT_AUTHENTICATION_CHECK_SECONDS = settings.PAYMENT_AUTHENTICATION_TIMEOUT_SECONDS = 0
    data = pay(api).json()
    waiting = pay(api).json()
    authenticate(waiting["next_action"]["redirect_to_url"]["url"])  # completed just before the sweep
    payments_authentication_sweep()
    payment = Payment.objects.get(public_id=data["id"])
    assert (payment.status, payment.failure_code, payment.authentication) == (
        "failed",
        "authentication_abandoned",
        "failed",
    )
    assert stripe_sdk.v1.payment_intents.retrieve(payment.gateway_transaction_id).status == "canceled"
    assert Payment.objects.get(public_id=waiting["id"]).status == PaymentStatus.CAPTURED


def test_a_charge_for_another_amount_is_not_taken_for_ours(
    api: Any, client: Any, stripe_account: Any, settings: Any, caplog: Any
) -> None:
    """Never trust the intent blindly either: one that went through for another amount (changed at
    the gateway) is not recorded as our payment paid; it waits, logged, for staff."""
    data = pay(api).json()
    location = authenticate(data["next_action"]["redirect_to_url"]["url"])
    payment = Payment.objects.get(public_id=data["id"])
    StripePaymentIntent.objects.filter(stripe_id=payment.gateway_transaction_id).update(amount_received=1_500)
    back = come_back(client, location)
    assert back["Location"].endswith("status=requires_action")
    settings.PAYMENT_AUTHENTICATION_CHECK_SECONDS = settings.PAYMENT_AUTHENTICATION_TIMEOUT_SECONDS = 0
    swept = payments_authentication_sweep()
    assert any("does not match ours (amount 1500, ours 2000)" in line for line in swept), swept
    payment.refresh_from_db()
    assert (payment.status, payment.amount_captured) == (PaymentStatus.REQUIRES_ACTION, 0)
    assert not JournalEntry.objects.filter(payment=payment).exists()
    assert "authentication_charge_mismatch" in caplog.text
    StripePaymentIntent.objects.filter(stripe_id=payment.gateway_transaction_id).update(amount_received=2_000)
    assert "captured" in payment_authentication_settle(payment=payment, actor=Actor.system("tests"))


def test_giving_up_on_one_the_customer_just_authorised_voids_it(
    api: Any, client: Any, stripe_account: Any, stripe_sdk: Any, sandbox_fault: Any
) -> None:
    """The sweeper asks Stripe (still waiting), the customer authenticates and comes back (their
    return records the authorisation), then the sweeper's cancel goes through and releases it.
    The payment follows Stripe: voided, not left authorised with nothing behind it."""
    data = pay(api, capture=False).json()
    payment = Payment.objects.get(public_id=data["id"])
    held = sandbox_fault("latency", 2_000, match="payment_intents.cancel", gateway="stripe")
    said: list[str] = []

    def give_up() -> None:
        try:
            said.append(payment_authentication_abandon(payment=payment, actor=Actor.system("sweeper")))
        finally:
            connections.close_all()

    sweeper = threading.Thread(target=give_up)
    sweeper.start()
    wait_for(lambda: not SandboxFault.objects.filter(pk=held.pk, remaining__gt=0).exists())
    come_back(client, authenticate(data["next_action"]["redirect_to_url"]["url"]))
    assert Payment.objects.get(pk=payment.pk).status == PaymentStatus.AUTHORIZED
    sweeper.join(timeout=30)

    payment.refresh_from_db()
    assert (payment.status, payment.amount_captured) == (PaymentStatus.VOIDED, 0), said
    assert stripe_sdk.v1.payment_intents.retrieve(payment.gateway_transaction_id).status == "canceled"
    assert actions(payment.public_id, "payment.voided") == 1
