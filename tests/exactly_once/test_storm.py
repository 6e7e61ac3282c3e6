"""A storm: 100 purchases from 16 concurrent clients while the app's database connections are
terminated three times and its Redis (broker and cache) goes away for 3 s. Each client retries
with its key until it has a final answer. Every purchase is charged exactly once."""

from __future__ import annotations

import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests
from django.db import connection

from apps.api.models import IdempotencyRecord
from apps.events.models import Event
from apps.payments.models import Payment
from apps.sandbox.models import AnetTransaction
from tests.exactly_once.helpers import gateway_calls, retry_until_final
from tests.faultlab import AppServer, Client, RedisServer
from tests.payments.helpers import purchase_body

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

PURCHASES = 100


@pytest.fixture(scope="module")
def app_env() -> dict[str, str]:
    """A connection cut between a charge's first step and its call leaves a call that was never
    made: a retry may charge again only once the call cannot be in flight any more and the
    gateway had time to report it. Production waits minutes; these clients wait two at most."""
    return {"GATEWAY_STALE_CALL_SECONDS": "8", "GATEWAY_NOT_FOUND_GRACE_SECONDS": "4"}


def chaos(app_server: AppServer, app_redis: RedisServer, done: threading.Event, terminated: list[int]) -> None:
    """Terminate the app's connections at 1.5, 4 and 7 s; Redis away from 3 to 6 s."""
    plan = [(1.5, "db"), (3.0, "redis-stop"), (4.0, "db"), (6.0, "redis-start"), (7.0, "db")]
    started = time.monotonic()
    try:
        for at, what in plan:
            time.sleep(max(0.0, started + at - time.monotonic()))
            if what == "db":
                terminated.append(app_server.terminate_db_connections())
            elif what == "redis-stop":
                app_redis.stop()
            else:
                app_redis.start()
        done.set()
    finally:
        connection.close()


def test_a_storm_of_purchases_under_faults_charges_each_exactly_once(
    http: Client, anet_account, sandbox_fault, listening, app_server, app_redis
):
    # Every charge's answer is held 300 ms, so faults land between gateway calls and commits.
    sandbox_fault("hang_after", 300, match="authCaptureTransaction", remaining=10_000)
    keys = [f"storm-{index}-{uuid.uuid4()}" for index in range(PURCHASES)]
    done, terminated = threading.Event(), []
    chaos_thread = threading.Thread(target=chaos, args=(app_server, app_redis, done, terminated), daemon=True)

    def buy(key: str) -> requests.Response:
        return retry_until_final(lambda: http.post("/api/v1/payments", purchase_body(1999), key=key), timeout=120)

    chaos_thread.start()
    with ThreadPoolExecutor(max_workers=16) as pool:
        answers: list[Any] = list(pool.map(buy, keys))
    chaos_thread.join(timeout=30)

    assert done.is_set()
    assert len(terminated) == 3 and sum(terminated) > 0, terminated  # the faults hit requests in flight
    assert [a.status_code for a in answers] == [201] * PURCHASES, [a.text for a in answers if a.status_code != 201]
    ids = {a.json()["id"] for a in answers}
    assert len(ids) == PURCHASES
    assert set(Payment.objects.values_list("public_id", flat=True)) == ids
    assert set(Payment.objects.values_list("status", flat=True)) == {"captured"}
    assert AnetTransaction.objects.filter(transaction_type="authCaptureTransaction").count() == PURCHASES
    assert gateway_calls("authCaptureTransaction") == PURCHASES
    assert list(IdempotencyRecord.objects.exclude(state="completed").values_list("key", "state")) == []
    assert IdempotencyRecord.objects.filter(key__in=keys).count() == PURCHASES
    assert Event.objects.filter(type="payment.captured").count() == PURCHASES
