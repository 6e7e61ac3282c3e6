"""Idempotency-Key when a request fails after doing something, dies, or has no final answer yet."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.test import override_settings
from django.urls import path
from django.utils import timezone
from rest_framework import status
from rest_framework.response import Response
from rest_framework.test import APIClient

from apps.api.idempotency import idempotency_reference, record_reference
from apps.api.models import IdempotencyRecord
from apps.api.views import IdempotentApiView
from apps.audit.actors import Actor
from apps.audit.services import audit_record
from apps.bench.models import BenchmarkRow
from apps.core.context import RequestContext, request_context
from apps.payments.errors import PaymentBusy

# Also run on SQLite (the quickstart's database): see config/settings/test_sqlite.py.
pytestmark = [pytest.mark.django_db, pytest.mark.sqlite]


class Work(IdempotentApiView):
    """Each run writes a row (audited, like every change) and answers as the body asks."""

    def post(self, request):
        note = request.data["note"]
        runs = BenchmarkRow.objects.filter(note=self.idempotency_reference).count() + 1
        if note == "busy":
            raise PaymentBusy()
        with transaction.atomic():
            row = BenchmarkRow.objects.create(merchant=self.merchant(request), note=self.idempotency_reference)
            audit_record(actor=Actor.system("tests"), action="row.created", target=row)
        if note == "crash" and runs == 1:
            raise RuntimeError("failed after committing")
        if note == "pending" and runs == 1:
            self.outcome_pending = True
            return Response({"runs": runs, "reference": self.idempotency_reference}, status=status.HTTP_202_ACCEPTED)
        return Response({"runs": runs, "reference": self.idempotency_reference}, status=status.HTTP_201_CREATED)


urlpatterns = [path("api/v1/_test/work", Work.as_view())]
use_test_urls = override_settings(ROOT_URLCONF=__name__)


def post(client, note, key):
    return client.post("/api/v1/_test/work", {"note": note}, format="json", HTTP_IDEMPOTENCY_KEY=key)


@use_test_urls
def test_a_server_error_after_a_committed_change_keeps_the_key_and_the_retry_runs_with_the_same_reference(api):
    failed = post(api, "crash", "k1")
    record = IdempotencyRecord.objects.get(key="k1")

    retried = post(api, "crash", "k1")
    replayed = post(api, "crash", "k1")

    assert failed.status_code == 500
    assert (record.state, record.committed) == ("outcome_pending", False)
    assert retried.status_code == 201
    assert retried.json() == {"runs": 2, "reference": record_reference(record)}
    assert replayed["Idempotent-Replayed"] == "true"
    stored = IdempotencyRecord.objects.get(key="k1")
    assert (stored.state, stored.committed, stored.recoveries) == ("completed", True, 1)


@use_test_urls
def test_an_answer_that_is_not_final_is_sent_but_not_replayed(api):
    first = post(api, "pending", "k1")
    pending = IdempotencyRecord.objects.get(key="k1")
    second = post(api, "pending", "k1")

    assert (first.status_code, pending.state) == (202, "outcome_pending")
    assert pending.locked_until <= timezone.now()  # the lease ends with the answer
    assert (second.status_code, second.json()["runs"]) == (201, 2)
    assert "Idempotent-Replayed" not in second
    assert first.json()["reference"] == second.json()["reference"]


@use_test_urls
def test_a_conflict_that_means_try_again_is_not_stored(api):
    busy = post(api, "busy", "k1")

    assert (busy.status_code, busy.json()["error"]["code"]) == (409, "payment_operation_in_progress")
    assert not IdempotencyRecord.objects.filter(key="k1").exists()
    assert post(api, "ok", "k1").status_code == 201


@use_test_urls
def test_within_its_lease_a_key_is_in_progress_and_after_it_a_retry_takes_it_over(api, merchant):
    now = timezone.now()
    record = IdempotencyRecord.objects.create(
        merchant=merchant, key="k1", method="POST", path="/api/v1/_test/work", request_id="req_dead",
        fingerprint=_fingerprint("ok"), created_at=now, locked_until=now + timedelta(seconds=60),
        expires_at=now + timedelta(hours=24),
    )  # fmt: skip

    held = post(api, "ok", "k1")
    IdempotencyRecord.objects.filter(pk=record.pk).update(locked_until=now - timedelta(seconds=1))
    taken_over = post(api, "ok", "k1")

    assert (held.status_code, held.json()["error"]["code"]) == (409, "idempotency_request_in_progress")
    assert taken_over.status_code == 201
    assert taken_over.json()["reference"] == idempotency_reference(merchant_id=merchant.pk, key="k1", created_at=now)
    assert IdempotencyRecord.objects.get(pk=record.pk).state == "completed"


@use_test_urls
def test_a_retry_after_a_holder_that_committed_keeps_the_key_even_if_it_fails_again_before_any_change(api, merchant):
    now = timezone.now()
    IdempotencyRecord.objects.create(
        merchant=merchant, key="k1", method="POST", path="/api/v1/_test/work", request_id="req_dead",
        fingerprint=_fingerprint("busy"), created_at=now, locked_until=now - timedelta(seconds=1),
        expires_at=now + timedelta(hours=24),
    )  # fmt: skip
    with request_context(RequestContext(request_id="req_dead")), transaction.atomic():
        audit_record(actor=Actor.system("tests"), action="row.created", merchant_id=merchant.pk)

    busy = post(api, "busy", "k1")

    assert busy.status_code == 409
    record = IdempotencyRecord.objects.get(key="k1")
    assert (record.state, record.committed) == ("outcome_pending", True)


def test_the_reference_is_the_same_for_one_use_of_a_key_and_new_for_the_next():
    first_use = timezone.now()
    reference = idempotency_reference(merchant_id=1, key="order-1", created_at=first_use)

    assert reference == idempotency_reference(merchant_id=1, key="order-1", created_at=first_use)
    assert len(reference) == 17 and reference.startswith("k") and reference.isalnum()
    assert reference != idempotency_reference(merchant_id=2, key="order-1", created_at=first_use)
    assert reference != idempotency_reference(merchant_id=1, key="order-1", created_at=first_use + timedelta(days=1))


def _fingerprint(note):
    from apps.api.idempotency import request_fingerprint

    return request_fingerprint(method="POST", path="/api/v1/_test/work", body={"note": note})


gate = threading.Event()
entered = threading.Event()


class Slow(IdempotentApiView):
    """Holds its key past the lease, then fails: what a stuck worker does."""

    def post(self, request):
        if request.data["note"] == "stuck" and not entered.is_set():
            entered.set()
            gate.wait(timeout=20)
            raise RuntimeError("woke up after losing the key")
        return Response({"done": True}, status=status.HTTP_201_CREATED)


urlpatterns.append(path("api/v1/_test/slow", Slow.as_view()))


@use_test_urls
@pytest.mark.django_db(transaction=True)
def test_a_holder_that_outlived_its_lease_cannot_touch_the_key_it_lost(api_key):
    gate.clear()
    entered.clear()
    outcome: dict[str, int] = {}

    def stuck_request():
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {api_key.secret}")
        outcome["stuck"] = client.post("/api/v1/_test/slow", {"note": "stuck"}, format="json",
                                       HTTP_IDEMPOTENCY_KEY="k-stuck").status_code  # fmt: skip
        connection.close()

    thread = threading.Thread(target=stuck_request)
    thread.start()
    try:
        assert entered.wait(timeout=10)
        IdempotencyRecord.objects.filter(key="k-stuck").update(locked_until=timezone.now() - timedelta(seconds=1))
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {api_key.secret}")
        retry = client.post("/api/v1/_test/slow", {"note": "stuck"}, format="json", HTTP_IDEMPOTENCY_KEY="k-stuck")
    finally:
        gate.set()
        thread.join(timeout=20)

    assert (retry.status_code, outcome["stuck"]) == (201, 500)
    record = IdempotencyRecord.objects.get(key="k-stuck")
    # The stuck holder's 500 neither deleted the key nor replaced the answer its successor stored.
    assert (record.state, record.response_status, record.recoveries) == ("completed", 201, 1)
