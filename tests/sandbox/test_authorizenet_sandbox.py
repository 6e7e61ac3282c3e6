"""The Authorize.Net sandbox speaks the real XML API: schema-valid responses with a BOM."""

from __future__ import annotations

import secrets
from io import StringIO

import pytest
import requests
from authorizenet import apicontractsv1
from django.core.management import call_command
from lxml import etree

from apps.gateways.base import Card, ChargeRequest, OpaqueToken, Outcome
from apps.gateways.errors import GatewayDeclined
from apps.sandbox.authorizenet.cards import card_type
from apps.sandbox.authorizenet.server import sandbox_request
from apps.sandbox.models import AnetPaymentNonce, AnetTransaction
from apps.sandbox.services import anet_account_create

pytestmark = pytest.mark.django_db

NS = 'xmlns="AnetApi/xml/v1/schema/AnetApiSchema.xsd"'


def request_xml(account, method: str, body: str = "", ref_id: str = "r1") -> bytes:
    auth = f"<merchantAuthentication><name>{account.api_login_id}</name><transactionKey>{account.transaction_key}</transactionKey></merchantAuthentication>"
    return (
        f'<?xml version="1.0" encoding="utf-8"?><{method} {NS}>{auth}<refId>{ref_id}</refId>{body}</{method}>'.encode()
    )


def charge_body(
    kind="authCaptureTransaction", amount="10.50", number="4111111111111111", invoice=None, zip_code=""
) -> str:
    invoice = invoice or secrets.token_hex(6)
    bill = (
        f"<billTo><firstName>Ada</firstName><lastName>Lovelace</lastName><zip>{zip_code}</zip></billTo>"
        if zip_code
        else ""
    )
    return (
        f"<transactionRequest><transactionType>{kind}</transactionType><amount>{amount}</amount>"
        f"<payment><creditCard><cardNumber>{number}</cardNumber><expirationDate>2030-12</expirationDate><cardCode>123</cardCode></creditCard></payment>"
        f"<order><invoiceNumber>{invoice}</invoiceNumber><description>demo</description></order>{bill}</transactionRequest>"
    )


def xml_text(raw: bytes, name: str) -> str:
    return etree.fromstring(raw[3:]).findtext(f".//{{*}}{name}")


def respond(body: bytes) -> bytes:
    return sandbox_request(body).handle()


def assert_schema_valid(raw: bytes) -> object:
    assert raw.startswith(b'\xef\xbb\xbf<?xml version="1.0" encoding="utf-8"?>')
    # What the SDK does: drop the 3 BOM bytes, then PyXB-validate against the XSD.
    return apicontractsv1.CreateFromDocument(raw[3:].decode("utf-8"))


@pytest.fixture
def account():
    return anet_account_create(api_login_id=f"sb{secrets.token_hex(4)}")


def test_every_response_kind_is_schema_valid(account):
    sale = assert_schema_valid(respond(request_xml(account, "createTransactionRequest", charge_body(zip_code="46201"))))
    trans_id = str(sale.transactionResponse.transId)
    declined = assert_schema_valid(
        respond(request_xml(account, "createTransactionRequest", charge_body(zip_code="46282")))
    )
    auth = assert_schema_valid(
        respond(request_xml(account, "createTransactionRequest", charge_body("authOnlyTransaction")))
    )
    auth_id = str(auth.transactionResponse.transId)
    capture = f"<transactionRequest><transactionType>priorAuthCaptureTransaction</transactionType><amount>5.00</amount><refTransId>{auth_id}</refTransId></transactionRequest>"
    void = f"<transactionRequest><transactionType>voidTransaction</transactionType><refTransId>{auth_id}</refTransId></transactionRequest>"
    responses = [
        sale,
        declined,
        auth,
        assert_schema_valid(respond(request_xml(account, "createTransactionRequest", capture))),
        assert_schema_valid(respond(request_xml(account, "createTransactionRequest", void))),
        assert_schema_valid(
            respond(request_xml(account, "getTransactionDetailsRequest", f"<transId>{trans_id}</transId>"))
        ),
        assert_schema_valid(respond(request_xml(account, "getTransactionDetailsRequest", "<transId>1</transId>"))),
        assert_schema_valid(respond(request_xml(account, "getUnsettledTransactionListRequest"))),
        assert_schema_valid(respond(request_xml(account, "authenticateTestRequest"))),
    ]
    call_command("sandbox_settle", "--account", account.api_login_id, stdout=StringIO())
    refund = f"<transactionRequest><transactionType>refundTransaction</transactionType><amount>1.00</amount><payment><creditCard><cardNumber>1111</cardNumber><expirationDate>XXXX</expirationDate></creditCard></payment><refTransId>{trans_id}</refTransId></transactionRequest>"
    responses.append(assert_schema_valid(respond(request_xml(account, "createTransactionRequest", refund))))
    raw_batches = respond(
        request_xml(account, "getSettledBatchListRequest", "<includeStatistics>false</includeStatistics>")
    )
    batches = assert_schema_valid(raw_batches)
    # PyXB files repeated list content under the SDK's lax wildcard; read values from the XML.
    batch_id = xml_text(raw_batches, "batchId")
    raw_listing = respond(request_xml(account, "getTransactionListRequest", f"<batchId>{batch_id}</batchId>"))
    listing = assert_schema_valid(raw_listing)
    responses += [batches, listing]

    assert [str(r.messages.resultCode) for r in responses] == [
        "Ok", "Error", "Ok", "Ok", "Ok", "Ok", "Error", "Ok", "Ok", "Ok", "Ok", "Ok",
    ]  # fmt: skip
    assert str(responses[1].transactionResponse.errors.error[0].errorCode) == "2"
    assert xml_text(raw_listing, "transId") == trans_id


@pytest.mark.parametrize(
    ("body", "root", "code"),
    [
        (b"<not-xml", "ErrorResponse", "E00003"),
        (f"<unknownMethodRequest {NS}/>".encode(), "ErrorResponse", "E00004"),
    ],
)
def test_malformed_and_unknown_requests(body, root, code):
    raw = respond(body)

    assert assert_schema_valid(raw).messages.message[0].code == code
    assert f"<{root}".encode() in raw


def test_bad_credentials_answer_e00007_schema_valid(account):
    account.transaction_key = "wrong"

    raw = respond(request_xml(account, "createTransactionRequest", charge_body()))

    assert assert_schema_valid(raw).messages.message[0].code == "E00007"
    assert b"<ErrorResponse" in raw


def test_capture_defaults_to_the_authorized_amount_and_only_once(account):
    auth = assert_schema_valid(
        respond(request_xml(account, "createTransactionRequest", charge_body("authOnlyTransaction", "20.00")))
    )
    auth_id = str(auth.transactionResponse.transId)
    capture = f"<transactionRequest><transactionType>priorAuthCaptureTransaction</transactionType><refTransId>{auth_id}</refTransId></transactionRequest>"

    respond(request_xml(account, "createTransactionRequest", capture))

    stored = AnetTransaction.objects.get(pk=AnetTransaction.pk_from_trans_id(auth_id))
    assert (stored.status, stored.settle_amount) == (AnetTransaction.Status.CAPTURED, 2000)


def test_settle_moves_captures_and_refunds_into_a_batch(account):
    respond(request_xml(account, "createTransactionRequest", charge_body()))
    respond(request_xml(account, "createTransactionRequest", charge_body("authOnlyTransaction")))
    out = StringIO()

    call_command("sandbox_settle", stdout=out)
    call_command("sandbox_settle", stdout=out)

    assert "1 transactions" in out.getvalue() and "Nothing to settle" in out.getvalue()
    assert account.transactions.filter(status=AnetTransaction.Status.AUTHORIZED, batch__isnull=True).count() == 1


@pytest.mark.parametrize(
    ("number", "brand"),
    [("4111111111111111", "Visa"), ("5424000000000015", "MasterCard"), ("2223000010309703", "MasterCard"),
     ("370000000000002", "AmericanExpress"), ("6011000000000012", "Discover"), ("3088000000000017", "JCB"),
     ("38000000000006", "DinersClub")],
)  # fmt: skip
def test_card_types(number, brand):
    assert card_type(number) == brand


def test_accept_token_then_opaque_payment_single_use(anet_gateway, live_server):
    url = f"{live_server.url}/sandbox/authorizenet/accept/v1/tokens"
    token = requests.post(
        url,
        json={"cardData": {"cardNumber": "5424000000000015", "month": "12", "year": "30", "cardCode": "901"}},
        timeout=5,
    ).json()["opaqueData"]
    opaque = OpaqueToken(token["dataDescriptor"], token["dataValue"])

    result = anet_gateway.sale(ChargeRequest(f"o{secrets.token_hex(6)}", 500, "USD", opaque))
    with pytest.raises(GatewayDeclined) as reused:
        anet_gateway.sale(ChargeRequest(f"o{secrets.token_hex(6)}", 500, "USD", opaque))

    assert (result.outcome, result.card_brand, result.card_last4, result.cvv_result) == (
        Outcome.APPROVED,
        "mastercard",
        "0015",
        "N",
    )
    assert reused.value.result.reason_code == "6"
    assert AnetPaymentNonce.objects.get(value=token["dataValue"]).used_at is not None


def test_accept_token_rejects_bad_card_data(live_server):
    response = requests.post(f"{live_server.url}/sandbox/authorizenet/accept/v1/tokens", json={"nope": 1}, timeout=5)

    assert response.json()["messages"]["resultCode"] == "Error"


def test_faults_from_settings_apply_to_every_request(anet_gateway, settings):
    settings.SANDBOX_FAULTS = "http_error=503"  # refused before any processing

    from apps.gateways.errors import GatewayRetryable

    with pytest.raises(GatewayRetryable, match="503"):
        anet_gateway.sale(ChargeRequest("x1", 100, "USD", Card("4111111111111111", 12, 2030)))
