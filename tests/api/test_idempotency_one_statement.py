"""Idempotency-Key on PostgreSQL outside a transaction (as every API request runs): the claim and
the read of an existing key are one statement, so a replay costs one round trip. Each branch the
read feeds is exercised here, with the key's row as the statement returns it."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connection, connections, transaction
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from django.urls import path
from django.utils import timezone
from rest_framework import status
from rest_framework.response import Response

from apps.api.idempotency import StoredResponse, idempotency_begin, record_reference, request_fingerprint
from apps.api.models import IdempotencyRecord
from apps.api.views import IdempotentApiView
from apps.audit.actors import Actor
from apps.audit.services import audit_record
from apps.bench.models import BenchmarkRow
from tests.helpers import wait_for_a_lock_wait

pytestmark = pytest.mark.django_db(transaction=True)


class CreateRow(IdempotentApiView):
    def post(self, request):
        with transaction.atomic():  # audited, like every change: a pending key is kept for it
            row = BenchmarkRow.objects.create(merchant=self.merchant(request), note=self.idempotency_reference)
            audit_record(actor=Actor.system("tests"), action="row.created", target=row)
        if request.data.get("pending"):
            self.outcome_pending = True
            return Response({"id": row.pk, "zebra": 1, "apple": 2}, status=status.HTTP_202_ACCEPTED)
        return Response({"id": row.pk, "zebra": 1, "apple": 2}, status=status.HTTP_201_CREATED)


urlpatterns = [path("api/v1/_test/rows", CreateRow.as_view())]
use_test_urls = override_settings(ROOT_URLCONF=__name__)


def post(client, body, key):
    return client.post("/api/v1/_test/rows", body, format="json", HTTP_IDEMPOTENCY_KEY=key)


def key_statements(queries) -> list[str]:
    return [query["sql"] for query in queries.captured_queries if "api_idempotencyrecord" in query["sql"]]


@use_test_urls
def test_a_replay_reads_the_key_in_the_claims_statement_and_answers_byte_for_byte(api):
    first = post(api, {"note": "a"}, "k1")

    with CaptureQueriesContext(connection) as queries:
        second = post(api, {"note": "a"}, "k1")

    assert (second.status_code, second["Idempotent-Replayed"]) == (201, "true")
    assert second.content == first.content
    assert len(key_statements(queries)) == 1
    assert BenchmarkRow.objects.count() == 1


@use_test_urls
def test_a_new_key_is_claimed_in_one_statement_with_the_reference_of_its_row(api):
    with CaptureQueriesContext(connection) as queries:
        response = post(api, {"note": "a"}, "k1")

    assert response.status_code == 201
    claim, _finish = key_statements(queries)
    assert claim.startswith("WITH existing AS (SELECT")
    record = IdempotencyRecord.objects.get(key="k1")
    assert BenchmarkRow.objects.get().note == record_reference(record)


@use_test_urls
def test_a_key_stored_before_its_bytes_were_replays_its_json(api):
    first = post(api, {"note": "a"}, "k1")
    IdempotencyRecord.objects.filter(key="k1").update(response_content=None, response_content_type="")

    second = post(api, {"note": "a"}, "k1")

    assert (second.status_code, second["Idempotent-Replayed"]) == (201, "true")
    assert second.json() == first.json()


@use_test_urls
def test_the_same_key_with_another_body_is_422(api):
    post(api, {"note": "a"}, "k1")

    response = post(api, {"note": "b"}, "k1")

    assert response.status_code == 422
    assert response.json()["error"]["code"] == "idempotency_key_reused"
    assert BenchmarkRow.objects.count() == 1


@use_test_urls
def test_an_expired_key_is_a_new_key(api):
    post(api, {"note": "a"}, "k1")
    IdempotencyRecord.objects.filter(key="k1").update(expires_at=timezone.now() - timedelta(seconds=1))

    response = post(api, {"note": "a"}, "k1")

    assert response.status_code == 201
    assert "Idempotent-Replayed" not in response
    assert BenchmarkRow.objects.count() == 2
    assert IdempotencyRecord.objects.get(key="k1").expires_at > timezone.now()


@use_test_urls
def test_a_pending_key_is_taken_over_and_the_retry_keeps_the_reference(api):
    pending = post(api, {"pending": True}, "k1")
    assert pending.status_code == 202
    assert IdempotencyRecord.objects.get(key="k1").state == IdempotencyRecord.State.OUTCOME_PENDING

    retry = post(api, {"pending": False}, "k1")

    assert retry.status_code == 422  # another body: refused, the key kept
    retry = post(api, {"pending": True}, "k1")
    record = IdempotencyRecord.objects.get(key="k1")
    assert (retry.status_code, record.recoveries) == (202, 1)
    assert {row.note for row in BenchmarkRow.objects.all()} == {record_reference(record)}


def test_a_key_claimed_after_the_statement_began_is_read_again_and_replayed(merchant):
    """The claim waits on another request's uncommitted claim of the key; that one commits with
    its answer; the statement's snapshot predates it, so the claim's read finds no row: the key is
    read again, and its answer replayed."""
    fingerprint = request_fingerprint(method="POST", path="/p", body={})
    now = timezone.now()
    holding, release = threading.Event(), threading.Event()

    def other_request():
        with transaction.atomic():
            IdempotencyRecord.objects.create(
                merchant=merchant, key="k1", method="POST", path="/p", fingerprint=fingerprint,
                state=IdempotencyRecord.State.COMPLETED, response_status=201, response_content=b'{"ok":true}',
                response_content_type="application/json", created_at=now, expires_at=now + timedelta(hours=1),
            )  # fmt: skip
            holding.set()
            release.wait(timeout=10)
        connections.close_all()

    other = threading.Thread(target=other_request)
    other.start()
    assert holding.wait(timeout=10)
    result: list[object] = []
    begin = threading.Thread(
        target=lambda: (
            result.append(
                idempotency_begin(merchant=merchant, key="k1", method="POST", path="/p", fingerprint=fingerprint)
            ),
            connections.close_all(),
        )
    )
    begin.start()
    wait_for_a_lock_wait("the claim")
    release.set()
    other.join(timeout=10)
    begin.join(timeout=10)

    assert result == [StoredResponse(status=201, body=None, content=b'{"ok":true}', content_type="application/json")]


def test_a_claim_has_one_index_to_find_its_key_by(db):
    """The only index of idempotency records that leads with the merchant is the unique (merchant,
    key) one. With a merchant-only index beside it, a claim planned while the table was small (and
    kept by the connection's prepared statement until the table is next analysed) read all of the
    merchant's keys through it: 5,500 index entries a claim after 6,000 purchases in `make bench`."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT index_class.relname FROM pg_index JOIN pg_class index_class ON index_class.oid = pg_index.indexrelid"
            " JOIN pg_attribute ON pg_attribute.attrelid = pg_index.indrelid AND pg_attribute.attnum = pg_index.indkey[0]"
            " WHERE pg_index.indrelid = 'api_idempotencyrecord'::regclass AND pg_attribute.attname = 'merchant_id'"
        )
        assert [name for (name,) in cursor.fetchall()] == ["idempotency_unique_key"]
