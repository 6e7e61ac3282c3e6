"""Exactly once per period under concurrency and failure: a Celery worker killed in the middle
of a charge, a redelivered task and two more billing runs in threads, all over the same due
subscriptions, on PostgreSQL with real connections and the sandbox over HTTP."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from datetime import timedelta
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db import connection
from django.db.models import Count

from apps.customers.services import customer_create, payment_method_add
from apps.payments.models import GatewayTransaction
from apps.sandbox.models import AnetTransaction, SandboxFault
from apps.subscriptions.billing import billing_run
from apps.subscriptions.models import BillingAttempt, Invoice
from apps.subscriptions.services import subscription_create
from tests.brokers import broker_purge
from tests.webhooks.helpers import wait_for

from .conftest import ACTOR, T0, VISA

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow, pytest.mark.celery]
ROOT = Path(__file__).resolve().parents[2]
COUNT = 12


def _worker(anet_endpoint: str) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "DATABASE_URL": "postgres://{USER}@{HOST}:{PORT}/{NAME}".format(**connection.settings_dict),
        "AUTHORIZENET_TEST_ENDPOINT": anet_endpoint,
        "BILLING_CLAIM_SECONDS": "3",
        "BILLING_BATCH_SIZE": "4",
    }
    command = [sys.executable, "-m", "celery", "-A", "config", "worker", "--pool", "prefork", "--concurrency", "1",
               "--queues", "billing", "--without-mingle", "--without-gossip", "--loglevel", "WARNING"]  # fmt: skip
    return subprocess.Popen(command, cwd=ROOT, env=env, start_new_session=True)


def _children(pid: int) -> list[int]:
    output = subprocess.run(["pgrep", "-P", str(pid)], check=False, capture_output=True, text=True).stdout
    return [int(line) for line in output.split()]


def test_two_runs_and_a_killed_worker_bill_each_period_exactly_once(
    merchant, anet_account, make_plan, sandbox_fault, settings
):
    from apps.subscriptions.tasks import billing_batch

    settings.BILLING_CLAIM_SECONDS = 3
    settings.BILLING_BATCH_SIZE = 4
    settings.GATEWAY_STALE_CALL_SECONDS = 1
    plan = make_plan(trial_days=1)
    for n in range(COUNT):
        customer = customer_create(merchant=merchant, email=f"c{n}@example.com", actor=ACTOR)
        payment_method_add(customer=customer, livemode=False, payment=VISA, actor=ACTOR)
        subscription_create(merchant=merchant, customer=customer, plan=plan, livemode=False, now=T0, actor=ACTOR)
    due = T0 + timedelta(days=1)
    # The worker's first charge hangs at the gateway: it is killed in the middle of it.
    hang = sandbox_fault("latency", 3000, match="createTransactionRequest")
    broker_purge()
    worker = _worker(settings.AUTHORIZENET_TEST_ENDPOINT)
    try:
        billing_batch.delay(due.isoformat())
        # Killed once its charge is at the gateway (the sandbox took the fault), not before.
        wait_for(lambda: not SandboxFault.objects.filter(pk=hang.pk, remaining__gt=0).exists(), timeout=60)
        time.sleep(0.5)
        (child,) = _children(worker.pid)
        os.kill(child, signal.SIGKILL)  # the task goes back to the queue and runs again

        def run() -> None:
            try:
                billing_run(as_of=due)
            finally:
                connection.close()

        time.sleep(settings.BILLING_CLAIM_SECONDS + 0.5)  # the dead worker's claim runs out
        threads = [threading.Thread(target=run) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        # Anything a failed or unanswered call left is looked at again a little later: the
        # clock moves on an hour a run (each well inside the period), as the beat's runs would.
        later = iter(range(1, 24 * 20))  # hours, each run one later, all inside the month
        wait_for(lambda: billing_run(as_of=due + timedelta(hours=next(later, 24 * 20))) is not None and
                 Invoice.objects.filter(status="paid", period_start=due).count() == COUNT, timeout=90)  # fmt: skip
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait(timeout=30)

    # The killed worker's charge was settled by asking the gateway, not by charging again.
    assert GatewayTransaction.objects.filter(resolution_attempts__gte=1).exists()
    per_period = Invoice.objects.values("subscription", "period_start").annotate(n=Count("id"))
    assert {row["n"] for row in per_period} == {1}
    assert Invoice.objects.filter(status="paid").count() == COUNT
    assert BillingAttempt.objects.filter(status="succeeded").count() == COUNT
    charged = AnetTransaction.objects.filter(transaction_type="authCaptureTransaction", response_code="1")
    per_invoice = charged.values("invoice_number").annotate(n=Count("id"))
    assert charged.count() == COUNT and {row["n"] for row in per_invoice} == {1}
    assert all(Invoice.objects.filter(pk=int(row["invoice_number"][2:].split("a")[0])).exists() for row in per_invoice)
    call_command("verify_audit_chain", stdout=StringIO())  # batch appends from three processes kept every chain intact
