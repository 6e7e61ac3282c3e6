"""The Authorize.Net sandbox's own webhook deliveries: signed like the real service, retried."""

from __future__ import annotations

import json
from typing import Any

import pytest

from apps.gateways.authorizenet import parse_notification
from apps.sandbox import tasks
from apps.sandbox.models import AnetNotification, AnetTransaction
from apps.sandbox.notifications import anet_notify, anet_webhook_register
from apps.sandbox.services import anet_account_create

pytestmark = pytest.mark.django_db


@pytest.fixture
def stored() -> AnetTransaction:
    account = anet_account_create(api_login_id="notify-test")
    return AnetTransaction.objects.create(
        account=account, transaction_type="authCaptureTransaction", status="capturedPendingSettlement",
        response_code="1", reason_code="1", reason_text="ok", auth_amount=4510, settle_amount=4510, currency="USD",
        invoice_number="inv-1", auth_code="ABC123", submitted_at="2026-11-22T10:00:00Z",
    )  # fmt: skip


def test_a_notification_is_what_the_real_service_sends_and_verifies(stored, django_capture_on_commit_callbacks):
    anet_webhook_register(account=stored.account, url="http://127.0.0.1:9/nowhere", event_types=[])
    anet_webhook_register(account=stored.account, url="http://127.0.0.1:9/refunds-only",
                          event_types=["net.authorize.payment.refund.created"])  # fmt: skip

    with django_capture_on_commit_callbacks() as callbacks:
        ids = anet_notify(account=stored.account, transaction_type="authCaptureTransaction", stored=stored,
                          response_code="1", ref_id="ref-1")  # fmt: skip

    assert len(ids) == 1 and len(callbacks) == 1
    notification = AnetNotification.objects.get(pk=ids[0])
    body = bytes(notification.body)
    envelope = json.loads(body)
    assert envelope["eventType"] == "net.authorize.payment.authcapture.created"
    assert envelope["payload"] == {
        "responseCode": 1, "authCode": "ABC123", "avsResponse": "P", "authAmount": 45.1,
        "merchantReferenceId": "ref-1", "invoiceNumber": "inv-1", "entityName": "transaction", "id": stored.trans_id,
    }  # fmt: skip
    assert b'"authAmount": 45.1,' in body  # a JSON number, as the real service sends it
    assert envelope["eventDate"].endswith("Z") and len(envelope["eventDate"].split(".")[1]) == 8


def test_an_unreachable_endpoint_is_retried_then_given_up(stored, settings, monkeypatch):
    settings.SANDBOX_WEBHOOK_MAX_ATTEMPTS = 2
    settings.SANDBOX_WEBHOOK_TIMEOUT_SECONDS = 0.5
    anet_webhook_register(account=stored.account, url="http://127.0.0.1:9/nowhere")
    (pk,) = anet_notify(account=stored.account, transaction_type="authCaptureTransaction", stored=stored,
                        response_code="1", ref_id="")  # fmt: skip
    retries: list[Any] = []

    class Retry(Exception):
        pass

    def retry(countdown: int) -> Exception:
        retries.append(countdown)
        return Retry()

    monkeypatch.setattr(tasks.anet_notification_deliver, "retry", retry)
    with pytest.raises(Retry):
        tasks.anet_notification_deliver.run(pk)
    tasks.anet_notification_deliver.run(pk)
    tasks.anet_notification_deliver.run(pk)  # given up: nothing more

    notification = AnetNotification.objects.get(pk=pk)
    assert (notification.status, notification.attempts, notification.last_status_code) == ("failed", 2, None)
    assert retries == [settings.SANDBOX_WEBHOOK_RETRY_SECONDS * 2]


def test_the_signature_is_the_one_our_receiver_checks(stored):
    from apps.sandbox.notifications import signature

    body = b'{"notificationId": "n", "eventType": "e", "payload": {"id": "1"}}'
    header = signature(body, stored.account.signature_key)

    notification = parse_notification(
        body, {"x-anet-signature": header}, {"signature_key": stored.account.signature_key}
    )

    assert header == header.upper().replace("SHA512=", "sha512=")
    assert notification.event_id == "n"
