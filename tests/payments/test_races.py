"""Concurrency on PostgreSQL with real threads, each with its own connection."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection
from django.db.models import Sum
from rest_framework.test import APIClient

from apps.payments.models import GatewayTransaction, Payment, Refund
from apps.sandbox.models import AnetTransaction
from tests.payments.helpers import purchase, purchase_body, settle

pytestmark = pytest.mark.slow


def run_parallel(count: int, work: Callable[[int], Any]) -> list[Any]:
    barrier = threading.Barrier(count)
    results: list[Any] = [None] * count

    def runner(index: int) -> None:
        try:
            barrier.wait()
            results[index] = work(index)
        except BaseException as exc:  # reported by the assertions
            results[index] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=runner, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return results


def client(secret: str) -> APIClient:
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    return api


def test_fifty_parallel_purchases_with_one_key_make_one_charge(api_key, anet_account, anet_sandbox):
    body = purchase_body(4321)

    def attempt(_: int) -> int:
        return (
            client(api_key.secret)
            .post("/api/v1/payments", body, format="json", HTTP_IDEMPOTENCY_KEY="race-1")
            .status_code
        )

    statuses = run_parallel(50, attempt)

    assert all(isinstance(code, int) for code in statuses), statuses
    assert set(statuses) <= {201, 409}
    assert statuses.count(201) >= 1
    assert Payment.objects.count() == 1
    assert AnetTransaction.objects.filter(account=anet_sandbox).count() == 1
    # Afterwards every retry replays the one result.
    replay = client(api_key.secret).post("/api/v1/payments", body, format="json", HTTP_IDEMPOTENCY_KEY="race-1")
    assert (replay.status_code, replay["Idempotent-Replayed"]) == (201, "true")


def test_parallel_refunds_never_exceed_the_captured_amount(api, api_key, anet_account, anet_sandbox):
    payment = purchase(api, 1000).json()
    settle(anet_sandbox)

    def refund(_: int) -> int:
        return (
            client(api_key.secret)
            .post(f"/api/v1/payments/{payment['id']}/refunds", {"amount": 300}, format="json")
            .status_code
        )

    statuses = run_parallel(10, refund)

    stored = Payment.objects.get(public_id=payment["id"])
    sandbox_refunded = AnetTransaction.objects.filter(transaction_type="refundTransaction").aggregate(
        total=Sum("auth_amount")
    )["total"]
    assert sorted(statuses) == [201, 201, 201] + [400] * 7, statuses
    assert (stored.amount_refunded, stored.amount_refund_pending) == (900, 0)
    assert sandbox_refunded == 900
    assert Refund.objects.filter(status="succeeded").count() == 3


def test_parallel_captures_reach_the_gateway_once(api, api_key, anet_account):
    payment = purchase(api, 2000, capture=False).json()

    def capture(_: int) -> int:
        return client(api_key.secret).post(f"/api/v1/payments/{payment['id']}/capture", {}, format="json").status_code

    statuses = run_parallel(10, capture)

    assert statuses.count(200) == 1, statuses
    assert set(statuses) <= {200, 409}
    assert GatewayTransaction.objects.filter(kind="capture").count() == 1
    assert Payment.objects.get(public_id=payment["id"]).status == "captured"


def test_capture_and_void_racing_leave_one_consistent_outcome(api, api_key, anet_account):
    payment = purchase(api, 2000, capture=False).json()
    paths = ["capture", "void"] * 4

    def act(index: int) -> int:
        return (
            client(api_key.secret)
            .post(f"/api/v1/payments/{payment['id']}/{paths[index]}", {}, format="json")
            .status_code
        )

    statuses = run_parallel(len(paths), act)

    stored = Payment.objects.get(public_id=payment["id"])
    sandbox = AnetTransaction.objects.get(pk=AnetTransaction.pk_from_trans_id(stored.gateway_transaction_id))
    assert stored.status in {"captured", "voided"}
    assert statuses.count(200) >= 1
    expected = {"captured": AnetTransaction.Status.CAPTURED, "voided": AnetTransaction.Status.VOIDED}[stored.status]
    assert sandbox.status == expected
