"""A settlement import waits for a reconciliation run of the same account, with real threads on
PostgreSQL: a batch committed while a run links and classifies would show it lines it never
linked (false `missing_on_our_side`, and "create the missing payment" booking money twice). The
run holds the account's row FOR UPDATE; the import's first insert refers to that row, and the
key-share lock it needs waits for the run to end."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest
from django.db import connections, transaction

from apps.audit.actors import Actor
from apps.gateways.settlement_interface import SettlementBatchData, SettlementLineData, SettlementLineKind
from apps.reconciliation.models import SettlementBatch
from apps.reconciliation.services import _locked, settlement_batch_store
from tests.helpers import wait_for_a_lock_wait

pytestmark = pytest.mark.django_db(transaction=True)


def test_an_import_waits_for_a_run_of_the_account(anet_account) -> None:
    batch = SettlementBatchData(
        batch_id="late-1",
        settled_at=datetime.now(UTC),
        currency="USD",
        lines=[SettlementLineData("60000000001", SettlementLineKind.CHARGE, "settledSuccessfully", 1000, "USD")],
    )
    running, finish, seen = threading.Event(), threading.Event(), []

    def a_run() -> None:  # what reconcile holds while it links and classifies
        try:
            with transaction.atomic():
                _locked(anet_account)
                running.set()
                finish.wait(timeout=20)
                seen.append(SettlementBatch.objects.filter(gateway_batch_id="late-1").exists())
        finally:
            connections.close_all()

    def an_import() -> None:
        try:
            running.wait(timeout=10)
            settlement_batch_store(account=anet_account, data=batch, source="csv", actor=Actor.system("tests"))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=a_run), threading.Thread(target=an_import)]
    for thread in threads:
        thread.start()
    try:
        wait_for_a_lock_wait("the import", timeout=10)
        waited = True
    except AssertionError:
        waited = False
    finish.set()
    for thread in threads:
        thread.join(timeout=20)

    assert waited, "the import did not wait for the run"
    assert seen == [False]  # the run never saw the batch
    assert SettlementBatch.objects.filter(gateway_batch_id="late-1").exists()  # stored once the run ended
