"""Risk in the money path: every card payment through the API is assessed before the gateway
call, on Authorize.Net and Stripe through their sandboxes. A block never reaches the gateway and
answers 402 `blocked_by_risk`; the payment carries its assessment in the API and its events; card
testing (repeated declines of one card) is blocked after the third decline."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from apps.api.models import IdempotencyRecord
from apps.audit.actors import Actor
from apps.audit.models import AuditEvent
from apps.events.models import Event
from apps.payments.models import GatewayTransaction, Payment
from apps.risk.attempts import amount_in_usd
from apps.risk.services import list_entry_add, rule_create, rule_delete
from apps.sandbox.models import SandboxCall
from tests.payments.helpers import VISA, purchase_body

# The sandboxes answer from the live server's thread: they must see committed rows.
pytestmark = pytest.mark.django_db(transaction=True)

SYSTEM = Actor.system("tests")
STRIPE_VISA = {"type": "card", "number": "4242424242424242", "exp_month": 12, "exp_year": 2031, "cvc": "123"}
STRIPE_DECLINED = {**STRIPE_VISA, "number": "4000000000000002"}
ANET_DECLINED = {**VISA, "billing_details": {"postal_code": "46282"}}  # the sandbox declines this zip


@pytest.fixture(params=["authorizenet", "stripe"])
def gateway(request: Any) -> dict[str, Any]:
    """Each test on both gateways: the account fixture, a card that passes, one declined (on
    Authorize.Net the same number, declined for its postal code) and another card."""
    if request.param == "authorizenet":
        request.getfixturevalue("anet_account")
        other = {**VISA, "number": "5424000000000015"}
        return {"name": "authorizenet", "card": VISA, "declined": ANET_DECLINED, "other": other}
    request.getfixturevalue("stripe_account")
    return {"name": "stripe", "card": STRIPE_VISA, "declined": STRIPE_DECLINED, "other": STRIPE_VISA}


def pay(api: Any, card: dict[str, Any], amount: int = 2500, key: str | None = None, **extra: Any) -> Any:
    body = purchase_body(amount, payment_method=dict(card), **extra)
    return api.post("/api/v1/payments", body, format="json", HTTP_IDEMPOTENCY_KEY=key or uuid.uuid4().hex)


def calls(gateway: dict[str, Any]) -> int:
    return SandboxCall.objects.filter(gateway=gateway["name"]).count()


def test_an_allowed_payment_carries_its_assessment(api, gateway):
    response = pay(api, gateway["card"])

    assert response.status_code == 201, response.content
    risk = response.json()["risk"]
    assert (risk["outcome"], risk["level"], risk["rules"]) == ("allow", "low", [])
    assert 0 <= risk["score"] <= 30
    payment = Payment.objects.get()
    assert payment.risk["outcome"] == "allow" and payment.risk["errors"] == []
    event = Event.objects.get(type="payment.captured", object_id=payment.public_id)
    assert event.data["risk"] == risk


def test_a_block_list_entry_stops_the_payment_before_the_gateway(api, gateway):
    list_entry_add(kind="email", action="block", value="Fraud@Example.com", reason="chargebacks", actor=SYSTEM)
    before = calls(gateway)

    key = uuid.uuid4().hex
    response = pay(api, gateway["card"], key=key, customer={"email": "fraud@example.com"})
    again = pay(api, gateway["card"], key=key, customer={"email": "fraud@example.com"})

    assert response.status_code == 402, response.content
    error = response.json()["error"]
    assert (error["type"], error["code"]) == ("card_error", "blocked_by_risk")
    assert (again.status_code, again.json()) == (402, response.json())  # the retry replays it
    payment = Payment.objects.get()
    assert error["payment"] == payment.public_id
    assert (payment.status, payment.failure_code, payment.risk["outcome"]) == ("failed", "blocked_by_risk", "block")
    assert payment.risk["score"] == 100 and payment.risk["matched"][0]["reason"] == "chargebacks"
    assert calls(gateway) == before  # nothing reached the gateway
    gt = GatewayTransaction.objects.get()  # the call that was not made, so a retry finds the block
    assert (gt.status, gt.error_code, gt.gateway_transaction_id) == ("declined", "blocked_by_risk", "")
    assert AuditEvent.objects.filter(action="payment.blocked_by_risk", target_id=payment.public_id).count() == 1
    failed = Event.objects.get(type="payment.failed", object_id=payment.public_id)
    assert failed.data["risk"]["outcome"] == "block"
    shown = api.get(f"/api/v1/payments/{payment.public_id}").json()
    assert shown["risk"]["rules"][0]["outcome"] == "block"


def test_card_testing_is_blocked_after_three_declines_of_one_card(api, gateway):
    for _ in range(3):
        assert pay(api, gateway["declined"], amount=100).status_code == 402
    before = calls(gateway)

    response = pay(api, gateway["declined"], amount=100)

    assert response.json()["error"]["code"] == "blocked_by_risk"
    assert calls(gateway) == before
    blocked = Payment.objects.get(failure_code="blocked_by_risk")
    assert [match["name"] for match in blocked.risk["matched"]] == ["Card testing"]
    assert pay(api, gateway["other"]).status_code == 201  # another card goes through


def test_a_live_rule_blocks_and_a_log_only_rule_only_records(api, anet_account):
    rule_create(name="Big", expression="amount > 50000", outcome="block", mode="log_only", actor=SYSTEM)
    rule_create(name="Huge", expression="(amount_usd ?? 0) > 90000", outcome="block", actor=SYSTEM)

    big = pay(api, VISA, amount=60_000)
    huge = pay(api, VISA, amount=95_000)

    assert big.status_code == 201
    assert [(r["name"], r["mode"]) for r in big.json()["risk"]["rules"]] == [("Big", "log_only")]
    assert big.json()["risk"]["outcome"] == "allow"
    assert huge.status_code == 402 and huge.json()["error"]["code"] == "blocked_by_risk"


def test_with_redis_unreachable_payments_go_through_and_say_so(api, anet_account, settings):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"

    response = pay(api, VISA)

    assert response.status_code == 201
    assert Payment.objects.get().risk["errors"] == ["velocity_unavailable"]


def test_amounts_in_usd_use_the_reference_rates_in_integers(settings):
    settings.RISK_USD_RATES = {"EUR": "1.08", "JPY": "0.0067", "KWD": "3.25"}
    assert amount_in_usd(1000, "USD") == 1000
    assert amount_in_usd(1000, "EUR") == 1080
    assert amount_in_usd(10_000, "JPY") == 6700
    assert amount_in_usd(1500, "KWD") == 488  # 1.500 KWD
    assert amount_in_usd(1000, "CHF") is None


def test_the_payment_page_shows_the_assessment(api, anet_account, staff_client):
    list_entry_add(kind="email", action="block", value="mallory@example.com", reason="stolen cards", actor=SYSTEM)
    pay(api, VISA, customer={"email": "mallory@example.com"})
    payment = Payment.objects.get()

    page = staff_client("Finance viewer").get(f"/admin/payments/payment/{payment.pk}/change/")

    text = page.content.decode()
    assert page.status_code == 200 and 'id="risk"' in text
    assert "<strong>Block</strong> · score 100 of 100 (high)" in text and "stolen cards" in text


@pytest.mark.parametrize("gateway_name", ["razorpay", "stripe"])
def test_a_blocked_checkout_opens_no_gateway_order(gateway_name, request, publishable, merchant):
    from apps.catalog.services import price_create, product_create

    request.getfixturevalue("rzp_account" if gateway_name == "razorpay" else "stripe_account")
    product = product_create(merchant=merchant, name="Course", description="", actor=SYSTEM)
    price = price_create(
        product=product, amount=2_500, currency="INR" if gateway_name == "razorpay" else "USD", actor=SYSTEM
    )
    list_entry_add(kind="email_domain", action="block", value="fraud.example", reason="bot signups", actor=SYSTEM)
    path = (
        "/api/v1/checkout/razorpay/orders" if gateway_name == "razorpay" else "/api/v1/checkout/stripe/payment-intents"
    )

    def start(email: str) -> Any:
        body = {"price": price.public_id, "quantity": 1, "customer": {"email": email}}
        return publishable.post(path, body, format="json", HTTP_IDEMPOTENCY_KEY=uuid.uuid4().hex)

    blocked = start("bot@fraud.example")
    opened = start("lea@example.com")

    assert blocked.status_code == 402 and blocked.json()["error"]["code"] == "blocked_by_risk"
    assert opened.status_code == 201, opened.content
    assert SandboxCall.objects.filter(gateway=gateway_name).count() == 1  # only the allowed one's order
    failed = Payment.objects.get(failure_code="blocked_by_risk")
    assert failed.risk["matched"][0]["reason"] == "bot signups"
    assert Payment.objects.exclude(pk=failed.pk).get().risk["outcome"] == "allow"


def test_a_blocked_request_retried_after_a_crash_is_answered_the_same_without_a_new_assessment(api, anet_account):
    entry = list_entry_add(kind="email", action="block", value="eve@example.com", actor=SYSTEM)
    key = uuid.uuid4().hex
    first = pay(api, VISA, key=key, customer={"email": "eve@example.com"})
    # As if the process died before the 402 was stored: the key is still held, its lease over.
    IdempotencyRecord.objects.update(
        state="in_progress", response_status=None, response_body=None, completed_at=None,
        locked_until=timezone.now() - timedelta(seconds=1),
    )  # fmt: skip
    entry.delete()  # a new assessment would now let it through

    again = pay(api, VISA, key=key, customer={"email": "eve@example.com"})

    assert (first.status_code, again.status_code) == (402, 402)
    assert again.json()["error"]["code"] == "blocked_by_risk"
    assert again.json()["error"]["payment"] == first.json()["error"]["payment"]
    assert Payment.objects.count() == 1 and calls({"name": "authorizenet"}) == 0


def test_the_deployment_block_list_beats_a_merchant_allow_entry(api, anet_account, merchant):
    list_entry_add(kind="email", action="block", value="eve@example.com", reason="staff: fraud ring", actor=SYSTEM)
    list_entry_add(kind="email", action="allow", value="eve@example.com", merchant=merchant, actor=SYSTEM)
    list_entry_add(kind="email", action="allow", value="bob@example.com", merchant=merchant, actor=SYSTEM)
    rule_create(name="Everything", expression="amount > 0", outcome="block", actor=SYSTEM)

    eve = pay(api, VISA, customer={"email": "eve@example.com"})
    bob = pay(api, VISA, customer={"email": "bob@example.com"})

    assert eve.status_code == 402 and eve.json()["error"]["code"] == "blocked_by_risk"
    assert bob.status_code == 201  # the merchant's allow entry beats the rules


def test_an_allow_entry_for_a_wide_ip_range_is_refused(api):
    response = api.post(
        "/api/v1/risk/lists", {"kind": "ip", "action": "allow", "value": "0.0.0.0/0"}, format="json",
        HTTP_IDEMPOTENCY_KEY=uuid.uuid4().hex,
    )  # fmt: skip
    narrow = api.post(
        "/api/v1/risk/lists", {"kind": "ip", "action": "allow", "value": "203.0.113.0/24"}, format="json",
        HTTP_IDEMPOTENCY_KEY=uuid.uuid4().hex,
    )  # fmt: skip

    assert response.status_code == 400 and response.json()["error"]["param"] == "value"
    assert narrow.status_code == 201


def test_with_risk_off_nothing_is_assessed_counted_or_blocked(api, anet_account, settings):
    settings.RISK_ENABLED = False
    everything = rule_create(name="Everything", expression="amount > 0", outcome="block", actor=SYSTEM)
    list_entry_add(kind="email", action="block", value="fraud@example.com", actor=SYSTEM)

    responses = [pay(api, ANET_DECLINED, amount=100, customer={"email": "fraud@example.com"}) for _ in range(4)]
    allowed = pay(api, VISA, customer={"email": "fraud@example.com"})

    # four declines of one card from the gateway, not one blocked before it, nothing throttled
    assert [r.json()["error"]["code"] for r in responses] == ["card_declined"] * 4
    assert allowed.status_code == 201, allowed.content
    assert allowed.json()["risk"]["outcome"] == "allow"
    assert Payment.objects.get(public_id=allowed.json()["id"]).risk["errors"] == ["risk_off"]
    assert not Payment.objects.filter(failure_code="blocked_by_risk").exists()
    rule_delete(rule=everything, actor=SYSTEM)
    settings.RISK_ENABLED = True
    # and nothing was counted while it was off: the card's declines start from zero (a fourth
    # counted decline would be blocked as card testing)
    assert pay(api, ANET_DECLINED, amount=100).json()["error"]["code"] == "card_declined"


def test_a_retry_after_the_gateway_was_unavailable_is_counted_once(api, anet_account, sandbox_fault):
    from apps.risk.velocity import velocity_figures

    sandbox_fault("http_error", 503)
    key = uuid.uuid4().hex
    first = pay(api, VISA, key=key, customer_ip="198.51.100.23")
    retry = pay(api, VISA, key=key, customer_ip="198.51.100.23")
    another = pay(api, VISA, customer_ip="198.51.100.23")

    assert (first.status_code, retry.status_code, another.status_code) == (503, 201, 201), first.content
    # two requests, not three: the retry is the same attempt
    assert velocity_figures("ip", "198.51.100.23", window_seconds=3600).count == 2
