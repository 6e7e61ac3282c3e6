"""A void is attempted only when it can succeed; otherwise it is refused before the gateway is
called, in words that say what to do instead."""

from __future__ import annotations

from django.utils import timezone

from apps.payments.models import GatewayTransaction, Payment
from apps.reconciliation.tasks import reconcile_account
from tests.payments.helpers import purchase, settle


def test_a_captured_payment_that_reconciliation_saw_settle_is_refused_before_the_gateway(
    api, anet_account, anet_sandbox
):
    payment = purchase(api).json()
    settle(anet_sandbox)
    reconcile_account(anet_account.pk, timezone.now().date().isoformat())
    calls = GatewayTransaction.objects.count()

    response = api.post(f"/api/v1/payments/{payment['id']}/void")

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "payment_already_settled"
    assert "refund it instead" in response.json()["error"]["message"]
    assert GatewayTransaction.objects.count() == calls  # nothing sent
    assert Payment.objects.get(public_id=payment["id"]).status == "captured"


def test_a_settled_charge_the_gateway_refuses_is_explained_not_quoted(api, anet_account, anet_sandbox):
    payment = purchase(api).json()
    settle(anet_sandbox)  # settled at the gateway, not yet reconciled: only the gateway knows

    response = api.post(f"/api/v1/payments/{payment['id']}/void")

    assert response.json()["error"]["code"] == "payment_already_settled"
    assert response.json()["error"]["message"] == (
        "The payment has settled at the gateway, so it can no longer be voided: refund it instead."
    )


def test_the_admin_offers_void_only_while_it_can_succeed_and_says_why_not(
    api, anet_account, anet_sandbox, staff_client
):
    from apps.accounts import roles

    authorized = purchase(api, capture=False).json()
    captured = purchase(api).json()
    settle(anet_sandbox)
    reconcile_account(anet_account.pk, timezone.now().date().isoformat())
    operator = staff_client(roles.FINANCE_OPERATOR)

    def page(public_id: str) -> str:
        pk = Payment.objects.get(public_id=public_id).pk
        return operator.get(f"/admin/payments/payment/{pk}/change/").content.decode()

    assert f"/admin/payments/payment/{Payment.objects.get(public_id=authorized['id']).pk}/void/" in page(
        authorized["id"]
    )
    settled = page(captured["id"])
    assert "/void/" not in settled
    assert "Void is not available: The payment has settled at the gateway: refund it instead." in settled
