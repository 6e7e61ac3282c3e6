"""Authorize.Net batch statistics checked against the batch's lines, end to end through the SDK and
the sandbox: a batch whose statistics differ opens exactly one discrepancy, a matching batch none,
and running again opens nothing more."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from apps.audit.actors import Actor
from apps.audit.models import AuditEvent
from apps.gateways.settlement_interface import SettlementTotals
from apps.ledger.models import JournalEntry
from apps.reconciliation.discrepancies import discrepancy_resolve
from apps.reconciliation.models import Discrepancy, DiscrepancyKind, MatchStatus, SettlementBatch, SettlementLine
from apps.reconciliation.services import reconcile
from apps.reconciliation.wording import difference_sentence, discrepancy_sentence, resolution_sentence
from apps.sandbox.models import AnetBatch
from tests.accounts.factories import StaffUserFactory
from tests.payments.helpers import purchase, settle

SYSTEM = Actor.system("tests")


def run(account):
    return reconcile(account=account, day=timezone.now().date(), actor=SYSTEM)


def pay_and_settle(api, sandbox, *amounts: int) -> None:
    for amount in amounts:
        assert purchase(api, amount).status_code == 201
    settle(sandbox)


def test_the_adapter_carries_the_batch_statistics_as_generic_totals(api, anet_gateway, anet_sandbox):
    pay_and_settle(api, anet_sandbox, 1000, 2500)
    now = timezone.now()

    (batch,) = anet_gateway.settlements(since=now - timedelta(hours=1), until=now + timedelta(minutes=1))

    assert batch.reported_totals == SettlementTotals(
        charge_amount=3500, charge_count=2, refund_amount=0, refund_count=0
    )


def test_a_batch_whose_statistics_match_its_lines_opens_nothing(api, anet_account, anet_sandbox):
    pay_and_settle(api, anet_sandbox, 1000, 2500)

    report = run(anet_account)

    assert (report.opened, report.matched) == ({}, 2)
    batch = SettlementBatch.objects.get()
    assert (batch.reported_charges_amount, batch.reported_charge_count, batch.totals_agree) == (3500, 2, True)
    assert (batch.reported_refunds_amount, batch.reported_refund_count) == (0, 0)


def test_a_batch_whose_statistics_differ_opens_one_discrepancy_once(api, anet_account, anet_sandbox):
    pay_and_settle(api, anet_sandbox, 1000, 2500)
    # The gateway's summary of the batch disagrees with the transactions it lists (one charge more).
    sandbox_batch = AnetBatch.objects.get(account=anet_sandbox)
    visa = sandbox_batch.statistics[0]
    visa["chargeAmount"], visa["chargeCount"] = visa["chargeAmount"] + 700, visa["chargeCount"] + 1
    sandbox_batch.save(update_fields=["statistics"])

    first = run(anet_account)
    again = run(anet_account)

    assert first.opened == {DiscrepancyKind.BATCH_TOTALS: 1} and first.matched == 2
    assert again.opened == {}
    batch = SettlementBatch.objects.get()
    discrepancy = Discrepancy.objects.get()
    assert (discrepancy.kind, discrepancy.batch, discrepancy.line, discrepancy.entry) == (
        DiscrepancyKind.BATCH_TOTALS, batch, None, None,
    )  # fmt: skip
    assert (discrepancy.gateway_amount, discrepancy.our_amount) == (4200, 3500)
    assert set(SettlementLine.objects.values_list("match_status", flat=True)) == {MatchStatus.MATCHED}
    assert AuditEvent.objects.filter(action="discrepancy.opened", target_id=discrepancy.public_id).count() == 1
    sentence = discrepancy_sentence(discrepancy)
    assert (
        batch.gateway_batch_id in sentence
        and "3 charges of 42.00 USD" in sentence
        and "2 charges of 35.00 USD" in sentence
    )
    assert difference_sentence(discrepancy) == "The statistics' net is 7.00 USD more than the listed transactions'."
    assert resolution_sentence(discrepancy, "accept_gateway").startswith("Accept the gateway's view: posts nothing")


def test_accepting_a_batch_totals_discrepancy_posts_nothing(api, anet_account, anet_sandbox):
    pay_and_settle(api, anet_sandbox, 1000)
    sandbox_batch = AnetBatch.objects.get(account=anet_sandbox)
    sandbox_batch.statistics[0]["refundCount"] = 1
    sandbox_batch.save(update_fields=["statistics"])
    run(anet_account)
    entries = JournalEntry.objects.count()
    operator = StaffUserFactory(roles=["Finance operator"])

    resolved = discrepancy_resolve(discrepancy=Discrepancy.objects.get(), resolution="accept_gateway", user=operator)

    assert (resolved.status, resolved.resolution, resolved.resolution_entry) == ("resolved", "accept_gateway", None)
    assert JournalEntry.objects.count() == entries
    assert difference_sentence(resolved) == "The net amounts agree: the counts differ."
