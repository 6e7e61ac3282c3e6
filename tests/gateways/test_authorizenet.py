"""The Authorize.Net adapter through the official SDK, against the sandbox over real HTTP."""

from __future__ import annotations

import secrets
from datetime import timedelta

import pytest
from django.utils import timezone

from apps.audit.actors import Actor
from apps.gateways.authorizenet import AuthorizeNetConfig, AuthorizeNetGateway
from apps.gateways.base import (
    Billing,
    CaptureRequest,
    Card,
    ChargeRequest,
    Outcome,
    RefundRequest,
    TransactionState,
    VoidRequest,
)
from apps.gateways.errors import (
    GatewayDeclined,
    GatewayMisconfigured,
    GatewayNotFound,
    GatewayOutcomeUnknown,
    GatewayRetryable,
)
from apps.sandbox.models import AnetTransaction
from apps.sandbox.services import anet_settle

VISA = Card("4111111111111111", 12, 2030, "123")


def ref() -> str:
    return f"t{secrets.token_hex(8)}"


def sale(gateway, amount=1050, card=VISA, **kwargs):
    return gateway.sale(ChargeRequest(ref(), amount, "USD", card, **kwargs))


def settle(anet_sandbox):
    anet_settle(account=anet_sandbox, actor=Actor.system("tests"))


def declined(call) -> GatewayDeclined:
    with pytest.raises(GatewayDeclined) as caught:
        call()
    return caught.value


def test_sale_is_approved_with_card_facts(anet_gateway):
    result = sale(anet_gateway, billing=Billing(postal_code="46201"))

    assert result.outcome is Outcome.APPROVED
    assert result.transaction_id.isdigit()
    assert (result.card_brand, result.card_last4, result.avs_result, result.cvv_result) == ("visa", "1111", "A", "M")
    assert len(result.auth_code) == 6


@pytest.mark.parametrize(
    ("number", "brand"),
    [
        ("5424000000000015", "mastercard"),
        ("370000000000002", "amex"),
        ("6011000000000012", "discover"),
        ("3088000000000017", "jcb"),
    ],
)
def test_test_cards_of_each_brand(anet_gateway, number, brand):
    assert sale(anet_gateway, card=Card(number, 1, 2031, "1234")).card_brand == brand


@pytest.mark.parametrize(("code", "expected"), [("900", "M"), ("901", "N"), ("902", "S"), ("903", "U"), ("904", "P")])
def test_cvv_result_triggers(anet_gateway, code, expected):
    assert sale(anet_gateway, card=Card("4111111111111111", 12, 2030, code)).cvv_result == expected


@pytest.mark.parametrize(("zip_code", "expected"), [("46203", "E"), ("46205", "N"), ("46217", "Z"), ("10001", "Y")])
def test_avs_result_triggers(anet_gateway, zip_code, expected):
    assert sale(anet_gateway, billing=Billing(postal_code=zip_code)).avs_result == expected


def test_zip_46282_declines(anet_gateway):
    error = declined(lambda: sale(anet_gateway, billing=Billing(postal_code="46282")))

    assert error.result.reason_code == "2"
    assert error.result.decline_code == "card_declined"
    assert error.result.transaction_id.isdigit()


@pytest.mark.parametrize(
    ("card", "reason", "code"),
    [
        (Card("4111111111111112", 12, 2030), "6", "invalid_card_number"),
        (Card("4111111111111111", 1, 2020), "8", "expired_card"),
        (Card("4000000000000002", 12, 2030), "2", "card_declined"),  # a real-looking card the sandbox refuses
    ],
)
def test_card_refusals(anet_gateway, card, reason, code):
    error = declined(lambda: sale(anet_gateway, card=card))

    assert (error.result.reason_code, error.result.decline_code) == (reason, code)


@pytest.mark.parametrize(("dollars", "reason"), [(27, "27"), (44, "44"), (2, "2")])
def test_amount_trigger_card(anet_gateway, dollars, reason):
    error = declined(lambda: sale(anet_gateway, amount=dollars * 100, card=Card("4222222222222", 12, 2030)))

    assert error.result.reason_code == reason


def test_authorize_then_capture_less_then_capture_again_is_already_captured(anet_gateway):
    auth = anet_gateway.authorize(ChargeRequest(ref(), 2000, "USD", VISA, capture=False))

    capture = anet_gateway.capture(CaptureRequest(ref(), auth.transaction_id, 1500, "USD"))
    again = anet_gateway.capture(CaptureRequest(ref(), auth.transaction_id, 1500, "USD"))
    details = anet_gateway.fetch_transaction(auth.transaction_id)

    assert capture.outcome is Outcome.APPROVED
    assert again.reason_code == "311"
    assert (details.state, details.authorized_amount, details.settled_amount) == (TransactionState.CAPTURED, 2000, 1500)


def test_over_capture_is_refused(anet_gateway):
    auth = anet_gateway.authorize(ChargeRequest(ref(), 2000, "USD", VISA, capture=False))

    error = declined(lambda: anet_gateway.capture(CaptureRequest(ref(), auth.transaction_id, 2001, "USD")))

    assert (error.result.reason_code, error.result.decline_code) == ("47", "capture_exceeds_authorized")


def test_void_before_settlement_and_twice(anet_gateway):
    charge = sale(anet_gateway)

    voided = anet_gateway.void(VoidRequest(ref(), charge.transaction_id))
    again = anet_gateway.void(VoidRequest(ref(), charge.transaction_id))

    assert voided.outcome is Outcome.APPROVED
    assert again.reason_code == "310"
    assert anet_gateway.fetch_transaction(charge.transaction_id).state is TransactionState.VOIDED


def test_void_after_settlement_is_refused(anet_gateway, anet_sandbox):
    charge = sale(anet_gateway)
    settle(anet_sandbox)

    error = declined(lambda: anet_gateway.void(VoidRequest(ref(), charge.transaction_id)))

    assert error.result.reason_code == "16"


def test_refund_before_settlement_is_reason_54(anet_gateway):
    charge = sale(anet_gateway)

    error = declined(lambda: anet_gateway.refund(RefundRequest(ref(), charge.transaction_id, 100, "USD", "1111")))

    assert (error.result.reason_code, error.result.decline_code) == ("54", "payment_not_settled")


def test_partial_refunds_up_to_the_settled_amount(anet_gateway, anet_sandbox):
    charge = sale(anet_gateway, amount=1000)
    settle(anet_sandbox)

    first = anet_gateway.refund(RefundRequest(ref(), charge.transaction_id, 600, "USD", "1111"))
    over = declined(lambda: anet_gateway.refund(RefundRequest(ref(), charge.transaction_id, 401, "USD", "1111")))
    rest = anet_gateway.refund(RefundRequest(ref(), charge.transaction_id, 400, "USD", "1111"))

    assert first.outcome is Outcome.APPROVED and rest.outcome is Outcome.APPROVED
    assert first.transaction_id != charge.transaction_id
    assert over.result.reason_code == "55"
    refund = anet_gateway.fetch_transaction(first.transaction_id)
    assert (refund.state, refund.original_transaction_id) == (TransactionState.REFUND_PENDING, charge.transaction_id)


def test_refund_needs_the_right_card_digits(anet_gateway, anet_sandbox):
    charge = sale(anet_gateway)
    settle(anet_sandbox)

    assert (
        declined(
            lambda: anet_gateway.refund(RefundRequest(ref(), charge.transaction_id, 100, "USD", "9999"))
        ).result.reason_code
        == "54"
    )


def test_duplicate_window(anet_gateway):
    request = ChargeRequest(ref(), 777, "USD", VISA)
    anet_gateway.sale(request)

    error = declined(lambda: anet_gateway.sale(request))

    assert (error.result.reason_code, error.result.decline_code) == ("11", "duplicate_transaction")
    assert AnetTransaction.objects.filter(invoice_number=request.reference).count() == 1


def test_find_transaction_by_our_reference_unsettled_and_settled(anet_gateway, anet_sandbox):
    request = ChargeRequest(ref(), 1234, "USD", VISA)
    charge = anet_gateway.sale(request)

    unsettled = anet_gateway.find_transaction(request.reference)
    settle(anet_sandbox)
    settled = anet_gateway.find_transaction(request.reference)

    assert unsettled.transaction_id == charge.transaction_id
    assert (settled.state, settled.batch_id != "", settled.reference) == (
        TransactionState.SETTLED,
        True,
        request.reference,
    )
    assert anet_gateway.find_transaction("never-sent") is None


def test_unknown_transaction_is_not_found(anet_gateway):
    with pytest.raises(GatewayNotFound):
        anet_gateway.fetch_transaction("1")


def test_wrong_credentials_are_misconfigured(anet_gateway):
    bad = AuthorizeNetGateway(AuthorizeNetConfig("nobody", "wrong", anet_gateway.config.endpoint))

    with pytest.raises(GatewayMisconfigured, match="E00007"):
        sale(bad)
    with pytest.raises(GatewayMisconfigured):
        bad.check_credentials()
    anet_gateway.check_credentials()


def test_wrong_currency_is_refused_before_calling(anet_gateway):
    with pytest.raises(GatewayMisconfigured, match="settles USD"):
        anet_gateway.sale(ChargeRequest(ref(), 100, "EUR", VISA))


def test_unreachable_gateway_is_retryable(anet_gateway):
    down = AuthorizeNetGateway(AuthorizeNetConfig("x", "y", "http://127.0.0.1:9/request.api"))

    with pytest.raises(GatewayRetryable):
        sale(down)


def test_http_503_is_retryable_and_nothing_happened(anet_gateway, sandbox_fault):
    sandbox_fault("http_error", 503)
    reference = ref()

    with pytest.raises(GatewayRetryable, match="503"):
        anet_gateway.sale(ChargeRequest(reference, 100, "USD", VISA))

    assert not AnetTransaction.objects.filter(invoice_number=reference).exists()


@pytest.mark.parametrize("status", [500, 502, 504])
def test_other_5xx_to_a_write_leaves_its_outcome_unknown(anet_gateway, sandbox_fault, status):
    """Authorize.Net answers its own errors with HTTP 200: a 500, 502 or 504 comes from what stands
    in front of it and may come after the charge went through. Before: retryable, "nothing
    happened", and a retry under a new reference charged again. A read stays retryable."""
    sandbox_fault("http_error", status, match="createTransactionRequest")
    with pytest.raises(GatewayOutcomeUnknown, match=str(status)):
        anet_gateway.sale(ChargeRequest(ref(), 100, "USD", VISA))

    sandbox_fault("http_error", status, match="getTransactionDetailsRequest")
    with pytest.raises(GatewayRetryable, match=str(status)):
        anet_gateway.fetch_transaction("60000000001")


def test_a_system_error_answering_a_charge_leaves_its_outcome_unknown(anet_gateway, sandbox_fault):
    """E00001 ("unexpected system error") with no verdict, the charge made: before, retryable, and
    a retry under a new reference charged again. Now the charge is looked up."""
    sandbox_fault("system_error", match="createTransactionRequest")
    reference = ref()

    with pytest.raises(GatewayOutcomeUnknown, match="E00001"):
        anet_gateway.sale(ChargeRequest(reference, 100, "USD", VISA))

    assert AnetTransaction.objects.filter(invoice_number=reference).count() == 1
    assert anet_gateway.find_transaction(reference).reference == reference


def _others(anet_sandbox, count: int, submitted_at) -> None:
    """`count` approved charges of other references, made straight in the sandbox's books."""
    AnetTransaction.objects.bulk_create(
        AnetTransaction(
            account=anet_sandbox, transaction_type="authCaptureTransaction", status=AnetTransaction.Status.CAPTURED,
            response_code="1", reason_code="1", reason_text="This transaction has been approved.",
            auth_amount=100, settle_amount=100, currency="USD", card_type="Visa", card_last4="1111",
            invoice_number=f"other{n}", submitted_at=submitted_at,
        )
        for n in range(count)
    )  # fmt: skip


def test_a_lost_charge_is_found_past_the_first_page_of_the_lists(anet_gateway, anet_sandbox):
    """Before: only the first 1,000 unsettled transactions (newest first), and the first 1,000 of
    each settled batch (oldest first), were read: a lost charge further down was "not found", and
    its payment charged again."""
    older = ChargeRequest(ref(), 1234, "USD", VISA)
    first = anet_gateway.sale(older)
    _others(anet_sandbox, 1_000, timezone.now() + timedelta(seconds=1))
    assert anet_gateway.find_transaction(older.reference).transaction_id == first.transaction_id  # page 2
    found = anet_gateway.find_transaction(older.reference, made_at=timezone.now() - timedelta(minutes=1))
    assert found.transaction_id == first.transaction_id  # made within minutes of the call it looks for
    # Newest first, the unsettled list is read down to 5 minutes before the call only.
    assert anet_gateway.find_transaction(older.reference, made_at=timezone.now() + timedelta(hours=1)) is None

    newer = ChargeRequest(ref(), 4321, "USD", VISA)
    second = anet_gateway.sale(newer)
    settle(anet_sandbox)  # one batch of 1,002, ours the oldest and the newest
    assert anet_gateway.find_transaction(newer.reference).transaction_id == second.transaction_id  # page 2


@pytest.mark.parametrize(
    ("kind", "value", "charged", "cause"),
    [
        ("reset", 0, False, "ConnectionError"),
        ("drop_response", 0, True, "ConnectionError"),
        ("hang_after", 3000, True, "ReadTimeout"),
    ],
)
def test_lost_answers_are_outcome_unknown(anet_gateway, sandbox_fault, kind, value, charged, cause):
    sandbox_fault(kind, value, match="authCaptureTransaction")
    reference = ref()

    with pytest.raises(GatewayOutcomeUnknown, match=f"No answer from Authorize.Net: {cause}"):
        anet_gateway.sale(ChargeRequest(reference, 100, "USD", VISA))

    assert AnetTransaction.objects.filter(invoice_number=reference).exists() is charged
    found = anet_gateway.find_transaction(reference)
    assert (found is not None) is charged


def test_added_latency_within_the_timeout_is_harmless(anet_gateway, sandbox_fault):
    sandbox_fault("latency", 300)

    assert sale(anet_gateway).outcome is Outcome.APPROVED


def test_reads_are_retryable_when_the_answer_is_lost(anet_gateway, sandbox_fault):
    charge = sale(anet_gateway)
    sandbox_fault("reset", match="getTransactionDetailsRequest")

    with pytest.raises(GatewayRetryable, match="No answer"):
        anet_gateway.fetch_transaction(charge.transaction_id)


def test_the_adapter_never_sends_card_data_in_refunds(anet_gateway, anet_sandbox, sandbox_fault):
    charge = sale(anet_gateway)
    settle(anet_sandbox)

    refund = anet_gateway.refund(RefundRequest(ref(), charge.transaction_id, 100, "USD", "1111"))

    assert AnetTransaction.objects.get(pk=AnetTransaction.pk_from_trans_id(refund.transaction_id)).card_last4 == "1111"
