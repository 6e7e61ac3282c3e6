"""Approving many refunds at once in the admin: the approvals are committed in the request and the
gateway calls are made by a worker, each exactly once, whatever the stale-call sweeper, the
resolver or a second run of the task does meanwhile. Real worker, real threads, the sandbox over
HTTP."""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.db import connections, transaction
from django.utils import timezone

from apps.accounts import roles
from apps.audit.actors import Actor
from apps.audit.models import AuditEvent
from apps.core.queueing import enqueue
from apps.payments import services
from apps.payments.models import GatewayTransaction, Payment, Refund
from apps.payments.services import gateway_transaction_resolve, gateway_transactions_sweep, refund_create
from apps.payments.services import refunds as refunds_module
from apps.sandbox.models import AnetTransaction, SandboxFault
from tests.accounts.factories import StaffUserFactory
from tests.helpers import lock_waits, wait_for
from tests.payments.helpers import purchase, settle
from tests.payments.test_bank_account_debits import RETURNED_R01_AFTER_2_RUNS, bank, debit, run

pytestmark = pytest.mark.django_db(transaction=True)

REFUNDS = "/admin/payments/refund/"
SEND_TASK = "apps.payments.tasks.refund_send"


def refunds_at_gateway() -> int:
    return AnetTransaction.objects.filter(transaction_type="refundTransaction", response_code="1").count()


def waiting_refunds(api: Any, anet_sandbox: Any, count: int) -> list[Refund]:
    """`count` captured, settled payments, each with a refund of 4.00 USD an operator asked for."""
    operator = StaffUserFactory(roles=[roles.FINANCE_OPERATOR])
    payment_ids = [purchase(api, 1000).json()["id"] for _ in range(count)]
    settle(anet_sandbox)
    refunds = [
        refund_create(
            payment=Payment.objects.get(public_id=payment_id),
            amount=400,
            reason="returned",
            actor=Actor.staff(operator),
            requested_by_user=operator,
        )
        for payment_id in payment_ids
    ]
    assert {refund.status for refund in refunds} == {"pending_approval"}
    return refunds


def approve_in_admin(client: Any, refunds: list[Refund]) -> Any:
    return client.post(
        REFUNDS,
        {"action": "approve_selected", ACTION_CHECKBOX_NAME: [r.pk for r in refunds], "confirm": "yes", "note": "ok"},
        follow=True,
    )


def run_sent(sent_tasks: list[Any]) -> None:
    """Each send task queued so far, run as a worker runs it (twice: a redelivered message)."""
    for task in [t for t in sent_tasks if t.name == SEND_TASK]:
        services.refund_send(gateway_transaction_id=task.args[0])
        services.refund_send(gateway_transaction_id=task.args[0])


def assert_each_refunded_once(refunds: list[Refund]) -> None:
    assert refunds_at_gateway() == len(refunds)
    for refund in refunds:
        refund.refresh_from_db()
        payment = Payment.objects.get(pk=refund.payment_id)
        assert refund.status == "succeeded", (refund.public_id, refund.status, refund.failure_message)
        assert (payment.amount_refunded, payment.amount_refund_pending) == (400, 0)
        assert AuditEvent.objects.filter(action="refund.succeeded", target_id=refund.public_id).count() == 1
    assert not GatewayTransaction.objects.filter(kind="refund").exclude(status="succeeded").exists()


def test_bulk_approval_answers_without_the_gateway_and_a_worker_sends_each_refund_once(
    api, anet_account, anet_sandbox, staff_client, sent_tasks, celery_worker, monkeypatch
):
    refunds = waiting_refunds(api, anet_sandbox, 3)
    approver = staff_client(roles.FINANCE_APPROVER)

    done = approve_in_admin(approver, refunds)

    # The request approved all three and called no gateway: the calls wait for a worker.
    assert refunds_at_gateway() == 0
    for refund in refunds:
        refund.refresh_from_db()
        assert (refund.status, refund.decided_by_user_id) == ("pending", approver.user.pk)
        assert AuditEvent.objects.filter(action="refund.approved", target_id=refund.public_id).count() == 1
        message = f"Refund {refund.public_id} of 4.00 USD: approved, being sent to the gateway."
        assert message.encode() in done.content
    assert set(GatewayTransaction.objects.filter(kind="refund").values_list("status", flat=True)) == {"queued"}
    assert b"Approved, being sent to the gateway" in approver.get(REFUNDS).content
    queued = [task.args for task in sent_tasks if task.name == SEND_TASK]
    assert sorted(queued) == sorted((gt.pk,) for gt in GatewayTransaction.objects.filter(kind="refund"))

    # The real worker takes what the request queued (each message twice: redelivered after a crash).
    monkeypatch.undo()
    for args in queued + queued:
        assert enqueue(SEND_TASK, *args)
    wait_for(lambda: not Refund.objects.filter(status="pending").exists(), timeout=30)
    time.sleep(0.5)  # the second copies, run after

    assert_each_refunded_once(refunds)
    listing = approver.get(REFUNDS).content
    assert b"Approved, being sent" not in listing and listing.count(b"Succeeded") >= 3


def test_one_approval_is_still_sent_in_the_request(api, anet_account, anet_sandbox, staff_client, sent_tasks):
    [refund] = waiting_refunds(api, anet_sandbox, 1)

    done = approve_in_admin(staff_client(roles.FINANCE_APPROVER), [refund])

    assert f"Refund {refund.public_id} of 4.00 USD: succeeded.".encode() in done.content
    assert_each_refunded_once([refund])
    assert not [task for task in sent_tasks if task.name == SEND_TASK]


def test_a_queued_call_is_never_ruled_lost_by_the_sweeper_and_is_sent_once(
    api, anet_account, anet_sandbox, staff_client, sent_tasks, settings
):
    """The worker is slow to take the sends (a long queue, a lost message): the calls were opened
    long ago and never sent. The sweeper must not turn them unknown and the resolver must not rule
    them "never happened" (the gateway has no record of a call not sent yet): the sends that follow
    would refund money for refunds we recorded as failed, which staff then refund again."""
    settings.GATEWAY_STALE_CALL_SECONDS = 60
    refunds = waiting_refunds(api, anet_sandbox, 2)
    approve_in_admin(staff_client(roles.FINANCE_APPROVER), refunds)
    GatewayTransaction.objects.filter(kind="refund").update(created_at=timezone.now() - timedelta(hours=1))

    # The beat's sweep and the resolutions it queues.
    for pk in gateway_transactions_sweep():
        gateway_transaction_resolve(gateway_transaction_id=pk)

    assert set(GatewayTransaction.objects.filter(kind="refund").values_list("status", flat=True)) == {"queued"}
    assert set(Refund.objects.values_list("status", flat=True)) == {"pending"}
    # Queued for sending again (the first message may be lost); the copies send nothing twice.
    calls = sorted(GatewayTransaction.objects.filter(kind="refund").values_list("pk", flat=True))
    assert sorted(t.args[0] for t in sent_tasks if t.name == SEND_TASK) == sorted(calls + calls)
    run_sent(sent_tasks)

    assert_each_refunded_once(refunds)


def test_a_refund_out_at_the_gateway_is_not_ruled_lost_while_its_answer_comes(
    api, anet_account, anet_sandbox, staff_client, sent_tasks, sandbox_fault, settings
):
    """The send claims the call right before it goes out, and its age starts then: approved an hour
    ago, it is still young to the sweeper while the gateway takes its time to answer."""
    settings.GATEWAY_STALE_CALL_SECONDS = 5  # longer than the call takes, shorter than since the approval
    refunds = waiting_refunds(api, anet_sandbox, 2)
    approve_in_admin(staff_client(roles.FINANCE_APPROVER), refunds)
    GatewayTransaction.objects.filter(kind="refund").update(created_at=timezone.now() - timedelta(hours=1))
    slow = sandbox_fault("latency", 1500, match="createTransactionRequest")  # within the 2 s timeout
    first = GatewayTransaction.objects.filter(kind="refund").order_by("pk").first()
    assert first is not None

    def send() -> None:
        try:
            services.refund_send(gateway_transaction_id=first.pk)
        finally:
            connections.close_all()

    thread = threading.Thread(target=send)
    thread.start()
    try:
        wait_for(lambda: not SandboxFault.objects.filter(pk=slow.pk, remaining__gt=0).exists(), timeout=10)
        time.sleep(0.5)  # the refund is out at the gateway, its answer not yet come
        assert GatewayTransaction.objects.get(pk=first.pk).status == "pending"
        for pk in gateway_transactions_sweep():
            gateway_transaction_resolve(gateway_transaction_id=pk)
        assert GatewayTransaction.objects.get(pk=first.pk).status == "pending"  # not judged: still young
    finally:
        thread.join(timeout=30)
    run_sent(sent_tasks)

    assert_each_refunded_once(refunds)


def test_two_runs_of_one_send_at_the_same_moment_send_it_once(
    api, anet_account, anet_sandbox, staff_client, sent_tasks
):
    """Both runs find the call queued, then wait for the payment's lock (held here): the one that
    gets it first claims the call; the other finds it claimed and sends nothing."""
    refunds = waiting_refunds(api, anet_sandbox, 2)
    approve_in_admin(staff_client(roles.FINANCE_APPROVER), refunds)
    call = GatewayTransaction.objects.filter(kind="refund").order_by("pk").first()
    assert call is not None
    answers: list[str] = []
    errors: list[BaseException] = []

    def send() -> None:
        try:
            answers.append(services.refund_send(gateway_transaction_id=call.pk))
        except BaseException as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=send) for _ in range(2)]
    with transaction.atomic():
        Payment.objects.select_for_update().get(pk=call.payment_id)
        for thread in threads:
            thread.start()
        wait_for(lambda: lock_waits() >= 2, timeout=10)
    for thread in threads:
        thread.join(timeout=30)

    assert not errors, errors
    refund = Refund.objects.get(pk=call.refund_id)
    assert sorted(answers) == sorted([f"{refund.public_id}: succeeded", f"{refund.public_id}: sent already (pending)"])
    run_sent(sent_tasks)  # and the other refund, for the ledger's sake
    assert_each_refunded_once(refunds)


def test_a_debit_returned_before_its_approved_refunds_are_sent_fails_them_unsent(
    api, anet_account, anet_sandbox, staff_client, sent_tasks, settings
):
    """Approved, waiting for the worker, when the customer's bank returns the debit: crediting the
    account now would pay back money the bank already took back. The refunds fail, unsent, their
    amount released, as refunds still waiting for approval do."""
    settings.REFUND_APPROVAL_THRESHOLDS = {"USD": 500}
    payment_id = debit(api, payment_method=bank(RETURNED_R01_AFTER_2_RUNS)).json()["id"]
    settle(anet_sandbox)
    run(anet_account)  # the debit settles: captured, refundable
    for _ in range(2):
        assert api.post(f"/api/v1/payments/{payment_id}/refunds", {"amount": 1000}, format="json").status_code == 202
    refunds = list(Refund.objects.order_by("pk"))
    approve_in_admin(staff_client(roles.FINANCE_APPROVER), refunds)
    settle(anet_sandbox)
    settle(anet_sandbox)  # the bank returns the debit
    run(anet_account)

    run_sent(sent_tasks)

    assert not AnetTransaction.objects.filter(transaction_type="refundTransaction").exists()  # never asked
    payment = Payment.objects.get(public_id=payment_id)
    assert (payment.status, payment.amount_refunded, payment.amount_refund_pending) == ("returned", 0, 0)
    for refund in refunds:
        refund.refresh_from_db()
        assert (refund.status, refund.failure_code) == ("failed", "payment_returned")
        assert AuditEvent.objects.filter(action="refund.failed", target_id=refund.public_id).count() == 1
    assert set(GatewayTransaction.objects.filter(kind="refund").values_list("status", flat=True)) == {"failed"}


def test_a_run_that_found_the_call_queued_leaves_it_to_the_run_that_claimed_it(
    api, anet_account, anet_sandbox, staff_client, sent_tasks, settings
):
    """Two runs of one send (the sweeper's copy and the first): the second found the call queued
    before taking the locks; meanwhile the first claimed it and went to the gateway, and the bank
    returned the debit. The second must not close the call as never sent nor fail its refund: the
    gateway may be paying it out, and the first run records what it answers."""
    settings.REFUND_APPROVAL_THRESHOLDS = {"USD": 500}
    payment_id = debit(api, payment_method=bank(RETURNED_R01_AFTER_2_RUNS)).json()["id"]
    settle(anet_sandbox)
    run(anet_account)
    for _ in range(2):
        assert api.post(f"/api/v1/payments/{payment_id}/refunds", {"amount": 1000}, format="json").status_code == 202
    approve_in_admin(staff_client(roles.FINANCE_APPROVER), list(Refund.objects.order_by("pk")))
    found_queued = GatewayTransaction.objects.select_related("refund").filter(kind="refund").order_by("pk").first()
    assert found_queued is not None and found_queued.status == "queued"
    claimed = GatewayTransaction.objects.get(pk=found_queued.pk)
    assert services.call_mark_sent(claimed, was=GatewayTransaction.Status.QUEUED)  # the first run, out now
    settle(anet_sandbox)
    settle(anet_sandbox)
    run(anet_account)  # the bank returns the debit
    assert Payment.objects.get(public_id=payment_id).status == "returned"

    with transaction.atomic():
        answer = refunds_module._refund_claim_queued_call(found_queued, Actor.system("test"))

    refund = Refund.objects.get(pk=found_queued.refund_id)
    assert answer == f"{refund.public_id}: sent already (pending)"
    assert (refund.status, GatewayTransaction.objects.get(pk=found_queued.pk).status) == ("pending", "pending")
    assert not AuditEvent.objects.filter(action="refund.failed", target_id=refund.public_id).exists()


def test_a_queued_refund_the_gateway_never_received_is_queued_again_and_sent_once(
    api, anet_account, anet_sandbox, staff_client, sent_tasks, sandbox_fault
):
    """The gateway is down when the worker sends (503, nothing processed): nobody waits for this
    answer, so instead of failing the refund for staff to ask again, the call goes back in the
    queue and the next try refunds it, once."""
    refunds = waiting_refunds(api, anet_sandbox, 2)
    approve_in_admin(staff_client(roles.FINANCE_APPROVER), refunds)
    call = GatewayTransaction.objects.filter(kind="refund").order_by("pk").first()
    assert call is not None
    sandbox_fault("http_error", 503, match="createTransactionRequest", remaining=1)

    with pytest.raises(services.RefundSendDeferred):
        services.refund_send(gateway_transaction_id=call.pk)

    refund = Refund.objects.get(pk=call.refund_id)
    assert (refund.status, GatewayTransaction.objects.get(pk=call.pk).status) == ("pending", "queued")
    assert services.refund_send(gateway_transaction_id=call.pk) == f"{refund.public_id}: succeeded"
    run_sent(sent_tasks)
    assert_each_refunded_once(refunds)


def test_the_sweeper_leaves_a_deferred_send_to_its_own_retries(
    api, anet_account, anet_sandbox, staff_client, sent_tasks, sandbox_fault, settings
):
    """A send the gateway refused unprocessed (a 503, a rate limit) waits for its task's retry,
    minutes away at the end of its backoff. The stale-call sweeper must not send copies meanwhile:
    each would start a retry chain of its own and hit the refusing gateway again and again. It
    sends one only once the task's own retry is overdue (that retry was lost)."""
    refunds = waiting_refunds(api, anet_sandbox, 2)
    approve_in_admin(staff_client(roles.FINANCE_APPROVER), refunds)
    call = GatewayTransaction.objects.filter(kind="refund").order_by("pk").first()
    assert call is not None
    sandbox_fault("http_error", 503, match="createTransactionRequest", remaining=1)
    with pytest.raises(services.RefundSendDeferred):
        services.refund_send(gateway_transaction_id=call.pk)
    settings.GATEWAY_STALE_CALL_SECONDS = 1
    time.sleep(1.1)  # older than the stale threshold since it was claimed and sent
    sent_tasks.clear()

    gateway_transactions_sweep()

    assert [t for t in sent_tasks if t.name == SEND_TASK and t.args[0] == call.pk] == []
    # Its retry never came: once overdue, the sweeper sends it, and it is refunded once.
    overdue = timezone.now() - refunds_module.DEFERRED_SEND_GRACE - timedelta(seconds=2)
    GatewayTransaction.objects.filter(pk=call.pk).update(created_at=overdue)
    gateway_transactions_sweep()
    assert [t.args[0] for t in sent_tasks if t.name == SEND_TASK].count(call.pk) == 1
    run_sent(sent_tasks)
    assert_each_refunded_once(refunds)


def test_past_its_window_a_queued_refund_the_gateway_never_received_fails(
    api, anet_account, anet_sandbox, staff_client, sent_tasks, sandbox_fault
):
    refunds = waiting_refunds(api, anet_sandbox, 2)
    approve_in_admin(staff_client(roles.FINANCE_APPROVER), refunds)
    call = GatewayTransaction.objects.filter(kind="refund").order_by("pk").first()
    assert call is not None
    Refund.objects.filter(pk=call.refund_id).update(decided_at=timezone.now() - timedelta(hours=2))
    sandbox_fault("http_error", 503, match="createTransactionRequest", remaining=1)

    answer = services.refund_send(gateway_transaction_id=call.pk)

    refund = Refund.objects.get(pk=call.refund_id)
    assert (answer, refund.status, GatewayTransaction.objects.get(pk=call.pk).status) == (
        f"{refund.public_id}: failed", "failed", "failed",
    )  # fmt: skip
    assert refunds_at_gateway() == 0


@pytest.mark.parametrize("fault", ["answer_lost", "worker_killed"])
def test_a_send_that_died_after_the_gateway_call_is_found_not_made_again(
    api, anet_account, anet_sandbox, staff_client, sent_tasks, sandbox_fault, settings, fault
):
    """The gateway refunded, and our side never recorded it: its answer lost (the connection reset
    after processing), or the worker killed right after the call (the call left pending, as its
    claim committed it). The task's redelivery sends nothing; the sweeper and the resolver find
    the refund at the gateway by its reference: one refund there, recorded succeeded."""
    settings.GATEWAY_STALE_CALL_SECONDS = 60
    refunds = waiting_refunds(api, anet_sandbox, 2)
    approve_in_admin(staff_client(roles.FINANCE_APPROVER), refunds)
    call = GatewayTransaction.objects.filter(kind="refund").order_by("pk").first()
    assert call is not None
    sandbox_fault("drop_response", match="createTransactionRequest", remaining=1)

    services.refund_send(gateway_transaction_id=call.pk)
    if fault == "worker_killed":  # nothing of the call's outcome was written: still as claimed
        GatewayTransaction.objects.filter(pk=call.pk).update(status="pending", completed_at=None)
    assert refunds_at_gateway() == 1
    assert ": sent already" in services.refund_send(gateway_transaction_id=call.pk)  # redelivered
    GatewayTransaction.objects.filter(pk=call.pk).update(created_at=timezone.now() - timedelta(hours=1))
    for pk in gateway_transactions_sweep():
        gateway_transaction_resolve(gateway_transaction_id=pk)

    refund = Refund.objects.get(pk=call.refund_id)
    assert (refund.status, GatewayTransaction.objects.get(pk=call.pk).status) == ("succeeded", "succeeded")
    assert refunds_at_gateway() == 1
    run_sent(sent_tasks)  # the other refund, and the resolutions queued meanwhile
    assert_each_refunded_once(refunds)
