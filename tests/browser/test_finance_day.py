"""A finance team's whole day in the admin, in Chromium, with the roles the project ships and 2FA on.

The merchant's traffic and the gateway's settlement batches are made through the API and the
Authorize.Net sandbox (the given state). Everything after that is done by people in the browser:
each logs in once with password and authenticator code; the operator fetches and reconciles the
day's settlements (a real Celery worker runs the job) and uploads a settlement report; a refund is
asked for, its requester's own approval refused and another approver's taken; one discrepancy of
each kind is resolved, the write-off approved by a second person; the next morning the day is
closed; the viewer exports payments as CSV; approvers and the auditor read the trail. Every page
anyone sees is checked for amounts in bare minor units.

`make screenshots` runs this test with CLEARHOUSE_SCREENSHOTS set: the dashboard, a discrepancy
and the closed day are saved there as PNGs (docs/screenshots).
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone

from apps.accounts import roles
from apps.audit.actors import Actor
from apps.audit.models import AuditEvent
from apps.payments.models import Payment, Refund
from apps.reconciliation.models import CsvMapping, Discrepancy
from apps.reports.models import DayClose
from apps.sandbox.services import anet_settlement_discrepancy
from tests.browser.staff import Person
from tests.payments.helpers import purchase, settle
from tests.reports.test_day_close import move_to_yesterday, yesterday

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SYSTEM = Actor.system("tests")
# Every amount of the day in minor units: none may stand bare on a page (45.17 USD, never 4517).
SHORT, SHORT_SETTLED, HELD, REFUNDED, REFUND, DECLINED_REFUND = 4517, 4008, 3141, 6283, 2391, 1163
STATUS, UNKNOWN, FX, FX_EUR = 2718, 1777, 1999, 1840
BARE = [SHORT, SHORT_SETTLED, SHORT - SHORT_SETTLED, HELD, REFUNDED, REFUND, REFUNDED - REFUND, DECLINED_REFUND]
BARE += [STATUS, UNKNOWN, FX, FX_EUR]


def report(*rows: str) -> bytes:
    """A settlement report as a gateway's merchant interface exports it (UTF-8 with a BOM)."""
    header = "Transaction ID,Settlement Amount,Currency,Batch ID,Transaction Status"
    return ("\ufeff" + "\n".join([header, *rows]) + "\n").encode()


def discrepancy_of(kind: str) -> Discrepancy:
    return Discrepancy.objects.get(kind=kind)


@pytest.fixture
def the_day(api: Any, anet_account: Any, anet_sandbox: Any, settings: Any) -> dict[str, Payment]:
    """The merchant's day and the gateway's two batches: a payment settled short, one held out of
    settlement, one settled and later refunded, one whose refund we think failed but the gateway
    settled, a charge we never saw, and a payment the gateway's report settles in EUR."""
    settings.ADMIN_REQUIRE_OTP = True
    settings.REFUND_APPROVAL_THRESHOLDS = {"USD": 1500}  # 23.91 needs an approver, 11.63 not

    def pay(amount: int) -> Payment:
        return Payment.objects.get(public_id=purchase(api, amount).json()["id"])

    short, held, refunded, status = pay(SHORT), pay(HELD), pay(REFUNDED), pay(STATUS)
    for kind, payment, amount in (("amount", short, SHORT_SETTLED), ("missing", held, None)):
        anet_settlement_discrepancy(
            account=anet_sandbox, kind=kind, trans_id=payment.gateway_transaction_id, amount=amount, actor=SYSTEM
        )
    settle(anet_sandbox)
    anet_settlement_discrepancy(account=anet_sandbox, kind="refund_we_think_failed", actor=SYSTEM)
    declined = api.post(f"/api/v1/payments/{status.public_id}/refunds", {"amount": DECLINED_REFUND}, format="json")
    assert declined.status_code == 409, declined.content
    anet_settlement_discrepancy(account=anet_sandbox, kind="unknown", amount=UNKNOWN, actor=SYSTEM)
    settle(anet_sandbox)
    CsvMapping.objects.create(
        name="Gateway settlement report",
        gateway="authorizenet",
        transaction_id_column="Transaction ID",
        amount_column="Settlement Amount",
        currency_column="Currency",
        batch_id_column="Batch ID",
        kind_column="Transaction Status",
        charge_values="Settled Successfully",
        refund_values="Credited",
    )
    return {"short": short, "held": held, "refunded": refunded, "status": status, "fx": pay(FX)}


def fetch_and_reconcile(operator: Person, account: Any) -> None:
    page = operator.go("/admin/reconciliation/settlementbatch/")
    page.click("text=Fetch and reconcile…")
    page.select_option("#id_gateway_account", str(account.pk))
    today = timezone.now().date().isoformat()
    page.fill("#id_first_day", today)
    page.fill("#id_last_day", today)
    page.click("input[value='Fetch and reconcile']")
    page.wait_for_selector("#run-result h2:text-is('Result')", timeout=60_000)  # the page refreshes itself
    operator.check()
    found = page.inner_text("#run-discrepancies")
    for line in ("Amount mismatch: 1", "Missing at the gateway: 1", "Missing on our side: 1", "Status mismatch: 1"):
        assert line in found, found
    assert "Lines matched:" in page.inner_text("#run-result")


def upload_report(operator: Person, account: Any, day: dict[str, Payment]) -> None:
    page = operator.go("/admin/reconciliation/settlementbatch/upload/")
    page.select_option("#id_gateway_account", str(account.pk))
    page.select_option("#id_mapping", label="Gateway settlement report")
    content = report(
        f"{day['refunded'].gateway_transaction_id},{REFUNDED / 100:.2f},USD,CSV-1,Settled Successfully",
        f"{day['fx'].gateway_transaction_id},{FX_EUR / 100:.2f},EUR,CSV-2,Settled Successfully",
    )  # a batch is paid out in one currency: the EUR line comes in a batch of its own
    page.set_input_files("#id_file", files=[{"name": "report.csv", "mimeType": "text/csv", "buffer": content}])
    page.fill("#id_settled_on", timezone.now().date().isoformat())
    page.click("input[value='Upload and reconcile']")
    operator.check()
    assert "2 batch(es) imported" in operator.messages(), operator.messages()


def refund_with_maker_checker(requester: Person, approver: Person, payment: Payment) -> Refund:
    page = requester.go(f"/admin/payments/payment/{payment.pk}/change/")
    page.click(".object-tools >> text=Refund")
    page.fill("#id_amount", f"{REFUND / 100:.2f}")
    page.fill("#id_reason", "Customer returned one item")
    page.click("input[type=submit]")
    summary = requester.check().inner_text("#content-main")
    assert "Refund 23.91 USD" in summary and "wait for approval" in summary, summary
    page.click("input[value='Yes, do it']")
    requester.check()
    refund = Refund.objects.get(payment=payment)
    assert refund.status == "pending_approval"
    assert f"Refund {refund.public_id} of 23.91 USD is waiting for approval" in requester.messages()

    for person in (requester, approver):  # the requester's own approval is refused, then another's taken
        page = person.go("/admin/payments/refund/?status__exact=pending_approval")
        page.check(f"input[name=_selected_action][value='{refund.pk}']")
        page.select_option("select[name=action]", "approve_selected")
        page.click("button[name=index]")
        assert "23.91 USD" in person.check().inner_text("#content-main")
        page.fill("[name=note]", "Checked against the returns log")
        page.click("input[value=Confirm]")
        person.check()
    refund.refresh_from_db()
    assert refund.status == "succeeded", refund.status
    assert "person who requested it" in requester_refusal(refund)
    return refund


def requester_refusal(refund: Refund) -> str:
    event = AuditEvent.objects.get(action="refund.approval_refused", target_id=refund.public_id)
    return str(event.after["reason"])


def resolve(person: Person, kind: str, resolution: str, note: str) -> Discrepancy:
    d = discrepancy_of(kind)
    page = person.go(f"/admin/reconciliation/discrepancy/{d.pk}/resolve/")
    page.check(f"input[name=resolution][value={resolution}]")
    page.fill("[name=note]", note)
    page.click("input[value=Resolve]")
    person.check()
    d.refresh_from_db()
    return d


def test_a_finance_team_closes_its_day_in_the_admin(
    browser: Any, live_server: Any, anet_account: Any, the_day: dict[str, Payment], celery_worker: Any
) -> None:
    team = {
        role: Person(browser, live_server, role, username, bare=BARE)
        for role, username in (
            (roles.FINANCE_OPERATOR, "olga.operator"),
            (roles.FINANCE_APPROVER, "abel.approver"),
            (roles.FINANCE_VIEWER, "vera.viewer"),
            (roles.AUDITOR, "aude.auditor"),
            (roles.OPS, "otto.ops"),
        )
    }
    operator, approver, viewer, auditor, ops = team.values()
    second = Person(browser, live_server, roles.FINANCE_APPROVER, "bea.approver", bare=BARE)
    try:
        ops.page.goto(f"{live_server.url}/admin/reconciliation/discrepancy/")
        assert "403" in ops.page.title() or "Forbidden" in ops.page.content()  # not ops' work

        fetch_and_reconcile(operator, anet_account)
        upload_report(operator, anet_account, the_day)
        assert Discrepancy.objects.filter(status="open").count() == 6

        # The discrepancy page reads as sentences, with the amounts once and what each choice posts.
        short = discrepancy_of("amount_mismatch")
        page = operator.go(f"/admin/reconciliation/discrepancy/{short.pk}/resolve/")
        body = page.inner_text("#content-main")
        assert "45.17 USD" in body and "40.08 USD" in body and "settledSuccessfully" not in body, body
        operator.go(f"/admin/reconciliation/discrepancy/{short.pk}/change/")
        operator.shot("discrepancy")

        refund_with_maker_checker(approver, second, the_day["refunded"])

        # One discrepancy of each kind, resolved; the write-off waits for a second person.
        assert resolve(operator, "amount_mismatch", "write_off", "Short-paid by the gateway").status == (
            "pending_approval"
        )
        page = approver.go(f"/admin/reconciliation/discrepancy/{short.pk}/decide/")
        assert "5.09 USD" in page.inner_text("#content-main")
        page.fill("[name=note]", "Below the chase threshold")
        page.click("button[value=approve]")
        approver.check()
        short.refresh_from_db()
        assert (short.status, short.resolution, short.approved_by) == ("resolved", "write_off", approver.user)
        assert resolve(operator, "missing_at_gateway", "adjust_ours", "Never settled").status == "resolved"
        assert resolve(operator, "missing_on_our_side", "create_payment", "Keyed at the terminal").status == (
            "resolved"
        )
        assert resolve(operator, "status_mismatch", "adjust_ours", "The refund went through").status == "resolved"
        assert resolve(operator, "duplicate", "accept_gateway", "Settled twice: owed back").status == "resolved"
        assert resolve(operator, "currency_mismatch", "accept_gateway", "Settled in EUR").status == "resolved"
        assert not Discrepancy.objects.exclude(status="resolved").exists()

        board = operator.go("/admin/dashboard/").inner_text("#content-main")
        assert "Write-offs to approve" in board and "USD" in board, board
        operator.shot("dashboard")

        # The next morning (the day's records moved one day back): the approver closes yesterday.
        move_to_yesterday()
        page = second.go("/admin/day-close/")
        page.click(f"a:text-is('{yesterday():%Y-%m-%d}')")
        second.check()
        figures = page.inner_text("#content-main")
        assert "USD" in figures and "Close day" in page.content(), figures
        page.fill("[name=note]", "All matched, write-off approved")
        page.check("[name=confirm]")
        page.click("input[value='Close day']")
        second.check()
        close = DayClose.objects.get(gateway_account=anet_account, day=yesterday())
        assert close.closed_by == second.user
        assert "bea.approver" in page.inner_text("#content-main")
        second.shot("day-close")
        day_page = viewer.go(page.url.removeprefix(live_server.url))
        assert "bea.approver" in day_page.inner_text("#content-main")
        assert day_page.locator("input[value='Close day']").count() == 0  # a viewer closes nothing

        # The viewer exports the payments: numbers and currencies a spreadsheet can add up.
        page = viewer.go("/admin/payments/payment/")
        with page.expect_download() as download:
            page.click("text=Export CSV")
        rows = list(csv.DictReader(io.StringIO(Path(download.value.path()).read_text(encoding="utf-8"))))
        by_amount = {row["Amount"]: row for row in rows}
        assert {"45.17", "31.41", "62.83", "27.18", "19.99", "17.77"} <= set(by_amount), list(by_amount)
        assert by_amount["62.83"]["Currency"] == "USD" and by_amount["62.83"]["Amount refunded"] == "23.91"
        assert by_amount["45.17"]["Status"][:1].isupper() and "_" not in by_amount["62.83"]["Status"]
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00", by_amount["45.17"]["Created at"])

        # Who did what: approvers see the finance trail, the auditor all of it.
        trail = approver.go("/admin/audit/auditevent/?q=").inner_text("#result_list")
        for action in ("refund.approval_refused", "refund.approved", "discrepancy.writeoff_approved", "day.closed"):
            assert action in trail, action
        everything = auditor.go("/admin/audit/auditevent/").inner_text("#result_list")
        assert "admin.exported" in everything and "staff.login" in everything

    finally:
        for person in [*team.values(), second]:
            person.context.close()
