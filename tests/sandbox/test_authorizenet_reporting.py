"""The Authorize.Net sandbox answers what the official sample scripts send (TransactionReporting/,
PaymentTransactions/ capture-only and tokenised cards, sha512/), through the SDK over HTTP:
batch statistics, merchant details, captureOnly, transHashSha2, and the documented errors of
the methods and payments it does not emulate."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from authorizenet import apicontractsv1, apicontrollers
from django.conf import settings as django_settings

from apps.gateways import http
from apps.gateways.authorizenet.vocabulary import all_of, text
from apps.sandbox.authorizenet.reporting import settle
from apps.sandbox.authorizenet.server import sandbox_request
from apps.sandbox.authorizenet.unsupported import REFUSALS
from apps.sandbox.models import AnetBatch, AnetTransaction

pytestmark = pytest.mark.django_db

NS = 'xmlns="AnetApi/xml/v1/schema/AnetApiSchema.xsd"'


def call(sandbox: Any, controller_class: Any, request: Any) -> Any:
    """One SDK call as the sample scripts make it, over HTTP to the sandbox."""
    auth = apicontractsv1.merchantAuthenticationType()
    auth.name = sandbox.api_login_id
    auth.transactionKey = sandbox.transaction_key
    request.merchantAuthentication = auth
    with http.gateway_call(endpoint=django_settings.AUTHORIZENET_TEST_ENDPOINT, timeout=5):
        controller = controller_class(request)
        controller.execute()
    response = controller.getresponse()
    assert response is not None
    return response


def stored_pk(trans_id: str) -> int:
    pk = AnetTransaction.pk_from_trans_id(trans_id)
    assert pk is not None
    return pk


def amount(node: Any, name: str) -> Decimal:
    return Decimal(text(node, name))


def code_of(response: Any) -> str:
    return text(all_of(response, "messages", "message")[0], "code")


def card(number: str = "4111111111111111", **token: Any) -> Any:
    credit_card = apicontractsv1.creditCardType()
    credit_card.cardNumber = number
    credit_card.expirationDate = "2035-12"
    for name, value in token.items():
        setattr(credit_card, name, value)
    payment = apicontractsv1.paymentType()
    payment.creditCard = credit_card
    return payment


def transaction(sandbox: Any, kind: str, amount: str, payment: Any = None, **fields: Any) -> Any:
    request = apicontractsv1.transactionRequestType()
    request.transactionType = kind
    request.amount = Decimal(amount)
    if payment is not None:
        request.payment = payment
    for name, value in fields.items():
        setattr(request, name, value)
    order = apicontractsv1.orderType()
    order.invoiceNumber = secrets.token_hex(6)
    request.order = order
    create = apicontractsv1.createTransactionRequest()
    create.refId = "MerchantID-0001"
    create.transactionRequest = request
    return call(sandbox, apicontrollers.createTransactionController, create)


def reason_of(response: Any) -> tuple[str, str]:
    tr = response.transactionResponse
    if text(tr, "responseCode") == "1":
        return "1", text(all_of(tr, "messages", "message")[0], "code")
    return text(tr, "responseCode"), text(all_of(tr, "errors", "error")[0], "errorCode")


def independent_hash(signature_key: str, login: str, trans_id: str, amount: str) -> str:
    # The sample's own recipe (sha512/compute-transhash-sha512), written for Python 3.
    return (
        hmac.new(bytes.fromhex(signature_key), f"^{login}^{trans_id}^{amount}^".encode(), hashlib.sha512)
        .hexdigest()
        .upper()
    )


@pytest.fixture
def settled_batch(anet_sandbox: Any) -> AnetBatch:
    sale = transaction(anet_sandbox, "authCaptureTransaction", "12.50", card())
    transaction(anet_sandbox, "authCaptureTransaction", "7.25", card("5424000000000015"))
    settle(account=anet_sandbox)
    refund_payment = card("1111")
    refund_payment.creditCard.expirationDate = "XXXX"
    transaction(
        anet_sandbox, "refundTransaction", "2.50", refund_payment, refTransId=text(sale.transactionResponse, "transId")
    )
    settle(account=anet_sandbox)
    return AnetBatch.objects.filter(account=anet_sandbox).earliest("pk")


def test_settled_batch_list_with_statistics_as_the_sample_asks(anet_sandbox, settled_batch):
    request = apicontractsv1.getSettledBatchListRequest()
    request.refId = "Sample"
    request.includeStatistics = True
    request.firstSettlementDate = datetime.now(UTC) - timedelta(days=7)
    request.lastSettlementDate = datetime.now(UTC) + timedelta(minutes=1)

    response = call(anet_sandbox, apicontrollers.getSettledBatchListController, request)

    assert code_of(response) == "I00001"
    batches = all_of(response, "batchList", "batch")
    assert len(batches) == 2
    first = {text(s, "accountType"): s for s in all_of(batches[0], "statistics", "statistic")}
    assert set(first) == {"MasterCard", "Visa"}
    assert (amount(first["Visa"], "chargeAmount"), text(first["Visa"], "chargeCount")) == (Decimal("12.50"), "1")
    assert amount(first["MasterCard"], "chargeAmount") == Decimal("7.25")
    assert amount(first["Visa"], "refundAmount") == 0 and text(first["Visa"], "chargebackCount") == "0"
    refunds = all_of(batches[1], "statistics", "statistic")
    assert [(amount(s, "refundAmount"), text(s, "refundCount")) for s in refunds] == [(Decimal("2.50"), "1")]

    request.includeStatistics = False
    without = call(anet_sandbox, apicontrollers.getSettledBatchListController, request)
    assert all(child is None for child in (b.find("{*}statistics") for b in all_of(without, "batchList", "batch")))


def test_batch_statistics_as_the_sample_asks_and_fixed_at_settlement(anet_sandbox, settled_batch):
    request = apicontractsv1.getBatchStatisticsRequest()
    request.batchId = settled_batch.batch_id

    response = call(anet_sandbox, apicontrollers.getBatchStatisticsController, request)

    assert code_of(response) == "I00001"
    assert text(response, "batch", "batchId") == settled_batch.batch_id
    assert text(response, "batch", "settlementState") == "settledSuccessfully"
    assert text(response, "batch", "paymentMethod") == "creditCard"
    stats = {text(s, "accountType"): s for s in all_of(response, "batch", "statistics", "statistic")}
    assert amount(stats["Visa"], "chargeAmount") == Decimal("12.50") and text(stats["Visa"], "declineCount") == "0"
    # The statistics are the settlement's: a transaction changed afterwards does not change them.
    AnetTransaction.objects.filter(batch=settled_batch, card_type="Visa").update(settle_amount=99)
    again = call(anet_sandbox, apicontrollers.getBatchStatisticsController, request)
    assert amount(all_of(again, "batch", "statistics", "statistic")[1], "chargeAmount") == Decimal("12.50")

    request.batchId = "999999999"
    assert code_of(call(anet_sandbox, apicontrollers.getBatchStatisticsController, request)) == "E00040"


def test_transaction_list_and_details_as_the_samples_ask(anet_sandbox, settled_batch):
    sorting = apicontractsv1.TransactionListSorting()
    sorting.orderBy = apicontractsv1.TransactionListOrderFieldEnum.id
    sorting.orderDescending = True
    paging = apicontractsv1.Paging()
    paging.limit = 20
    paging.offset = 1
    listing = apicontractsv1.getTransactionListRequest()
    listing.refId = "Sample"
    listing.batchId = settled_batch.batch_id
    listing.sorting = sorting
    listing.paging = paging

    response = call(anet_sandbox, apicontrollers.getTransactionListController, listing)

    transactions = all_of(response, "transactions", "transaction")
    assert len(transactions) == 2 and all(text(t, "accountType") for t in transactions)
    details = apicontractsv1.getTransactionDetailsRequest()
    details.transId = text(transactions[0], "transId")
    detail = call(anet_sandbox, apicontrollers.getTransactionDetailsController, details)
    assert text(detail, "transaction", "transactionStatus") == "settledSuccessfully"


def test_unsettled_list_as_the_sample_asks_and_held_transactions_are_none(anet_sandbox):
    transaction(anet_sandbox, "authOnlyTransaction", "3.00", card())
    sorting = apicontractsv1.TransactionListSorting()
    sorting.orderBy = apicontractsv1.TransactionListOrderFieldEnum.id
    sorting.orderDescending = True
    paging = apicontractsv1.Paging()
    paging.limit = 20
    paging.offset = 1
    request = apicontractsv1.getUnsettledTransactionListRequest()
    request.refId = "Sample"
    request.sorting = sorting
    request.paging = paging

    listed = call(anet_sandbox, apicontrollers.getUnsettledTransactionListController, request)
    request.status = apicontractsv1.TransactionGroupStatusEnum.pendingApproval
    held = call(anet_sandbox, apicontrollers.getUnsettledTransactionListController, request)

    assert len(all_of(listed, "transactions", "transaction")) == 1
    assert code_of(held) == "I00004" and not all_of(held, "transactions", "transaction")


def test_merchant_details_as_the_sample_asks(anet_sandbox):
    response = call(
        anet_sandbox, apicontrollers.getMerchantDetailsController, apicontractsv1.getMerchantDetailsRequest()
    )

    assert code_of(response) == "I00001"
    assert text(response, "isTestMode") == "false"
    assert text(response, "merchantName").endswith(anet_sandbox.api_login_id)
    assert text(response, "gatewayId")
    assert [text(p, "name") for p in all_of(response, "processors", "processor")] == ["First Data Nashville"]
    assert [m.text for m in all_of(response, "currencies", "currency")] == ["USD"]
    assert "Visa" in [m.text for m in all_of(response, "paymentMethods", "paymentMethod")]
    assert [m.text for m in all_of(response, "marketTypes", "marketType")] == ["eCommerce"]


def test_account_updater_as_the_sample_asks_is_access_denied(anet_sandbox):
    paging = apicontractsv1.Paging()
    paging.limit = 1000
    paging.offset = 2
    request = apicontractsv1.getAUJobDetailsRequest()
    request.paging = paging
    request.month = "2018-08"
    request.modifiedTypeFilter = "all"
    request.refId = "123456"

    response = call(anet_sandbox, apicontrollers.getAUJobDetailsController, request)

    assert text(response, "messages", "resultCode") == "Error"
    assert code_of(response) == "E00011"


def test_capture_only_as_the_sample_asks_captures_and_settles_with_its_auth_code(anet_sandbox):
    response = transaction(anet_sandbox, "captureOnlyTransaction", "42.17", card(), authCode="ROHNFQ")

    assert reason_of(response) == ("1", "1")
    assert text(response.transactionResponse, "authCode") == "ROHNFQ"
    stored = AnetTransaction.objects.get(pk=stored_pk(text(response.transactionResponse, "transId")))
    assert (stored.status, stored.settle_amount, stored.transaction_type) == (
        AnetTransaction.Status.CAPTURED, 4217, "captureOnlyTransaction",
    )  # fmt: skip
    settle(account=anet_sandbox)
    stored.refresh_from_db()
    assert stored.status == AnetTransaction.Status.SETTLED


@pytest.mark.parametrize(("auth_code", "reason"), [(None, "12"), ("ROH", "72"), ("ROH-NQ", "72")])
def test_capture_only_needs_a_six_character_auth_code(anet_sandbox, auth_code, reason):
    fields = {"authCode": auth_code} if auth_code else {}

    response = transaction(anet_sandbox, "captureOnlyTransaction", "5.00", card(), **fields)

    assert reason_of(response) == ("3", reason)
    assert not AnetTransaction.objects.filter(account=anet_sandbox, transaction_type="captureOnlyTransaction").exists()


def test_trans_hash_sha2_matches_an_independent_computation(anet_sandbox):
    response = transaction(anet_sandbox, "authCaptureTransaction", "10.5", card())
    trans_id = text(response.transactionResponse, "transId")

    sent = text(response.transactionResponse, "transHashSha2")

    assert sent == independent_hash(anet_sandbox.signature_key, anet_sandbox.api_login_id, trans_id, "10.50")
    void = apicontractsv1.transactionRequestType()
    void.transactionType = "voidTransaction"
    void.refTransId = trans_id
    create = apicontractsv1.createTransactionRequest()
    create.transactionRequest = void
    voided = call(anet_sandbox, apicontrollers.createTransactionController, create)
    assert text(voided.transactionResponse, "transHashSha2") == sent  # the void's amount: the charge's


def test_trans_hash_sha2_is_empty_without_a_signature_key(anet_sandbox):
    anet_sandbox.signature_key = ""
    anet_sandbox.save(update_fields=["signature_key"])

    response = transaction(anet_sandbox, "authCaptureTransaction", "10.00", card())

    assert text(response.transactionResponse, "transHashSha2") == ""


def test_tokenized_card_and_chase_pay_samples_are_charged_like_the_card(anet_sandbox):
    cryptogram = "EjRWeJASNFZ4kBI0VniQEjRWeJA="
    tokenized = transaction(
        anet_sandbox, "authCaptureTransaction", "1.5", card(isPaymentToken=True, cryptogram=cryptogram)
    )
    chase = transaction(
        anet_sandbox,
        "authCaptureTransaction",
        "1.50",
        card(
            cardCode="999", isPaymentToken=True, cryptogram=cryptogram, tokenRequestorName="CHASE_PAY",
            tokenRequestorId="12345678901", tokenRequestorEci="07",
        ),
    )  # fmt: skip
    bad_cryptogram = transaction(
        anet_sandbox, "authCaptureTransaction", "1.75", card(isPaymentToken=True, cryptogram="not base64!")
    )
    bad_eci = transaction(
        anet_sandbox,
        "authCaptureTransaction",
        "1.80",
        card(isPaymentToken=True, cryptogram=cryptogram, tokenRequestorEci="7"),
    )

    assert reason_of(tokenized) == ("1", "1") and reason_of(chase) == ("1", "1")
    assert reason_of(bad_cryptogram) == ("3", "156") and reason_of(bad_eci) == ("3", "187")


@pytest.mark.parametrize(
    ("descriptor", "reason"),
    [
        ("COMMON.APPLE.INAPP.PAYMENT", "154"),
        ("COMMON.VCO.ONLINE.PAYMENT", "330"),
        ("COMMON.ANDROID.INAPP.PAYMENT", "155"),
    ],
)
def test_wallet_payment_data_is_refused_with_its_reason(anet_sandbox, descriptor, reason):
    opaque = apicontractsv1.opaqueDataType()
    opaque.dataDescriptor = descriptor
    opaque.dataValue = "eyJ2ZXJzaW9uIjoiRUNfdjEifQ=="
    payment = apicontractsv1.paymentType()
    payment.opaqueData = opaque

    response = transaction(anet_sandbox, "authCaptureTransaction", "3.00", payment)

    assert reason_of(response) == ("3", reason)
    assert code_of(response) == "E00027"


def test_paypal_is_not_accepted_by_this_merchant(anet_sandbox):
    paypal = apicontractsv1.payPalType()
    paypal.successUrl = "https://example.com/ok"
    paypal.cancelUrl = "https://example.com/cancel"
    payment = apicontractsv1.paymentType()
    payment.payPal = paypal

    charge = transaction(anet_sandbox, "authOnlyTransaction", "3.00", payment)
    continued = transaction(anet_sandbox, "authOnlyContinueTransaction", "3.00", payment)

    assert reason_of(charge) == ("3", "2001") and reason_of(continued) == ("3", "2001")


def test_update_split_tender_group_as_the_sample_asks_finds_no_group(anet_sandbox):
    request = apicontractsv1.updateSplitTenderGroupRequest()
    request.splitTenderId = "115901"
    request.splitTenderStatus = apicontractsv1.splitTenderStatusEnum.voided

    response = call(anet_sandbox, apicontrollers.updateSplitTenderGroupController, request)

    assert code_of(response) == "E00040"


def request_xml(sandbox: Any, method: str, body: str = "") -> bytes:
    auth = (
        f"<merchantAuthentication><name>{sandbox.api_login_id}</name>"
        f"<transactionKey>{sandbox.transaction_key}</transactionKey></merchantAuthentication>"
    )
    return f'<?xml version="1.0" encoding="utf-8"?><{method} {NS}>{auth}{body}</{method}>'.encode()


@pytest.mark.parametrize("method", sorted(REFUSALS))
def test_every_method_not_emulated_answers_its_documented_error_schema_valid(anet_sandbox, method):
    raw = sandbox_request(request_xml(anet_sandbox, method)).handle()

    parsed = apicontractsv1.CreateFromDocument(raw[3:].decode("utf-8"))

    assert str(parsed.messages.resultCode) == "Error"
    assert str(parsed.messages.message[0].code) == REFUSALS[method][0]


def test_unknown_transaction_type_is_a_schema_error_and_is_alive_needs_no_credentials(anet_sandbox):
    body = "<transactionRequest><transactionType>bogusTransaction</transactionType><amount>1.00</amount></transactionRequest>"
    bogus = apicontractsv1.CreateFromDocument(
        sandbox_request(request_xml(anet_sandbox, "createTransactionRequest", body)).handle()[3:].decode()
    )
    alive = apicontractsv1.CreateFromDocument(
        sandbox_request(f"<isAliveRequest {NS}><refId>r</refId></isAliveRequest>".encode()).handle()[3:].decode()
    )

    assert str(bogus.messages.message[0].code) == "E00003"
    assert (str(alive.messages.resultCode), str(alive.refId)) == ("Ok", "r")
