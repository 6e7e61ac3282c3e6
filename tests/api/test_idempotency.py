from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.test import override_settings
from django.urls import path
from django.utils import timezone
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.test import APIClient

from apps.api.idempotency import idempotency_purge_expired
from apps.api.models import IdempotencyRecord
from apps.api.views import IdempotentApiView
from apps.bench.models import BenchmarkRow
from apps.core.errors import ApplicationError

# Also run on SQLite (the quickstart's database): see config/settings/test_sqlite.py.
pytestmark = [pytest.mark.django_db, pytest.mark.sqlite]

gate = threading.Event()
entered = threading.Event()


class CreateRow(IdempotentApiView):
    class Input(serializers.Serializer):
        note = serializers.CharField()

    def post(self, request):
        data = self.Input(data=request.data)
        data.is_valid(raise_exception=True)
        if data.validated_data["note"] == "slow":
            entered.set()
            gate.wait(timeout=10)
        if data.validated_data["note"] == "refuse":
            raise ApplicationError("Refused.", code="refused")
        if data.validated_data["note"] == "crash":
            raise RuntimeError("boom")
        row = BenchmarkRow.objects.create(merchant=self.merchant(request), note=data.validated_data["note"])
        # Keys in an order JSONB would not keep (it sorts them by length): replays keep the bytes.
        body = {"note": row.note, "id": row.pk, "nested": {"zebra": "é", "b": [3, 1]}}
        return Response(body, status=status.HTTP_201_CREATED)


urlpatterns = [path("api/v1/_test/rows", CreateRow.as_view()), path("api/v1/_test/other", CreateRow.as_view())]
use_test_urls = override_settings(ROOT_URLCONF=__name__)


def post(client, body, key, url="/api/v1/_test/rows"):
    return client.post(url, body, format="json", HTTP_IDEMPOTENCY_KEY=key)


@use_test_urls
def test_same_key_same_body_replays_the_first_response(api):
    first = post(api, {"note": "a"}, "k1")
    second = post(api, {"note": "a"}, "k1")

    assert first.status_code == second.status_code == 201
    assert second.json() == first.json()
    assert second["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first
    assert BenchmarkRow.objects.count() == 1


@use_test_urls
@pytest.mark.parametrize("note", ["a", "refuse"])
def test_a_replay_is_the_first_response_byte_for_byte(api, note):
    first = post(api, {"note": note}, "k1")
    second = post(api, {"note": note}, "k1")

    assert second["Idempotent-Replayed"] == "true"
    assert (second.status_code, second["Content-Type"]) == (first.status_code, first["Content-Type"])
    assert second.content == first.content
    record = IdempotencyRecord.objects.get(key="k1")
    assert bytes(record.response_content) == first.content
    # What a release replaying from the JSON (a rolling deploy's old processes, a rollback) sends.
    assert record.response_body == first.json()


@use_test_urls
def test_a_key_stored_before_its_bytes_were_replays_its_json_as_then(api):
    first = post(api, {"note": "a"}, "k1")
    IdempotencyRecord.objects.filter(key="k1").update(  # as the rows left by the JSON-only code
        response_body=first.json(), response_content=None, response_content_type=""
    )

    second = post(api, {"note": "a"}, "k1")

    assert (second.status_code, second["Idempotent-Replayed"]) == (201, "true")
    assert second.json() == first.json()
    assert second["Content-Type"] == "application/json"
    assert BenchmarkRow.objects.count() == 1


@use_test_urls
def test_key_order_in_the_body_does_not_matter(api):
    post(api, {"note": "a", "x": 1}, "k1")

    assert post(api, {"x": 1, "note": "a"}, "k1")["Idempotent-Replayed"] == "true"


@use_test_urls
def test_same_key_different_body_is_422_and_changes_nothing(api):
    post(api, {"note": "a"}, "k1")

    response = post(api, {"note": "b"}, "k1")

    assert response.status_code == 422
    assert response.json()["error"]["code"] == "idempotency_key_reused"
    assert response.json()["error"]["type"] == "idempotency_error"
    assert BenchmarkRow.objects.count() == 1


@use_test_urls
def test_same_key_on_another_endpoint_is_422(api):
    post(api, {"note": "a"}, "k1")

    assert post(api, {"note": "a"}, "k1", url="/api/v1/_test/other").status_code == 422


@use_test_urls
def test_keys_are_scoped_to_the_merchant(api, client_for, other_merchant, issue_key):
    other = client_for(issue_key(other_merchant).secret)

    post(api, {"note": "a"}, "shared")
    response = post(other, {"note": "a"}, "shared")

    assert response.status_code == 201
    assert "Idempotent-Replayed" not in response
    assert BenchmarkRow.objects.count() == 2


@use_test_urls
def test_business_refusals_are_replayed(api):
    first = post(api, {"note": "refuse"}, "k1")
    second = post(api, {"note": "refuse"}, "k1")

    assert first.status_code == second.status_code == 400
    assert second["Idempotent-Replayed"] == "true"


@use_test_urls
def test_validation_errors_release_the_key(api):
    assert post(api, {}, "k1").status_code == 400

    response = post(api, {"note": "fixed"}, "k1")

    assert response.status_code == 201
    assert "Idempotent-Replayed" not in response


@use_test_urls
def test_server_errors_release_the_key(api):
    assert post(api, {"note": "crash"}, "k1").status_code == 500

    assert not IdempotencyRecord.objects.filter(key="k1").exists()


@use_test_urls
@pytest.mark.parametrize("key", ["", "x" * 256, "caf\u00e9"])
def test_invalid_keys_are_refused(api, key):
    response = post(api, {"note": "a"}, key)

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "idempotency_key_invalid"
    assert BenchmarkRow.objects.count() == 0


@use_test_urls
def test_expired_keys_are_treated_as_new(api):
    post(api, {"note": "a"}, "k1")
    IdempotencyRecord.objects.update(expires_at=timezone.now() - timedelta(seconds=1))

    response = post(api, {"note": "b"}, "k1")

    assert response.status_code == 201
    assert BenchmarkRow.objects.count() == 2


def test_purge_deletes_only_expired_keys(merchant):
    now = timezone.now()
    for index, expires in enumerate([now - timedelta(hours=1), now + timedelta(hours=1)]):
        IdempotencyRecord.objects.create(
            merchant=merchant,
            key=f"k{index}",
            method="POST",
            path="/",
            fingerprint="f",
            created_at=now,
            expires_at=expires,
        )

    assert idempotency_purge_expired(batch_size=1) == 1
    assert idempotency_purge_expired() == 0
    assert list(IdempotencyRecord.objects.values_list("key", flat=True)) == ["k1"]


@use_test_urls
@pytest.mark.django_db(transaction=True)
def test_a_request_while_the_first_is_running_is_409(api_key):
    gate.clear()
    entered.clear()
    results: dict[str, int] = {}

    def slow_request():
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {api_key.secret}")
        results["first"] = post(client, {"note": "slow"}, "k-slow").status_code
        connection.close()

    thread = threading.Thread(target=slow_request)
    thread.start()
    try:
        assert entered.wait(timeout=10)
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {api_key.secret}")
        response = post(client, {"note": "slow"}, "k-slow")
        assert response.status_code == 409
        assert response.json()["error"]["code"] == "idempotency_request_in_progress"
    finally:
        gate.set()
        thread.join(timeout=10)
    assert results["first"] == 201
    assert BenchmarkRow.objects.count() == 1


@use_test_urls
@pytest.mark.django_db(transaction=True)
def test_parallel_requests_with_one_key_do_the_work_once(api_key):
    """20 threads, 20 connections, one key: one row, every answer either the 201 or a 409/replay."""
    barrier = threading.Barrier(20)
    statuses: list[int] = []
    lock = threading.Lock()

    def worker():
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {api_key.secret}")
        barrier.wait()
        code = post(client, {"note": "race"}, "k-race").status_code
        with lock:
            statuses.append(code)
        connection.close()

    threads = [threading.Thread(target=worker) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert BenchmarkRow.objects.count() == 1
    assert len(statuses) == 20
    assert set(statuses) <= {201, 409}
    assert statuses.count(201) >= 1
