"""eCheck.Net in the Authorize.Net sandbox: requests built with the SDK's own contracts (as the
sample scripts debit-bank-account.py and credit-bank-account.py build them), answers parsed with
the SDK's schema."""

from __future__ import annotations

import secrets
from decimal import Decimal
from io import StringIO

import pytest
from authorizenet import apicontractsv1
from django.core.management import CommandError, call_command
from lxml import etree

from apps.audit.actors import Actor
from apps.sandbox.authorizenet.echeck import aba_valid
from apps.sandbox.authorizenet.server import sandbox_request
from apps.sandbox.models import AnetTransaction
from apps.sandbox.services import anet_account_create, anet_settle

pytestmark = pytest.mark.django_db

ROUTING = "121042882"  # the sample scripts' routing number (valid ABA checksum)
RETURNED_R01_AFTER_2_RUNS = "9900121234"


@pytest.fixture
def account():
    return anet_account_create(api_login_id=f"sb{secrets.token_hex(4)}")


def send(account, request, element: str):
    auth = apicontractsv1.merchantAuthenticationType()
    auth.name, auth.transactionKey = account.api_login_id, account.transaction_key
    request.merchantAuthentication = auth
    body = request.toxml(encoding="utf-8", element_name=element)  # what the SDK's controllers post
    raw = sandbox_request(body).handle()
    assert raw.startswith(b'\xef\xbb\xbf<?xml version="1.0" encoding="utf-8"?>')
    return apicontractsv1.CreateFromDocument(raw[3:].decode("utf-8")), raw


def bank_account(number="1234567890", routing=ROUTING, account_type="checking", echeck_type="WEB"):
    node = apicontractsv1.bankAccountType()
    node.accountType = account_type
    node.routingNumber = routing
    node.accountNumber = number
    node.nameOnAccount = "John Doe"
    node.echeckType = echeck_type
    return node


def transaction(account, kind="authCaptureTransaction", amount="12.34", ref_trans_id="", **bank):
    tr = apicontractsv1.transactionRequestType()
    tr.transactionType = kind
    tr.amount = Decimal(amount)
    payment = apicontractsv1.paymentType()
    payment.bankAccount = bank_account(**bank)
    tr.payment = payment
    if ref_trans_id:
        tr.refTransId = ref_trans_id
    order = apicontractsv1.orderType()
    order.invoiceNumber = secrets.token_hex(6)
    tr.order = order
    request = apicontractsv1.createTransactionRequest()
    request.refId = "ref-echeck"
    request.transactionRequest = tr
    return send(account, request, "createTransactionRequest")[0]


def details(account, trans_id):
    request = apicontractsv1.getTransactionDetailsRequest()
    request.transId = trans_id
    return send(account, request, "getTransactionDetailsRequest")


def reason(response) -> str:
    tr = response.transactionResponse
    return str(tr.messages.message[0].code if tr.messages else tr.errors.error[0].errorCode)


def settle(account):
    return anet_settle(account=account, actor=Actor.system("tests"))


def test_aba_checksum():
    assert aba_valid(ROUTING) and aba_valid("011000015")
    assert not aba_valid("121042883") and not aba_valid("12104288") and not aba_valid("12104288x")


def test_debit_is_approved_pending_settlement_with_masked_numbers_only(account):
    response = transaction(account)

    tr = response.transactionResponse
    assert (str(response.messages.resultCode), str(tr.responseCode), reason(response)) == ("Ok", "1", "1")
    assert (str(tr.accountType), str(tr.accountNumber)) == ("eCheck", "XXXX7890")
    found, raw = details(account, str(tr.transId))
    assert str(found.transaction.transactionStatus) == "capturedPendingSettlement"
    bank = found.transaction.payment.bankAccount
    assert (str(bank.routingNumber), str(bank.accountNumber), str(bank.accountType)) == (
        "XXXX2882", "XXXX7890", "checking",
    )  # fmt: skip
    assert str(bank.echeckType) == "WEB" and str(bank.nameOnAccount) == "John Doe"
    stored = AnetTransaction.objects.get(pk=AnetTransaction.pk_from_trans_id(str(tr.transId)) or 0)
    kept = " ".join(str(value) for value in vars(stored).values())
    assert "1234567890" not in kept and ROUTING not in kept
    assert b"1234567890" not in raw and ROUTING.encode() not in raw


@pytest.mark.parametrize(
    ("overrides", "kind", "amount", "code", "text"),
    [
        ({"routing": "121042883"}, "authCaptureTransaction", "5.00", "9", "The ABA code is invalid"),
        ({"number": "1234"}, "authCaptureTransaction", "5.00", "10", "The account number is invalid"),
        ({}, "authOnlyTransaction", "5.00", "246", "This eCheck.Net type is not allowed."),
        ({"echeck_type": "CCD"}, "authCaptureTransaction", "5.00", "244", None),
        ({"echeck_type": "ARC"}, "authCaptureTransaction", "5.00", "246", None),
        ({}, "authCaptureTransaction", "100.01", "2", "This transaction has been declined."),
    ],
)
def test_refused_debits_answer_the_real_reason_codes(account, overrides, kind, amount, code, text):
    response = transaction(account, kind, amount, **overrides)

    tr = response.transactionResponse
    assert str(response.messages.resultCode) == "Error"
    assert str(tr.responseCode) == ("2" if code == "2" else "3")
    assert reason(response) == code
    if text:
        assert str(tr.errors.error[0].errorText) == text
    assert str(tr.accountType) == "eCheck"
    stored = AnetTransaction.objects.filter(account=account)
    assert stored.count() == (1 if code == "2" else 0)  # a decline is kept, an invalid request is not


def test_echeck_settles_in_its_own_batch(account):
    transaction(account)
    card = apicontractsv1.creditCardType()
    card.cardNumber, card.expirationDate = "4111111111111111", "2030-12"
    tr = apicontractsv1.transactionRequestType()
    tr.transactionType, tr.amount = "authCaptureTransaction", Decimal("3.00")
    tr.payment = apicontractsv1.paymentType()
    tr.payment.creditCard = card
    request = apicontractsv1.createTransactionRequest()
    request.transactionRequest = tr
    send(account, request, "createTransactionRequest")

    batches = settle(account)

    assert sorted(batch.payment_method for batch in batches) == ["creditCard", "eCheck"]
    listing_request = apicontractsv1.getSettledBatchListRequest()
    _, raw = send(account, listing_request, "getSettledBatchListRequest")
    methods = etree.fromstring(raw[3:]).xpath("//*[local-name()='paymentMethod']/text()")
    assert sorted(methods) == ["creditCard", "eCheck"]
    echeck_batch = next(batch for batch in batches if batch.payment_method == "eCheck")
    assert [t.card_type for t in echeck_batch.transactions.all()] == ["eCheck"]
    assert {t.status for t in echeck_batch.transactions.all()} == {AnetTransaction.Status.SETTLED}


def test_credit_to_a_settled_debit_by_its_masked_numbers(account):
    debit = str(transaction(account, amount="20.00").transactionResponse.transId)
    early = transaction(account, "refundTransaction", "5.00", debit, number="XXXX7890", routing="XXXX2882")
    assert reason(early) == "54"  # not settled yet: void it instead
    settle(account)

    wrong_account = transaction(account, "refundTransaction", "5.00", debit, number="XXXX0000", routing="XXXX2882")
    too_much = transaction(account, "refundTransaction", "20.01", debit, number="XXXX7890", routing="XXXX2882")
    credit = transaction(account, "refundTransaction", "5.00", debit, number="XXXX7890", routing="XXXX2882")

    assert (reason(wrong_account), reason(too_much)) == ("54", "55")
    tr = credit.transactionResponse
    assert (str(tr.responseCode), str(tr.accountType), str(tr.accountNumber)) == ("1", "eCheck", "XXXX7890")
    assert str(tr.refTransID) == debit
    found, _ = details(account, str(tr.transId))
    assert str(found.transaction.transactionStatus) == "refundPendingSettlement"
    assert str(found.transaction.refTransId) == debit


def test_unlinked_credit_needs_expanded_credit_capabilities(account):
    refused = transaction(account, "refundTransaction", "7.00")
    account.unlinked_credits = True
    account.save(update_fields=["unlinked_credits"])
    accepted = transaction(account, "refundTransaction", "7.00")

    assert reason(refused) == "54"
    assert (str(accepted.transactionResponse.responseCode), reason(accepted)) == ("1", "1")
    assert str(accepted.transactionResponse.accountNumber) == "XXXX7890"


def test_triggered_return_comes_two_settlement_runs_after_settling(account):
    debit = str(transaction(account, number=RETURNED_R01_AFTER_2_RUNS).transactionResponse.transId)
    first = settle(account)
    assert str(details(account, debit)[0].transaction.transactionStatus) == "settledSuccessfully"
    settle(account)  # nothing to settle, nothing due yet
    assert str(details(account, debit)[0].transaction.transactionStatus) == "settledSuccessfully"

    (return_batch,) = settle(account)

    assert return_batch.payment_method == "eCheck" and return_batch.pk != first[0].pk
    found, raw = details(account, debit)
    assert str(found.transaction.transactionStatus) == "returnedItem"
    item = etree.fromstring(raw[3:]).xpath("//*[local-name()='returnedItem']")[0]
    assert item.findtext("{*}code") == "R01"
    assert item.findtext("{*}description") == "Insufficient Funds"
    assert str(found.transaction.batch.batchId) == first[0].batch_id  # settled there, returned later
    listing = apicontractsv1.getTransactionListRequest()
    listing.batchId = return_batch.batch_id
    _, raw_listing = send(account, listing, "getTransactionListRequest")
    rows = etree.fromstring(raw_listing[3:]).xpath("//*[local-name()='transaction']")
    assert [(row.findtext("{*}transId"), row.findtext("{*}transactionStatus")) for row in rows] == [
        (debit, "returnedItem")
    ]
    assert rows[0].findtext("{*}hasReturnedItems") == "true"


def test_sandbox_return_command_returns_a_settled_debit_now(account):
    debit = str(transaction(account).transactionResponse.transId)
    with pytest.raises(CommandError, match="only a settled debit"):
        call_command("sandbox_return", debit, "--code", "R02", stdout=StringIO())
    settle(account)
    out = StringIO()

    call_command("sandbox_return", debit, "--code", "R02", stdout=out)

    assert "R02 Account Closed" in out.getvalue()
    stored = AnetTransaction.objects.get(pk=AnetTransaction.pk_from_trans_id(debit) or 0)
    assert stored.status == AnetTransaction.Status.RETURNED
    assert stored.return_batch is not None and stored.return_batch.payment_method == "eCheck"
    with pytest.raises(CommandError, match="only a settled debit"):
        call_command("sandbox_return", debit, "--code", "R01", stdout=StringIO())
