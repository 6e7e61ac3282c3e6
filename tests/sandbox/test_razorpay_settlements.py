"""The Razorpay sandbox's settlements: the settlement cycle, /v1/settlements and the combined
settlement report, driven by the official SDK over real HTTP, and the discrepancy injection."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import razorpay

from apps.audit.actors import Actor
from apps.audit.models import AuditEvent
from apps.sandbox.models import RzpPayment, RzpRefund, RzpSettlement, SandboxFault
from apps.sandbox.razorpay.engine import fee_and_tax
from apps.sandbox.services import rzp_account_create, rzp_settle, rzp_settlement_discrepancy
from tests.sandbox.razorpay_helpers import pay, sdk_client

pytestmark = pytest.mark.django_db(transaction=True)

BadRequest = razorpay.errors.BadRequestError
SYSTEM = Actor.system("tests")
RECON_KEYS = {
    "entity_id", "type", "debit", "credit", "amount", "currency", "fee", "tax", "on_hold", "settled", "created_at",
    "settled_at", "settlement_id", "posted_at", "credit_type", "description", "notes", "payment_id",
    "settlement_utr", "order_id", "order_receipt", "method", "card_network", "card_issuer", "card_type", "dispute_id",
}  # fmt: skip


@pytest.fixture
def client(rzp_sandbox):
    return sdk_client(rzp_sandbox)


def paid(client, account, amount=10_000, **order):
    created = client.order.create({"amount": amount, "currency": "INR", **order})
    result = pay(account, created["id"])
    assert result.ok
    return created, result.payment_id


def today(settlement: RzpSettlement) -> dict[str, int]:
    day = settlement.created_at.astimezone(UTC)
    return {"year": day.year, "month": day.month, "day": day.day}


@pytest.mark.parametrize(
    ("amount", "fee", "tax"),
    [(49_900, 1178, 180), (50_000, 1180, 180), (10_000, 236, 36), (100, 2, 0), (12_345, 291, 44)],
)
def test_fees_are_two_percent_plus_eighteen_percent_gst_in_whole_paise(amount, fee, tax):
    assert fee_and_tax(amount) == (fee, tax)


def test_a_settlement_pays_out_payments_less_their_fees_less_refunds(client, rzp_sandbox):
    first_order, first = paid(client, rzp_sandbox, 49_900, receipt="ch-first", notes={"reference": "ch-first"})
    _, second = paid(client, rzp_sandbox, 10_000)
    _, authorized = paid(client, rzp_sandbox, 5_000, payment={"capture": "manual"})
    refund = client.payment.refund(first, {"amount": 2_000, "notes": {"reference": "ch-refund"}})

    (settlement,) = rzp_settle(account=rzp_sandbox, actor=SYSTEM)

    fees = 1178 + 236
    assert settlement.rzp_id.startswith("setl_") and len(settlement.rzp_id) == 19
    entity = client.settlement.fetch(settlement.rzp_id)
    assert entity == {
        "id": settlement.rzp_id, "entity": "settlement", "amount": 59_900 - fees - 2_000, "status": "processed",
        "fees": fees, "tax": 180 + 36, "utr": settlement.utr, "created_at": entity["created_at"],
    }  # fmt: skip
    assert settlement.utr.startswith(str(entity["created_at"])) and len(settlement.utr) == 16
    assert client.settlement.all()["items"] == [entity]
    assert RzpPayment.objects.get(rzp_id=authorized).settlement is None  # authorized, not captured

    report = client.settlement.report({**today(settlement), "count": 100})
    assert report["entity"] == "collection" and report["count"] == 3
    by_id = {item["entity_id"]: item for item in report["items"]}
    assert all(set(item) == RECON_KEYS for item in report["items"])
    assert by_id[first] | {"created_at": 0} == {
        "entity_id": first, "type": "payment", "debit": 0, "credit": 49_900 - 1178, "amount": 49_900,
        "currency": "INR", "fee": 1178, "tax": 180, "on_hold": False, "settled": True, "created_at": 0,
        "settled_at": entity["created_at"], "settlement_id": settlement.rzp_id, "posted_at": None,
        "credit_type": "default", "description": None, "notes": '{"reference":"ch-first"}', "payment_id": None,
        "settlement_utr": settlement.utr, "order_id": first_order["id"], "order_receipt": "ch-first",
        "method": "card", "card_network": "Visa", "card_issuer": None, "card_type": "credit", "dispute_id": None,
    }  # fmt: skip
    assert by_id[second]["order_receipt"] is None and by_id[second]["notes"] is None
    refunded = by_id[refund["id"]]
    assert (refunded["type"], refunded["debit"], refunded["credit"], refunded["fee"]) == ("refund", 2_000, 0, 0)
    assert (refunded["payment_id"], refunded["order_id"]) == (first, first_order["id"])
    assert refunded["notes"] == '{"reference":"ch-refund"}'
    assert sum(item["credit"] - item["debit"] for item in report["items"]) == entity["amount"]
    assert AuditEvent.objects.filter(action="sandbox.settlement_processed").count() == 1

    assert rzp_settle(account=rzp_sandbox, actor=SYSTEM) == []  # everything is settled


def test_a_later_settlement_carries_what_came_after(client, rzp_sandbox):
    _, first = paid(client, rzp_sandbox)
    (earlier,) = rzp_settle(account=rzp_sandbox, actor=SYSTEM)
    client.payment.refund(first, {"amount": 1_000})  # refunds after settlement come off the next one
    _, second = paid(client, rzp_sandbox, 20_000)

    (later,) = rzp_settle(account=rzp_sandbox, actor=SYSTEM)

    assert later.amount == 20_000 - fee_and_tax(20_000)[0] - 1_000
    assert set(RzpPayment.objects.filter(settlement=later).values_list("rzp_id", flat=True)) == {second}
    assert RzpRefund.objects.get().settlement == later
    assert {item["id"] for item in client.settlement.all()["items"]} == {earlier.rzp_id, later.rzp_id}


def test_each_account_settles_on_its_own_and_sees_only_its_own(client, rzp_sandbox):
    other = rzp_account_create()
    paid(client, rzp_sandbox)
    paid(sdk_client(other), other, 20_000)

    settlements = rzp_settle(actor=SYSTEM)

    assert sorted(s.amount for s in settlements) == [10_000 - 236, 20_000 - 472]
    theirs = next(s for s in settlements if s.account == other)
    with pytest.raises(BadRequest, match="The id provided does not exist"):
        client.settlement.fetch(theirs.rzp_id)
    report = client.settlement.report({**today(theirs), "count": 100})
    assert [item["amount"] for item in report["items"]] == [10_000]


def test_the_report_pages_with_count_and_skip_and_reads_whole_months(client, rzp_sandbox):
    ids = [paid(client, rzp_sandbox, 1_000 * n)[1] for n in (1, 2, 3)]
    (settlement,) = rzp_settle(account=rzp_sandbox, actor=SYSTEM)
    day = today(settlement)

    pages = [client.settlement.report({**day, "count": 2, "skip": skip})["items"] for skip in (0, 2, 4)]

    assert [[item["entity_id"] for item in page] for page in pages] == [ids[:2], ids[2:], []]
    month = client.settlement.report({"year": day["year"], "month": day["month"], "count": 1000})
    assert month["count"] == 3
    assert client.settlement.report(day)["count"] == 3  # default page: 10
    assert client.settlement.report({"year": 2001, "month": 1, "day": 1})["items"] == []


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"month": 1}, "The year field is required."),
        ({"year": 2030}, "The month field is required."),
        ({"year": 2030, "month": 2, "day": 30}, "The date provided is invalid."),
        ({"year": 2030, "month": 13}, "The date provided is invalid."),
        ({"year": 2030, "month": 1, "count": 1001}, "The count must be between 1 and 1000."),
        ({"year": 2030, "month": 1, "from": 1}, "from is/are not required and should not be sent"),
    ],
)
def test_a_bad_report_query_is_refused(client, query, message):
    with pytest.raises(BadRequest) as raised:
        client.settlement.report(query)

    assert str(raised.value) == message


def test_a_settlement_list_is_paged_and_filtered_by_time(client, rzp_sandbox):
    for amount in (1_000, 2_000):
        paid(client, rzp_sandbox, amount)
        rzp_settle(account=rzp_sandbox, actor=SYSTEM)
    newest, oldest = RzpSettlement.objects.order_by("-created_at", "-pk")

    assert [s["id"] for s in client.settlement.all({"count": 1, "skip": 1})["items"]] == [oldest.rzp_id]
    after = int(newest.created_at.timestamp())
    assert client.settlement.all({"from": after})["items"][0]["id"] == newest.rzp_id
    assert client.settlement.all({"to": int(datetime(2001, 1, 1, tzinfo=UTC).timestamp())})["items"] == []


# --- discrepancy injection -----------------------------------------------------------------------


def test_a_missing_payment_is_held_out_until_released(client, rzp_sandbox):
    _, held = paid(client, rzp_sandbox)
    _, kept = paid(client, rzp_sandbox, 20_000)

    rzp_settlement_discrepancy(account=rzp_sandbox, kind="missing", payment_id=held, actor=SYSTEM)
    (settlement,) = rzp_settle(account=rzp_sandbox, actor=SYSTEM)

    assert [item["entity_id"] for item in client.settlement.report(today(settlement))["items"]] == [kept]
    RzpPayment.objects.filter(rzp_id=held).update(held_from_settlement=False)
    (late,) = rzp_settle(account=rzp_sandbox, actor=SYSTEM)
    assert list(late.payments.values_list("rzp_id", flat=True)) == [held]


def test_a_payment_settles_for_another_amount(client, rzp_sandbox):
    _, short = paid(client, rzp_sandbox)

    rzp_settlement_discrepancy(account=rzp_sandbox, kind="amount", payment_id=short, amount=9_000, actor=SYSTEM)
    (settlement,) = rzp_settle(account=rzp_sandbox, actor=SYSTEM)

    (item,) = client.settlement.report(today(settlement))["items"]
    assert (item["amount"], item["fee"], item["credit"]) == (9_000, 236, 9_000 - 236)
    assert settlement.amount == 9_000 - 236
    assert client.payment.fetch(short)["amount"] == 10_000  # the payment itself is unchanged


def test_an_unknown_payment_is_captured_and_settled(client, rzp_sandbox):
    stranger = rzp_settlement_discrepancy(account=rzp_sandbox, kind="unknown", amount=4_200, actor=SYSTEM)

    (settlement,) = rzp_settle(account=rzp_sandbox, actor=SYSTEM)

    payment = client.payment.fetch(stranger.rzp_id)
    assert (payment["status"], payment["amount"], payment["fee"], payment["tax"]) == ("captured", 4_200, 99, 15)
    assert client.order.fetch(payment["order_id"])["status"] == "paid"
    (item,) = client.settlement.report(today(settlement))["items"]
    assert (item["entity_id"], item["order_receipt"], item["credit"]) == (stranger.rzp_id, None, 4_200 - 99)


def test_a_refund_we_think_failed_goes_through_behind_an_error(client, rzp_sandbox):
    _, payment_id = paid(client, rzp_sandbox)
    client.payment.fetch(payment_id)  # other calls do not use the fault up

    fault = rzp_settlement_discrepancy(account=rzp_sandbox, kind="refund_we_think_failed", actor=SYSTEM)
    assert (fault.gateway, fault.kind, fault.match) == ("razorpay", "misreport_declined", "payments.refund")
    with pytest.raises(BadRequest, match="The refund could not be processed"):
        client.payment.refund(payment_id, {"amount": 3_000})

    refund = RzpRefund.objects.get()
    assert (refund.status, refund.amount) == ("processed", 3_000)
    assert client.payment.fetch(payment_id)["amount_refunded"] == 3_000
    assert client.payment.refund(payment_id, {"amount": 1_000})["status"] == "processed"  # the fault is used up
    (settlement,) = rzp_settle(account=rzp_sandbox, actor=SYSTEM)
    assert settlement.amount == 10_000 - 236 - 4_000


def test_bad_injections_are_refused(client, rzp_sandbox):
    _, payment_id = paid(client, rzp_sandbox)
    with pytest.raises(ValueError, match="needs the amount"):
        rzp_settlement_discrepancy(account=rzp_sandbox, kind="amount", payment_id=payment_id, actor=SYSTEM)
    with pytest.raises(ValueError, match="unknown discrepancy kind"):
        rzp_settlement_discrepancy(account=rzp_sandbox, kind="lost", actor=SYSTEM)
    rzp_settle(account=rzp_sandbox, actor=SYSTEM)
    with pytest.raises(RzpPayment.DoesNotExist):  # settled already
        rzp_settlement_discrepancy(account=rzp_sandbox, kind="missing", payment_id=payment_id, actor=SYSTEM)
    assert not SandboxFault.objects.exists()
