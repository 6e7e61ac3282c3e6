"""Incoming gateway webhooks: verified, stored once, answered at once, processed on Celery by asking
the gateway, retried with backoff, dead-lettered, replayable."""

from __future__ import annotations

import threading
import uuid
from typing import Any

import pytest
import requests
from django.core.management import call_command
from prometheus_client import REGISTRY

from apps.audit.actors import Actor
from apps.audit.models import AuditEvent
from apps.events.models import Event
from apps.gateways.authorizenet import webhook_signature
from apps.gateways.base import CaptureRequest, VoidRequest
from apps.gateways.razorpay import webhook_signature as razorpay_signature
from apps.gateways.services import gateway_account_create
from apps.payments.models import Payment
from apps.webhooks.models import IncomingWebhook
from apps.webhooks.services import incoming_webhook_process, incoming_webhooks_sweep
from tests.payments.helpers import purchase
from tests.webhooks.helpers import anet_body, anet_url, post_anet, wait_for

pytestmark = pytest.mark.django_db(transaction=True)

S = IncomingWebhook.Status


def metric(outcome: str, gateway: str = "authorizenet") -> float:
    value = REGISTRY.get_sample_value("clearhouse_webhooks_received_total", {"gateway": gateway, "outcome": outcome})
    return value or 0.0


# --- receiving ---------------------------------------------------------------------------------


def test_a_signed_notification_is_stored_raw_and_answered_at_once(client, anet_account):
    body = anet_body("40000000001", notification_id="n-1")

    response = post_anet(client, anet_account, body)

    assert response.status_code == 200
    assert response.json()["received"] is True and response.json()["duplicate"] is False
    stored = IncomingWebhook.objects.get()
    assert (stored.event_id, stored.event_type, stored.object_id) == (
        "n-1",
        "net.authorize.payment.authcapture.created",
        "40000000001",
    )
    assert bytes(stored.body) == body
    assert stored.headers["x-anet-signature"].startswith("sha512=")
    assert stored.merchant_id == anet_account.merchant_id
    assert response["X-Request-ID"] == stored.correlation_id


def test_the_signature_compares_case_insensitively(client, anet_account):
    body = anet_body("1")
    signature = webhook_signature(body, anet_account.credentials()["signature_key"]).lower()

    assert post_anet(client, anet_account, body, signature=signature).status_code == 200


@pytest.mark.parametrize(
    "signature",
    ["", "sha512=", "sha512=00", "md5=abc", "wrong-key"],
)
def test_a_bad_or_missing_signature_is_refused_counted_and_changes_nothing(client, anet_account, signature):
    body = anet_body("40000000001")
    if signature == "wrong-key":
        signature = webhook_signature(body, "not-the-key")
    before = metric("bad_signature")

    response = post_anet(client, anet_account, body, signature=signature)

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "signature_invalid"
    assert IncomingWebhook.objects.count() == 0
    assert metric("bad_signature") == before + 1


def test_a_body_changed_after_signing_is_refused(client, anet_account):
    body = anet_body("40000000001")
    signature = webhook_signature(body, anet_account.credentials()["signature_key"])

    response = post_anet(client, anet_account, body.replace(b"10.5", b"99.5"), signature=signature)

    assert response.status_code == 400
    assert IncomingWebhook.objects.count() == 0


def test_a_signed_body_without_an_event_id_is_refused(client, anet_account):
    response = post_anet(client, anet_account, b'{"eventType": "x"}')

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "payload_invalid"


def test_unknown_or_inactive_accounts_are_404(client, anet_account):
    body = anet_body("1")
    assert client.post("/webhooks/authorizenet/gwa_nope", data=body, content_type="application/json").status_code == 404
    assert client.post(f"/webhooks/razorpay/{anet_account.public_id}", data=body,
                       content_type="application/json").status_code == 404  # fmt: skip
    assert client.get(anet_url(anet_account)).status_code == 405


def test_a_duplicate_is_answered_2xx_and_not_stored_or_processed_again(client, anet_account):
    body = anet_body("40000000001", notification_id="n-dup")

    first = post_anet(client, anet_account, body)
    second = post_anet(client, anet_account, body)

    assert (first.status_code, second.status_code) == (200, 200)
    assert second.json() == {"received": True, "id": first.json()["id"], "duplicate": True}
    assert IncomingWebhook.objects.count() == 1


def test_copies_arriving_at_the_same_moment_are_stored_once(live_server, anet_account):
    body = anet_body("40000000001", notification_id="n-race")
    headers = {
        "Content-Type": "application/json",
        "X-ANET-Signature": webhook_signature(body, anet_account.credentials()["signature_key"]),
    }
    barrier = threading.Barrier(8)
    answers: list[Any] = []

    def send() -> None:
        barrier.wait()
        answers.append(
            requests.post(f"{live_server.url}{anet_url(anet_account)}", data=body, headers=headers, timeout=10)
        )

    threads = [threading.Thread(target=send) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert [answer.status_code for answer in answers] == [200] * 8
    assert sum(not answer.json()["duplicate"] for answer in answers) == 1
    assert IncomingWebhook.objects.count() == 1


def test_razorpay_notifications_are_verified_with_the_webhook_secret(client, merchant):
    account = gateway_account_create(
        merchant=merchant,
        gateway="razorpay",
        mode="test",
        credentials={"key_id": "rzp_test_x", "key_secret": "s", "webhook_secret": "whs-1"},
        actor=Actor.system("tests"),
    )
    body = b'{"entity":"event","event":"payment.captured","contains":["payment"],"payload":{"payment":{"entity":{"id":"pay_X"}}},"created_at":1}'
    url = f"/webhooks/razorpay/{account.public_id}"

    good = client.post(url, data=body, content_type="application/json",
                       HTTP_X_RAZORPAY_SIGNATURE=razorpay_signature(body, "whs-1"), HTTP_X_RAZORPAY_EVENT_ID="evt_R1")  # fmt: skip
    bad = client.post(url, data=body, content_type="application/json",
                      HTTP_X_RAZORPAY_SIGNATURE=razorpay_signature(body, "other"), HTTP_X_RAZORPAY_EVENT_ID="evt_R2")  # fmt: skip
    no_id = client.post(url, data=body, content_type="application/json",
                        HTTP_X_RAZORPAY_SIGNATURE=razorpay_signature(body, "whs-1"))  # fmt: skip

    assert (good.status_code, bad.status_code, no_id.status_code) == (200, 400, 400)
    stored = IncomingWebhook.objects.get()
    assert (stored.event_id, stored.event_type, stored.object_id) == ("evt_R1", "payment.captured", "pay_X")
    processed = incoming_webhook_process(webhook_id=stored.pk)
    assert processed.status == S.UNMATCHED  # a payment of no checkout of ours: kept for reconciliation


def test_a_signed_razorpay_body_reposted_under_a_new_event_id_is_a_duplicate(client, merchant):
    account = gateway_account_create(
        merchant=merchant,
        gateway="razorpay",
        mode="test",
        credentials={"key_id": "rzp_test_x", "key_secret": "s", "webhook_secret": "whs-1"},
        actor=Actor.system("tests"),
    )
    body = b'{"entity":"event","event":"payment.captured","contains":["payment"],"payload":{"payment":{"entity":{"id":"pay_X"}}},"created_at":1}'
    later = body.replace(b'"created_at":1', b'"created_at":2')  # the same payment's event, sent again later
    url = f"/webhooks/razorpay/{account.public_id}"

    def post(data, event_id):
        return client.post(url, data=data, content_type="application/json",
                           HTTP_X_RAZORPAY_SIGNATURE=razorpay_signature(data, "whs-1"), HTTP_X_RAZORPAY_EVENT_ID=event_id)  # fmt: skip

    first, replayed, other = post(body, "evt_1"), post(body, "evt_2"), post(later, "evt_3")

    assert [r.json()["duplicate"] for r in (first, replayed, other)] == [False, True, False]
    assert replayed.json()["id"] == first.json()["id"]
    assert sorted(IncomingWebhook.objects.values_list("event_id", flat=True)) == ["evt_1", "evt_3"]


# --- processing --------------------------------------------------------------------------------


def receive(client: Any, account: Any, transaction_id: str, event_type: str, **kwargs: Any) -> IncomingWebhook:
    response = post_anet(client, account, anet_body(transaction_id, event_type, **kwargs))
    assert response.status_code == 200
    return IncomingWebhook.objects.get(public_id=response.json()["id"])


def test_an_event_type_we_do_not_handle_is_answered_and_ignored(client, anet_account):
    webhook = receive(client, anet_account, "123", "net.authorize.customer.created")

    assert incoming_webhook_process(webhook_id=webhook.pk).status == S.IGNORED


def test_an_event_about_a_payment_we_do_not_know_is_kept_for_reconciliation(client, anet_account):
    webhook = receive(client, anet_account, "49999999999", "net.authorize.payment.authcapture.created")

    processed = incoming_webhook_process(webhook_id=webhook.pk)

    assert processed.status == S.UNMATCHED
    assert "reconciliation" in processed.result
    assert IncomingWebhook.objects.filter(pk=webhook.pk).exists()


def test_a_capture_made_outside_clearhouse_is_applied_after_asking_the_gateway(api, client, anet_account, anet_gateway):
    payment_id = purchase(api, 3000, capture=False).json()["id"]
    payment = Payment.objects.get(public_id=payment_id)
    anet_gateway.capture(CaptureRequest("outside-1", payment.gateway_transaction_id, 2000, "USD"))
    webhook = receive(client, anet_account, payment.gateway_transaction_id,
                      "net.authorize.payment.priorAuthCapture.created")  # fmt: skip

    processed = incoming_webhook_process(webhook_id=webhook.pk)
    again = incoming_webhook_process(webhook_id=webhook.pk)

    payment.refresh_from_db()
    assert (processed.status, processed.payment_id) == (S.PROCESSED, payment.pk)
    assert (payment.status, payment.amount_captured) == ("captured", 2000)
    assert again.attempts == 1  # final already: nothing done twice
    assert Event.objects.filter(object_id=payment_id, type="payment.captured").count() == 1
    audit = AuditEvent.objects.filter(target_id=payment_id, action="payment.captured").get()
    assert audit.actor_type == "gateway"


def test_out_of_order_events_never_move_a_payment_backwards(api, client, anet_account, anet_gateway):
    payment_id = purchase(api, 3000, capture=False).json()["id"]
    payment = Payment.objects.get(public_id=payment_id)
    anet_gateway.void(VoidRequest("outside-2", payment.gateway_transaction_id))
    transaction_id = payment.gateway_transaction_id
    # The void's notification overtakes the authorization's.
    void = receive(client, anet_account, transaction_id, "net.authorize.payment.void.created")
    authorization = receive(client, anet_account, transaction_id, "net.authorize.payment.authorization.created")

    incoming_webhook_process(webhook_id=void.pk)
    late = incoming_webhook_process(webhook_id=authorization.pk)

    payment.refresh_from_db()
    assert payment.status == "voided"
    assert late.status == S.PROCESSED and "no change" in late.result


def test_a_payment_already_up_to_date_is_left_alone(api, client, anet_account):
    payment_id = purchase(api, 1500).json()["id"]
    payment = Payment.objects.get(public_id=payment_id)
    webhook = receive(client, anet_account, payment.gateway_transaction_id, "net.authorize.payment.authcapture.created")
    events_before = Event.objects.count()

    processed = incoming_webhook_process(webhook_id=webhook.pk)

    assert processed.status == S.PROCESSED
    assert Payment.objects.get(pk=payment.pk).status == "captured"
    assert Event.objects.count() == events_before


def test_a_webhook_settles_a_payment_whose_answer_was_lost(api, client, anet_account, sandbox_fault, settings):
    settings.GATEWAY_STALE_CALL_SECONDS = 0
    sandbox_fault("drop_response", match="authCaptureTransaction")
    payment_id = purchase(api, 4100).json()["id"]
    payment = Payment.objects.get(public_id=payment_id)
    assert payment.status == "unknown"
    call = payment.gateway_transactions.get()
    from apps.sandbox.models import AnetTransaction

    charge = AnetTransaction.objects.get(invoice_number=call.reference)
    webhook = receive(client, anet_account, charge.trans_id, "net.authorize.payment.authcapture.created",
                      reference=call.reference)  # fmt: skip

    processed = incoming_webhook_process(webhook_id=webhook.pk)

    payment.refresh_from_db()
    assert processed.status == S.PROCESSED
    assert (payment.status, payment.amount_captured, payment.gateway_transaction_id) == (
        "captured",
        4100,
        charge.trans_id,
    )
    assert AnetTransaction.objects.filter(invoice_number=call.reference).count() == 1


def test_a_processor_that_fails_records_the_error_then_succeeds(api, client, anet_account, sandbox_fault):
    payment_id = purchase(api, 3000, capture=False).json()["id"]
    payment = Payment.objects.get(public_id=payment_id)
    webhook = receive(client, anet_account, payment.gateway_transaction_id,
                      "net.authorize.payment.authorization.created")  # fmt: skip
    sandbox_fault("http_error", 503, match="getTransactionDetailsRequest")

    failed = incoming_webhook_process(webhook_id=webhook.pk)
    retried = incoming_webhook_process(webhook_id=webhook.pk)

    assert failed.status == S.FAILED and failed.next_attempt_at is not None
    assert "GatewayRetryable" in failed.last_error and "Traceback" in failed.last_traceback
    assert (retried.status, retried.attempts, retried.last_error) == (S.PROCESSED, 2, "")


def test_a_processor_that_keeps_failing_ends_dead_with_an_audit_event(
    api, client, anet_account, sandbox_fault, settings
):
    settings.WEBHOOK_MAX_ATTEMPTS = 3
    payment_id = purchase(api, 3000, capture=False).json()["id"]
    payment = Payment.objects.get(public_id=payment_id)
    webhook = receive(client, anet_account, payment.gateway_transaction_id,
                      "net.authorize.payment.authorization.created")  # fmt: skip
    sandbox_fault("http_error", 500, match="getTransactionDetailsRequest", remaining=10)

    statuses = [incoming_webhook_process(webhook_id=webhook.pk).status for _ in range(4)]

    assert statuses == [S.FAILED, S.FAILED, S.DEAD, S.DEAD]
    assert AuditEvent.objects.filter(action="incoming_webhook.dead", target_id=webhook.public_id).count() == 1


def test_retries_back_off_exponentially_with_jitter_and_a_cap(settings):
    from apps.webhooks.services import _retry_delay

    settings.WEBHOOK_RETRY_BASE_SECONDS, settings.WEBHOOK_RETRY_MAX_SECONDS = 10, 300
    delays = [[_retry_delay(attempt) for _ in range(50)] for attempt in (1, 2, 3, 10)]

    assert all(5 <= d <= 10 for d in delays[0]) and all(10 <= d <= 20 for d in delays[1])
    assert all(20 <= d <= 40 for d in delays[2]) and all(150 <= d <= 300 for d in delays[3])
    assert len(set(delays[3])) > 1


def test_replay_command_and_status_command(client, anet_account, capsys):
    dead = receive(client, anet_account, "1", "net.authorize.payment.authcapture.created")
    IncomingWebhook.objects.filter(pk=dead.pk).update(status=S.DEAD, attempts=8, last_error="Boom: it broke")

    call_command("webhook_status", "--dead")
    status_output = capsys.readouterr().out
    call_command("replay_webhooks", "--dead", "--dry-run")
    dry_output = capsys.readouterr().out
    call_command("replay_webhooks", "--ids", dead.public_id)

    assert "dead: 1" in status_output and dead.public_id in status_output and "Boom" in status_output
    assert "1 would be replayed" in dry_output
    replayed = IncomingWebhook.objects.get(pk=dead.pk)
    assert (replayed.status, replayed.attempts) == (S.RECEIVED, 0)
    assert AuditEvent.objects.filter(action="incoming_webhook.replayed", target_id=dead.public_id).exists()


def test_replay_needs_a_selection(db):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError):
        call_command("replay_webhooks")


def test_the_sweeper_requeues_lost_and_overdue_notifications(client, anet_account, settings):
    settings.WEBHOOK_REQUEUE_AFTER_SECONDS = 0
    lost = receive(client, anet_account, "1", "net.authorize.payment.authcapture.created")
    overdue = receive(client, anet_account, "2", "net.authorize.payment.authcapture.created")
    done = receive(client, anet_account, "3", "net.authorize.payment.authcapture.created")
    from django.utils import timezone

    IncomingWebhook.objects.filter(pk=overdue.pk).update(status=S.FAILED, next_attempt_at=timezone.now())
    IncomingWebhook.objects.filter(pk=done.pk).update(status=S.PROCESSED)

    queued = incoming_webhooks_sweep()

    assert sorted(queued) == sorted([lost.pk, overdue.pk])


# --- end to end, with the sandbox's own notifications and a real worker --------------------------------


def test_the_sandbox_notifies_and_a_real_worker_processes(api, anet_account, anet_sandbox, live_server, celery_worker):
    from apps.sandbox.notifications import anet_webhook_register

    anet_webhook_register(account=anet_sandbox, url=f"{live_server.url}{anet_url(anet_account)}")

    payment_id = purchase(api, 5100, capture=False).json()["id"]
    payment = Payment.objects.get(public_id=payment_id)

    wait_for(lambda: IncomingWebhook.objects.filter(status=S.PROCESSED).count() == 1)
    webhook = IncomingWebhook.objects.get()
    assert webhook.event_type == "net.authorize.payment.authorization.created"
    assert webhook.object_id == payment.gateway_transaction_id
    assert webhook.payment_id == payment.pk
    assert b'"authAmount": 51.0' in bytes(webhook.body) or b'"authAmount": 51' in bytes(webhook.body)


def test_sandbox_faults_duplicate_and_reorder_notifications(
    api, anet_account, anet_sandbox, live_server, celery_worker
):
    from apps.sandbox.models import AnetNotification, SandboxFault
    from apps.sandbox.notifications import anet_webhook_register

    anet_webhook_register(account=anet_sandbox, url=f"{live_server.url}{anet_url(anet_account)}")
    SandboxFault.objects.create(gateway="anet-webhooks", kind="webhook_duplicate", value=2,
                                match="net.authorize.payment.authorization.created")  # fmt: skip
    SandboxFault.objects.create(gateway="anet-webhooks", kind="webhook_delay", value=1500,
                                match="net.authorize.payment.authorization.created")  # fmt: skip

    payment_id = purchase(api, 5200, capture=False).json()["id"]
    api.post(f"/api/v1/payments/{payment_id}/capture", {}, format="json")

    wait_for(lambda: IncomingWebhook.objects.filter(status=S.PROCESSED).count() == 2)
    wait_for(lambda: AnetNotification.objects.filter(status="delivered").count() == 2)
    first, second = IncomingWebhook.objects.order_by("received_at")
    # The capture's notification overtook the delayed authorization's; three copies of it, one stored.
    assert first.event_type == "net.authorize.payment.priorAuthCapture.created"
    assert second.event_type == "net.authorize.payment.authorization.created"
    assert Payment.objects.get(public_id=payment_id).status == "captured"
    assert IncomingWebhook.objects.count() == 2


def test_duplicates_are_counted_in_metrics(client, anet_account):
    body = anet_body("1", notification_id=f"n-{uuid.uuid4()}")
    before = metric("duplicate")

    post_anet(client, anet_account, body)
    post_anet(client, anet_account, body)

    assert metric("duplicate") == before + 1


def test_an_event_of_a_schedule_not_recorded_yet_is_tried_again_then_kept(client, anet_account):
    """A gateway-run schedule's event can outrun the commit that stores the schedule's id (a resume
    makes a new schedule): it fails and is retried for a while, then counts as unmatched."""
    from datetime import timedelta

    from django.utils import timezone

    from apps.webhooks.processors import SCHEDULE_MATCH_GRACE

    webhook = receive(client, anet_account, "9100001", "net.authorize.customer.subscription.created")

    early = incoming_webhook_process(webhook_id=webhook.pk)

    assert early.status == S.FAILED and early.next_attempt_at is not None
    assert "9100001 yet" in early.last_error
    IncomingWebhook.objects.filter(pk=webhook.pk).update(
        received_at=timezone.now() - SCHEDULE_MATCH_GRACE - timedelta(seconds=1)
    )
    late = incoming_webhook_process(webhook_id=webhook.pk)
    assert late.status == S.UNMATCHED and "schedule 9100001" in late.result
