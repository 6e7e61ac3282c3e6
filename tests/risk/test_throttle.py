"""Card testing: a burst of small attempts, or of declines, from one IP address, API key or card is
refused with 429 `card_testing_suspected` before the rules and the gateway, and alerted (metric and
log line). Through the API on the Authorize.Net sandbox."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection
from rest_framework.test import APIClient

from apps.api.models import IdempotencyRecord
from apps.audit.models import AuditEvent
from apps.payments.models import Payment
from apps.risk.throttle import CARD_TESTING_THROTTLED
from apps.sandbox.models import SandboxCall
from tests.payments.helpers import VISA, purchase_body

# The sandbox answers from the live server's thread: it must see committed rows.
pytestmark = pytest.mark.django_db(transaction=True)

LIMIT = 3  # small attempts per source and window in these tests
# Known test cards of the Authorize.Net sandbox (all approved), so each attempt can have its own.
CARDS = [
    {**VISA, "number": number}
    for number in (
        "4111111111111111",
        "4007000000027",
        "4012888818888",
        "5424000000000015",
        "2223000010309703",
        "2223000010309711",
        "6011000000000012",
    )
]
DECLINE_ZIP = {"billing_details": {"postal_code": "46282"}}  # the sandbox declines a card with this zip


@pytest.fixture(autouse=True)
def limits(settings: Any) -> None:
    settings.RISK_CARD_TESTING_WINDOW_SECONDS = 60
    settings.RISK_CARD_TESTING_SMALL_AMOUNT_USD = 500
    settings.RISK_CARD_TESTING_SMALL_ATTEMPTS = LIMIT
    settings.RISK_CARD_TESTING_DECLINES = 2
    settings.RISK_CARD_TESTING_KEY_FACTOR = 1  # a key's limits as an IP's, to storm it in a few calls


@pytest.fixture
def new_client(merchant: Any, issue_key: Callable[..., Any], client_for: Callable[[str], APIClient]) -> Any:
    """A client with an API key of its own (of the same merchant)."""
    return lambda: client_for(issue_key(merchant).secret)


def pay(client: APIClient, card: dict[str, Any], *, amount: int = 100, ip: str = "203.0.113.10", **extra: Any) -> Any:
    body = purchase_body(amount, payment_method=dict(card), customer_ip=ip, **extra)
    return client.post("/api/v1/payments", body, format="json", HTTP_IDEMPOTENCY_KEY=uuid.uuid4().hex)


def calls() -> int:
    return SandboxCall.objects.filter(gateway="authorizenet").count()


def throttled(dimension: str) -> float:
    return CARD_TESTING_THROTTLED.labels(dimension=dimension)._value.get()


def storm_source(dimension: str, index: int, api: APIClient, new_client: Any) -> tuple[APIClient, dict[str, Any], str]:
    """Attempt `index` of a storm sharing only `dimension`: the rest differs on every attempt."""
    client = api if dimension == "key" else new_client()
    card = CARDS[0] if dimension == "card" else CARDS[index % len(CARDS)]
    ip = "203.0.113.10" if dimension == "ip" else f"198.51.100.{index + 1}"
    return client, card, ip


@pytest.mark.parametrize("dimension", ["ip", "key", "card"])
def test_a_storm_of_small_attempts_from_one_source_is_refused_before_the_gateway(
    api, anet_account, new_client, dimension, caplog
):
    sources = [storm_source(dimension, index, api, new_client) for index in range(LIMIT + 2)]
    allowed = [pay(client, card, ip=ip) for client, card, ip in sources[:LIMIT]]
    before, alerts, audited = calls(), throttled(dimension), AuditEvent.objects.count()

    refused = [pay(client, card, ip=ip) for client, card, ip in sources[LIMIT:]]

    assert [response.status_code for response in allowed] == [201] * LIMIT
    assert [response.status_code for response in refused] == [429, 429], refused[0].content
    error = refused[0].json()["error"]
    assert (error["type"], error["code"], error["retry_after"]) == ("rate_limit_error", "card_testing_suspected", 60)
    assert refused[0]["Retry-After"] == "60"
    assert calls() == before  # nothing reached the gateway
    assert Payment.objects.count() == LIMIT  # nothing was stored
    assert AuditEvent.objects.count() == audited
    assert IdempotencyRecord.objects.count() == LIMIT  # the refusals' keys are free for a retry
    assert throttled(dimension) == alerts + 2
    lines = [record for record in caplog.records if record.getMessage() == "risk_card_testing_throttled"]
    logged = [(line.levelname, getattr(line, "dimension", ""), getattr(line, "reason", "")) for line in lines]
    assert logged == [("WARNING", dimension, "small_attempts")] * 2
    named = {getattr(line, "source", "") for line in lines}
    assert len(named) == 1 and all("203.0.113" not in str(vars(line)) for line in lines)  # never the address
    if dimension == "ip":
        assert named.pop().startswith("iph_")


def test_other_sources_are_unaffected(api, anet_account, new_client):
    for _ in range(LIMIT):
        pay(api, CARDS[0], ip="203.0.113.10")
    assert pay(api, CARDS[0], ip="203.0.113.10").status_code == 429

    other = pay(new_client(), CARDS[1], ip="203.0.113.11")  # another IP, key and card

    assert other.status_code == 201


def test_large_amounts_are_not_counted_as_small(api, anet_account):
    at_limit = [pay(api, VISA, amount=500).status_code for _ in range(LIMIT)]
    large = [pay(api, VISA, amount=501).status_code for _ in range(LIMIT + 2)]

    one_more_small = pay(api, VISA, amount=500)

    assert at_limit == [201] * LIMIT
    assert large == [201] * (LIMIT + 2)
    assert one_more_small.status_code == 429


def test_attempts_go_through_again_once_the_window_has_passed(api, anet_account, settings):
    settings.RISK_CARD_TESTING_WINDOW_SECONDS = 5  # the limit's payments fit in it on a loaded machine
    for _ in range(LIMIT):
        assert pay(api, VISA).status_code == 201
    assert pay(api, VISA).status_code == 429
    time.sleep(5.2)

    again = pay(api, VISA)

    assert again.status_code == 201


def test_declines_from_one_ip_refuse_its_next_attempts(api, anet_account, new_client):
    declined = [pay(new_client(), {**CARDS[index], **DECLINE_ZIP}, amount=2500).status_code for index in range(2)]
    before, alerts = calls(), throttled("ip")

    next_attempt = pay(new_client(), CARDS[2], amount=2500)  # a large amount and a good card: refused too
    elsewhere = pay(new_client(), CARDS[2], amount=2500, ip="203.0.113.99")

    assert declined == [402, 402]
    assert next_attempt.status_code == 429 and next_attempt.json()["error"]["code"] == "card_testing_suspected"
    assert throttled("ip") == alerts + 1
    assert elsewhere.status_code == 201
    assert calls() == before + 1  # only the attempt from elsewhere


def test_a_limit_set_to_zero_is_off(api, anet_account, settings):
    settings.RISK_CARD_TESTING_SMALL_ATTEMPTS = 0

    statuses = [pay(api, VISA).status_code for _ in range(LIMIT + 2)]

    assert statuses == [201] * (LIMIT + 2)


def test_with_redis_unreachable_nothing_is_throttled(api, anet_account, settings):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"

    statuses = [pay(api, VISA).status_code for _ in range(LIMIT + 2)]

    assert statuses == [201] * (LIMIT + 2)
    assert {tuple(risk["errors"]) for risk in Payment.objects.values_list("risk", flat=True)} == {
        ("velocity_unavailable",)
    }


def test_a_storm_of_16_threads_lets_exactly_the_limit_through(anet_account, new_client, settings):
    settings.RISK_CARD_TESTING_SMALL_ATTEMPTS = 5
    clients = [new_client() for _ in range(16)]  # one IP; a key each, and 7 cards among them
    barrier, lock = threading.Barrier(16), threading.Lock()
    statuses: list[int] = []
    before = calls()

    def attempt(index: int) -> None:
        try:
            barrier.wait()
            status = pay(clients[index], CARDS[index % len(CARDS)], ip="203.0.113.10").status_code
            with lock:
                statuses.append(status)
        finally:
            connection.close()

    threads = [threading.Thread(target=attempt, args=(index,)) for index in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert sorted(statuses) == [201] * 5 + [429] * 11
    assert Payment.objects.count() == 5
    assert calls() == before + 5


def test_declines_of_many_customers_through_one_merchant_server_do_not_throttle_the_merchant(
    api, anet_account, settings
):
    settings.RISK_CARD_TESTING_KEY_FACTOR = 10  # as shipped: a key carries all its merchant's customers
    for card in CARDS[:5]:  # five customers, each declined once; no customer_ip given (server to server)
        body = purchase_body(100, payment_method={**card, **DECLINE_ZIP})
        declined = api.post("/api/v1/payments", body, format="json", HTTP_IDEMPOTENCY_KEY=uuid.uuid4().hex)
        assert declined.status_code == 402

    body = purchase_body(100, payment_method=dict(CARDS[5]))
    response = api.post("/api/v1/payments", body, format="json", HTTP_IDEMPOTENCY_KEY=uuid.uuid4().hex)

    assert response.status_code == 201, response.content
