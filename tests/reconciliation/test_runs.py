"""Running reconciliation: the `reconcile` command, the daily beat tasks, and gateway
notifications kept as unmatched that reconciliation settles."""

from __future__ import annotations

import pytest
from django.core.management import CommandError, call_command
from django.test import Client
from django.utils import timezone

from apps.accounts import roles
from apps.reconciliation.discrepancies import discrepancy_resolve
from apps.reconciliation.models import Discrepancy, SettlementBatch
from apps.reconciliation.tasks import reconcile_account, reconcile_all
from apps.sandbox.services import anet_settlement_discrepancy
from apps.webhooks.models import IncomingWebhook
from apps.webhooks.services import incoming_webhook_process
from tests.accounts.factories import StaffUserFactory
from tests.payments.helpers import purchase, settle
from tests.webhooks.helpers import anet_body, post_anet

from .test_anet_reconciliation import SYSTEM


def test_the_command_reconciles_a_day_and_is_safe_to_run_again(api, anet_account, anet_sandbox, capsys):
    purchase(api, 1000)
    settle(anet_sandbox)
    day = timezone.now().date().isoformat()

    call_command("reconcile", "--account", anet_account.public_id, "--date", day)
    call_command("reconcile", "--account", str(anet_account.pk), "--date", day)

    out = capsys.readouterr().out.splitlines()
    assert "1 batch(es) imported, 1 lines matched" in out[0]
    assert "0 batch(es) imported, 0 lines matched" in out[1]
    assert SettlementBatch.objects.count() == 1


def test_the_command_reports_its_summary_once_and_logs_no_copy_of_it(api, anet_account, anet_sandbox, capsys, caplog):
    purchase(api, 1000)
    settle(anet_sandbox)

    with caplog.at_level("DEBUG"):
        call_command("reconcile", "--account", anet_account.public_id, "--date", timezone.now().date().isoformat())

    assert "1 batch(es) imported" in capsys.readouterr().out
    copies = [record for record in caplog.records if "batch(es) imported" in str(record.__dict__)]
    assert copies == []


def test_the_command_refuses_bad_input(db, anet_account):
    with pytest.raises(CommandError, match="No gateway account"):
        call_command("reconcile", "--account", "gwa_nope")
    with pytest.raises(CommandError, match="YYYY-MM-DD"):
        call_command("reconcile", "--account", anet_account.public_id, "--date", "yesterday")
    assert not SettlementBatch.objects.exists()


def test_a_day_without_settlements_imports_nothing(api, anet_account, anet_sandbox, capsys):
    purchase(api, 1000)
    settle(anet_sandbox)

    call_command("reconcile", "--account", anet_account.public_id)  # default: yesterday

    assert "0 batch(es) imported" in capsys.readouterr().out
    assert not SettlementBatch.objects.exists()


def test_the_daily_task_fans_out_per_account_and_each_run_is_idempotent(api, anet_account, anet_sandbox):
    purchase(api, 1000)
    settle(anet_sandbox)
    today = timezone.now().date().isoformat()

    assert reconcile_all(today) == 1  # one task queued per active gateway account
    first = reconcile_account(anet_account.pk, today)
    again = reconcile_account(anet_account.pk, today)

    assert "1 batch(es) imported, 1 lines matched" in first
    assert "0 batch(es) imported, 0 lines matched" in again
    assert reconcile_all() == 1  # default day: yesterday


def test_an_unmatched_notification_is_processed_once_the_payment_exists(
    api, anet_account, anet_sandbox, client: Client
):
    stranger = anet_settlement_discrepancy(account=anet_sandbox, kind="unknown", amount=4200, actor=SYSTEM)
    assert post_anet(client, anet_account, anet_body(stranger.trans_id)).status_code == 200
    webhook = IncomingWebhook.objects.get()
    assert incoming_webhook_process(webhook_id=webhook.pk).status == IncomingWebhook.Status.UNMATCHED
    settle(anet_sandbox)
    call_command("reconcile", "--account", anet_account.public_id, "--date", timezone.now().date().isoformat())
    operator = StaffUserFactory(roles=[roles.FINANCE_OPERATOR])

    discrepancy_resolve(discrepancy=Discrepancy.objects.get(), resolution="create_payment", user=operator)

    webhook.refresh_from_db()
    assert webhook.status == IncomingWebhook.Status.RECEIVED  # queued again
    assert incoming_webhook_process(webhook_id=webhook.pk).status == IncomingWebhook.Status.PROCESSED


def test_the_discrepancy_page_lists_the_gateways_notifications(api, anet_account, anet_sandbox, client, staff_client):
    stranger = anet_settlement_discrepancy(account=anet_sandbox, kind="unknown", amount=4200, actor=SYSTEM)
    post_anet(client, anet_account, anet_body(stranger.trans_id))
    settle(anet_sandbox)
    call_command("reconcile", "--account", anet_account.public_id, "--date", timezone.now().date().isoformat())
    staff = staff_client(roles.FINANCE_VIEWER)

    page = staff.get(f"/admin/reconciliation/discrepancy/{Discrepancy.objects.get().pk}/change/")

    assert IncomingWebhook.objects.get().public_id.encode() in page.content
