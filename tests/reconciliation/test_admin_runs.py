"""Fetch and reconcile from the admin: a finance operator asks for a range of days, a task fetches
the settlements through the gateway SDK and matches them, and the run's page follows its progress
and shows its result. The task is safe to run twice, overlapping runs are refused, and a gateway
error fails the run with its reason."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from apps.accounts import roles
from apps.audit.actors import Actor
from apps.audit.models import AuditEvent
from apps.payments.models import Payment
from apps.reconciliation.errors import RunInProgress
from apps.reconciliation.models import Discrepancy, ReconciliationRun, SettlementBatch
from apps.reconciliation.runs import EXECUTE_TASK, STALE_AFTER, reconciliation_run_request
from apps.reconciliation.tasks import reconciliation_run_execute, reconciliation_runs_sweep
from apps.sandbox.services import anet_settlement_discrepancy
from tests.accounts.factories import StaffUserFactory
from tests.factories import GatewayAccountFactory
from tests.helpers import assert_shows_money, wait_for
from tests.payments.helpers import purchase, settle

BATCHES = "/admin/reconciliation/settlementbatch/"
FORM = "/admin/reconciliation/reconciliationrun/request/"
RUNS = "/admin/reconciliation/reconciliationrun/"
SYSTEM = Actor.system("tests")
Status = ReconciliationRun.Status


def today():
    return timezone.now().date()


def short_paid_day(api, sandbox) -> None:
    """Two payments settled today, the second settled short (10.00 for 25.00): one line matches,
    one amount mismatch."""
    purchase(api, 1000)
    short = Payment.objects.get(public_id=purchase(api, 2500).json()["id"])
    anet_settlement_discrepancy(
        account=sandbox, kind="amount", trans_id=short.gateway_transaction_id, amount=1000, actor=SYSTEM
    )
    settle(sandbox)


def request_run(account, first=None, last=None, user=None) -> ReconciliationRun:
    user = user or StaffUserFactory(roles=[roles.FINANCE_OPERATOR])
    return reconciliation_run_request(
        account=account, first_day=first or today(), last_day=last or today(), actor=Actor.staff(user), user=user
    )


def test_an_operator_fetches_and_reconciles_a_day_from_the_settlement_list(
    api, anet_account, anet_sandbox, staff_client, sent_tasks, django_capture_on_commit_callbacks
):
    short_paid_day(api, anet_sandbox)
    staff = staff_client(roles.FINANCE_OPERATOR)
    assert "Fetch and reconcile…".encode() in staff.get(BATCHES).content
    form = staff.get(FORM)
    assert form.status_code == 200 and (today() - timedelta(days=1)).isoformat().encode() in form.content

    with django_capture_on_commit_callbacks(execute=True):
        response = staff.post(FORM, {"gateway_account": anet_account.pk, "first_day": today(), "last_day": today()})

    run = ReconciliationRun.objects.get()
    assert response.status_code == 302 and response["Location"] == f"{RUNS}{run.pk}/change/"
    assert (run.status, run.requested_by, run.days_total) == (Status.QUEUED, staff.user, 1)
    assert run.public_id.startswith("rcr_")
    assert [(task.name, task.args) for task in sent_tasks] == [(EXECUTE_TASK, (run.pk,))]
    assert AuditEvent.objects.filter(action="reconciliation_run.requested", target_id=run.public_id).count() == 1
    queued_page = staff.get(response["Location"])
    assert b'<meta http-equiv="refresh" content="2">' in queued_page.content
    assert b"0 of 1 days" in queued_page.content

    assert reconciliation_run_execute(run.pk) == Status.SUCCEEDED

    run.refresh_from_db()
    batch = SettlementBatch.objects.get()
    assert run.result["matched"] == 1 and run.result["opened"] == {"amount_mismatch": 1}
    assert run.result["batches"] == [{"account": anet_account.public_id, "batch": batch.gateway_batch_id}]
    page = staff.get(response["Location"])
    assert b"http-equiv" not in page.content  # finished: no more refreshing
    for text in ("1 of 1 days", "Succeeded", batch.gateway_batch_id, "<strong>Lines matched:</strong> 1"):
        assert text.encode() in page.content
    assert b"/admin/reconciliation/discrepancy/?kind__exact=amount_mismatch" in page.content
    assert b"Amount mismatch: 1" in page.content
    assert_shows_money(page.content, shown=["20.00 USD"], bare=[2000])  # the payout: 10.00 + 10.00 (settled short)
    assert Discrepancy.objects.get().kind == "amount_mismatch"
    assert staff.get(RUNS).status_code == 200 and run.public_id.encode() in staff.get(RUNS).content


def test_the_task_run_twice_does_the_work_once(api, anet_account, anet_sandbox):
    short_paid_day(api, anet_sandbox)
    run = request_run(anet_account, first=today() - timedelta(days=2))

    first = reconciliation_run_execute(run.pk)
    again = reconciliation_run_execute(run.pk)

    run.refresh_from_db()
    assert (first, again) == (Status.SUCCEEDED, "not claimed")
    assert (run.days_done, run.days_total, run.result["matched"]) == (3, 3, 1)
    assert SettlementBatch.objects.count() == 1 and Discrepancy.objects.count() == 1
    actions = list(AuditEvent.objects.filter(target_id=run.public_id).order_by("id").values_list("action", flat=True))
    assert actions == ["reconciliation_run.requested", "reconciliation_run.started", "reconciliation_run.succeeded"]


def test_a_second_delivery_while_the_run_is_running_exits_and_a_dead_workers_run_is_taken_over(
    api, anet_account, anet_sandbox, sent_tasks
):
    short_paid_day(api, anet_sandbox)
    run = request_run(anet_account, first=today() - timedelta(days=1))
    ReconciliationRun.objects.filter(pk=run.pk).update(
        status=Status.RUNNING, claim_token="dead", heartbeat_at=timezone.now(), days_done=1
    )

    assert reconciliation_run_execute(run.pk) == "not claimed"  # a live worker has it
    assert reconciliation_runs_sweep() == 0
    ReconciliationRun.objects.filter(pk=run.pk).update(heartbeat_at=timezone.now() - STALE_AFTER - timedelta(1))
    assert reconciliation_runs_sweep() == 1 and sent_tasks[-1].args == (run.pk,)
    assert reconciliation_run_execute(run.pk) == Status.SUCCEEDED  # resumes after the day done

    run.refresh_from_db()
    assert (run.days_done, run.result["matched"], SettlementBatch.objects.count()) == (2, 1, 1)
    assert AuditEvent.objects.filter(action="reconciliation_run.taken_over", target_id=run.public_id).exists()


def test_a_viewer_may_follow_runs_but_not_ask_for_one(db, staff_client):
    account = GatewayAccountFactory()
    staff = staff_client(roles.FINANCE_VIEWER)

    assert staff.get(FORM).status_code == 403
    assert (
        staff.post(FORM, {"gateway_account": account.pk, "first_day": today(), "last_day": today()}).status_code == 403
    )
    assert "Fetch and reconcile…".encode() not in staff.get(BATCHES).content
    assert staff.get(RUNS).status_code == 200
    assert not ReconciliationRun.objects.exists()


@pytest.mark.parametrize(
    ("first", "last", "account", "error"),
    [
        (0, -1, "ours", "The last day is before the first day."),
        (-31, 0, "ours", "A run covers at most 31 days."),
        (0, 1, "ours", "Days in the future have no settlements yet"),
        (0, 0, "unknown", "Select a valid choice."),
        (0, 0, "inactive", "Select a valid choice."),
        ("yesterday", 0, "ours", "Enter a valid date."),
        (0, "2024-02-30", "ours", "Enter a valid date."),
    ],
)
def test_bad_input_shows_the_form_again_with_its_error_and_creates_nothing(
    db, staff_client, first, last, account, error
):
    ours, inactive = GatewayAccountFactory(), GatewayAccountFactory(is_active=False)
    pk = {"ours": ours.pk, "unknown": 987654, "inactive": inactive.pk}[account]
    staff = staff_client(roles.FINANCE_OPERATOR)

    def day(value):
        return (today() + timedelta(days=value)).isoformat() if isinstance(value, int) else value

    page = staff.post(FORM, {"gateway_account": pk, "first_day": day(first), "last_day": day(last)})

    assert page.status_code == 200
    assert error.encode() in page.content and b"errorlist" in page.content
    assert not ReconciliationRun.objects.exists()
    assert not AuditEvent.objects.filter(action__startswith="reconciliation_run.").exists()


def test_an_overlapping_request_is_refused_while_a_run_is_queued_or_running(db, staff_client, sent_tasks):
    account, other = GatewayAccountFactory(), GatewayAccountFactory()
    running = request_run(account, first=today() - timedelta(days=3), last=today() - timedelta(days=1))
    ReconciliationRun.objects.filter(pk=running.pk).update(status=Status.RUNNING, heartbeat_at=timezone.now())
    staff = staff_client(roles.FINANCE_APPROVER)

    all_accounts = staff.post(FORM, {"gateway_account": "", "first_day": today(), "last_day": today()}, follow=True)
    refused = staff.post(
        FORM, {"gateway_account": "", "first_day": today() - timedelta(days=2), "last_day": today() - timedelta(days=2)}
    )

    assert refused.status_code == 200 and f"Run {running.public_id}".encode() in refused.content
    assert b"is running and covers some of these days" in refused.content
    assert all_accounts.status_code == 200 and b"is queued" in all_accounts.content  # no overlap: accepted
    assert ReconciliationRun.objects.count() == 2
    with pytest.raises(RunInProgress):
        request_run(account, first=today() - timedelta(days=1))
    assert request_run(other, first=today() - timedelta(days=3), last=today() - timedelta(days=1)).status == "queued"
    ReconciliationRun.objects.filter(pk=running.pk).update(status=Status.SUCCEEDED)
    assert request_run(account, first=today() - timedelta(days=2), last=today() - timedelta(days=2))


@pytest.mark.skipif(connection.vendor != "postgresql", reason="concurrent writers need PostgreSQL")
def test_two_overlapping_requests_at_once_create_one_run(transactional_db, sent_tasks):
    account = GatewayAccountFactory()
    users = [StaffUserFactory(roles=[roles.FINANCE_OPERATOR]) for _ in range(2)]
    barrier, outcomes = threading.Barrier(2), []

    def ask(user):
        try:
            barrier.wait()
            outcomes.append(request_run(account, user=user).public_id)
        except RunInProgress:
            outcomes.append("refused")
        finally:
            connection.close()

    threads = [threading.Thread(target=ask, args=(user,)) for user in users]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(outcomes)[-1] == "refused" and len(outcomes) == 2
    assert ReconciliationRun.objects.count() == 1


def test_a_gateway_error_fails_the_run_with_its_reason(api, anet_account, anet_sandbox, staff_client, sandbox_fault):
    short_paid_day(api, anet_sandbox)
    staff = staff_client(roles.FINANCE_OPERATOR)
    run = request_run(anet_account, user=staff.user)
    sandbox_fault("http_error", value=503, match="getSettledBatchListRequest")

    assert reconciliation_run_execute(run.pk) == Status.FAILED

    run.refresh_from_db()
    assert run.error.startswith(f"{anet_account.public_id}, {today()}: the gateway could not be asked")
    assert run.finished_at is not None and not SettlementBatch.objects.exists()
    page = staff.get(f"{RUNS}{run.pk}/change/")
    assert b"The run failed" in page.content and b"http-equiv" not in page.content
    failed = AuditEvent.objects.get(action="reconciliation_run.failed", target_id=run.public_id)
    assert failed.actor_id == str(staff.user.pk)
    assert reconciliation_run_execute(run.pk) == "not claimed"  # failed is final; ask again for a new run
    assert request_run(anet_account).status == Status.QUEUED


def test_end_to_end_through_a_real_worker(api, anet_account, anet_sandbox, staff_client, celery_worker):
    short_paid_day(api, anet_sandbox)
    staff = staff_client(roles.FINANCE_OPERATOR)

    response = staff.post(FORM, {"gateway_account": "", "first_day": today(), "last_day": today()})

    run = ReconciliationRun.objects.get()
    wait_for(lambda: ReconciliationRun.objects.filter(pk=run.pk, status=Status.SUCCEEDED).exists(), timeout=30)
    page = staff.get(response["Location"])
    assert b"Amount mismatch: 1" in page.content and b"1 of 1 days" in page.content
    assert SettlementBatch.objects.count() == 1
