"""The lists finance works from fit a 1400 px screen: the columns they read (amounts, age,
assignee, balance, who asked and when) are in view without scrolling sideways."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from apps.accounts import roles
from apps.audit.actors import Actor
from apps.payments.models import Payment
from apps.reconciliation.services import reconcile
from apps.sandbox.services import anet_settlement_discrepancy
from tests.accounts.factories import StaffUserFactory
from tests.payments.helpers import purchase, settle

pytestmark = pytest.mark.browser

WIDTH = 1400
SYSTEM = Actor.system("tests")


def signed_in(browser: Any, live_server: Any, role: str) -> Any:
    client = Client()
    client.force_login(StaffUserFactory(roles=[role]))
    context = browser.new_context(viewport={"width": WIDTH, "height": 900})
    context.add_cookies([{"name": "sessionid", "value": client.cookies["sessionid"].value, "url": live_server.url}])
    return context


def right_edges(page: Any, columns: list[str]) -> dict[str, float]:
    return {
        name: page.eval_on_selector(f"#result_list th.column-{name}", "e => e.getBoundingClientRect().right")
        for name in columns
    }


def test_key_columns_are_in_view_at_1400_px(
    live_server: Any, browser: Any, api: Any, anet_account: Any, anet_sandbox: Any
) -> None:
    paid = Payment.objects.get(public_id=purchase(api, 1000).json()["id"])
    anet_settlement_discrepancy(
        account=anet_sandbox, kind="amount", trans_id=paid.gateway_transaction_id, amount=900, actor=SYSTEM
    )
    settle(anet_sandbox)
    reconcile(account=anet_account, day=timezone.now().date(), actor=SYSTEM)
    api.post(f"/api/v1/payments/{paid.public_id}/refunds", {"amount": 100, "reason": "x" * 200}, format="json")
    context = signed_in(browser, live_server, roles.FINANCE_APPROVER)
    page = context.new_page()
    try:
        pages = {
            "/admin/reconciliation/discrepancy/": ["ours", "gateways", "difference_display", "age", "assignee"],
            "/admin/ledger/ledgeraccount/": ["balance"],
            "/admin/payments/refund/": ["requested_by", "created_at"],
        }
        for path, columns in pages.items():
            page.goto(f"{live_server.url}{path}")
            page.wait_for_selector("#result_list")
            edges = right_edges(page, columns)
            assert all(edge <= WIDTH for edge in edges.values()), (path, edges)
    finally:
        context.close()
