"""A gateway that cannot be reached: the API's 503 names the address it tried (never its
credentials) and says what did not happen for the operation asked for, and nothing changes."""

from __future__ import annotations

import socket

import pytest

from apps.gateways.errors import GatewayRetryable, public_url
from apps.payments.models import GatewayTransaction, Payment, Refund
from tests.payments.helpers import purchase, settle

pytestmark = pytest.mark.django_db(transaction=True)

ANET_PATH = "/sandbox/authorizenet/xml/v1/request.api"


def closed_port() -> int:
    """A local port nothing listens on (connections to it are refused)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def gateway_down(settings):
    """Points the Authorize.Net test endpoint at a closed port, with credentials and a query in
    the address that must never be shown; returns the address that may be."""

    def down() -> str:
        port = closed_port()
        settings.AUTHORIZENET_TEST_ENDPOINT = f"http://login:s3cr3t@127.0.0.1:{port}{ANET_PATH}?key=k3y"
        return f"http://127.0.0.1:{port}{ANET_PATH}"

    return down


def assert_unreachable(response, url: str, not_done: str) -> str:
    assert response.status_code == 503
    error = response.json()["error"]
    assert (error["type"], error["code"]) == ("api_error", "gateway_unavailable")
    assert error["message"] == f"The payment gateway at {url} could not be reached; {not_done}. Retry later."
    for secret in ("s3cr3t", "login", "k3y", "4111111111111111"):
        assert secret not in response.content.decode()
    return error["message"]


def test_a_charge_names_the_address_it_could_not_reach_and_charges_nothing(api, anet_account, gateway_down):
    url = gateway_down()

    response = purchase(api, 1500)

    assert_unreachable(response, url, "nothing was charged")
    payment = Payment.objects.get(public_id=response.json()["error"]["payment"])
    assert (payment.status, payment.amount_captured) == ("failed", 0)


def test_a_refund_says_nothing_was_refunded_and_changes_nothing(api, anet_account, anet_sandbox, gateway_down):
    payment = purchase(api, 1000).json()
    settle(anet_sandbox)
    url = gateway_down()

    response = api.post(f"/api/v1/payments/{payment['id']}/refunds", {"amount": 400}, format="json")

    message = assert_unreachable(response, url, "nothing was refunded")
    assert "charged" not in message
    stored = Payment.objects.get(public_id=payment["id"])
    assert (stored.status, stored.amount_refunded, stored.amount_refund_pending) == ("captured", 0, 0)
    assert not Refund.objects.filter(status="succeeded").exists()
    assert GatewayTransaction.objects.get(kind="refund").status == "failed"


@pytest.mark.parametrize(
    ("operation", "not_done"), [("capture", "nothing was captured"), ("void", "nothing was voided")]
)
def test_a_capture_or_void_says_what_did_not_happen(api, anet_account, gateway_down, operation, not_done):
    payment = purchase(api, 2000, capture=False).json()
    url = gateway_down()

    response = api.post(f"/api/v1/payments/{payment['id']}/{operation}", {}, format="json")

    assert_unreachable(response, url, not_done)
    stored = Payment.objects.get(public_id=payment["id"])
    assert (stored.status, stored.amount_authorized, stored.amount_captured) == ("authorized", 2000, 0)


@pytest.mark.parametrize("gateway", ["stripe", "razorpay"])
def test_every_adapter_names_the_address_it_could_not_reach(gateway, merchant, settings):
    from apps.gateways.base import OrderRequest
    from apps.gateways.registry import checkout_gateway_for
    from apps.gateways.services import gateway_account_create
    from tests.conftest import CATALOG_ACTOR

    base = f"http://127.0.0.1:{closed_port()}/sandbox/{gateway}"
    settings.STRIPE_TEST_API_BASE = settings.RAZORPAY_TEST_API_BASE = base
    credentials = (
        {"secret_key": "sk_test_x", "publishable_key": "pk_test_x", "webhook_secret": ""}
        if gateway == "stripe"
        else {"key_id": "rzp_test_00000000000000", "key_secret": "s", "webhook_secret": "w"}
    )
    currency = "USD" if gateway == "stripe" else "INR"
    account = gateway_account_create(
        merchant=merchant, gateway=gateway, mode="test", currency=currency, credentials=credentials, actor=CATALOG_ACTOR
    )

    with pytest.raises(GatewayRetryable) as raised:
        checkout_gateway_for(account).create_order(OrderRequest("ref-unreachable-1", 4500, currency, {}))

    assert raised.value.url == base


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("http://user:pw@gw.example:8443/v1/api?token=t#frag", "http://gw.example:8443/v1/api"),
        ("https://api.stripe.com", "https://api.stripe.com"),
        ("http://[::1]:8000/sandbox/stripe", "http://[::1]:8000/sandbox/stripe"),
        ("", ""),
    ],
)
def test_an_address_is_shown_without_credentials_or_query(url, shown):
    assert public_url(url) == shown
