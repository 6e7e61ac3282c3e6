"""checkout.js in a real browser (Debian's Chromium, driven by Playwright): the modal form, the
handler on success and the 'payment.failed' callbacks on failure."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.sandbox.razorpay_helpers import sdk_client

# The DB fixtures come before `browser` in each signature: Playwright runs an event loop in this
# thread, and Django refuses database calls from it.
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

SHOP_PAGE = """<!doctype html><html><body>
<script src="/sandbox/razorpay/checkout.js"></script>
<script>
  window.outcome = null;
  var rzp = new Razorpay(Object.assign(OPTIONS, {
    handler: function (response) { window.outcome = {ok: response}; },
    modal: {ondismiss: function () { window.outcome = {dismissed: true}; }}
  }));
  rzp.on('payment.failed', function (response) { window.outcome = {failed: response.error}; });
  rzp.open();
</script></body></html>"""


def open_checkout(browser, live_server, account, order_id: str) -> Any:
    options = {"key": account.key_id, "amount": 2500, "currency": "INR", "order_id": order_id, "name": "Shop",
               "description": "Order 1", "prefill": {"name": "Ada", "email": "ada@example.com", "contact": "99"}}  # fmt: skip
    page = browser.new_page()
    page.route(
        f"{live_server.url}/shop",
        lambda route: route.fulfill(content_type="text/html", body=SHOP_PAGE.replace("OPTIONS", json.dumps(options))),
    )
    page.goto(f"{live_server.url}/shop")
    page.wait_for_selector("#rzp-card-number")
    return page


def fill(page, number: str) -> None:
    page.fill("#rzp-card-number", number)
    page.fill("#rzp-card-expiry", "12/35")
    page.fill("#rzp-card-cvv", "123")
    page.click("#rzp-pay")
    page.wait_for_function("window.outcome !== null", timeout=10_000)


def test_paying_in_the_modal_calls_the_handler_with_a_valid_signature(rzp_sandbox, live_server, browser):
    client = sdk_client(rzp_sandbox)
    order = client.order.create({"amount": 2500, "currency": "INR"})
    page = open_checkout(browser, live_server, rzp_sandbox, order["id"])
    assert page.input_value("#rzp-card-name") == "Ada"

    fill(page, "4100 2800 0000 1007")

    response = page.evaluate("window.outcome.ok")
    assert response["razorpay_order_id"] == order["id"]
    assert client.utility.verify_payment_signature(response) is True
    assert page.query_selector("#rzp-modal") is None  # closed
    assert client.payment.fetch(response["razorpay_payment_id"])["email"] == "ada@example.com"


def test_a_failure_card_calls_payment_failed_and_shows_the_description(rzp_sandbox, live_server, browser):
    order = sdk_client(rzp_sandbox).order.create({"amount": 2500, "currency": "INR"})
    page = open_checkout(browser, live_server, rzp_sandbox, order["id"])

    fill(page, "4100280000060003")

    error = page.evaluate("window.outcome.failed")
    assert (error["code"], error["reason"], error["metadata"]["order_id"]) == (
        "BAD_REQUEST_ERROR", "card_declined", order["id"],
    )  # fmt: skip
    assert error["metadata"]["payment_id"].startswith("pay_")
    assert page.text_content("#rzp-error") == error["description"]


def test_closing_the_modal_calls_ondismiss(rzp_sandbox, live_server, browser):
    order = sdk_client(rzp_sandbox).order.create({"amount": 2500, "currency": "INR"})
    page = open_checkout(browser, live_server, rzp_sandbox, order["id"])

    page.click("#rzp-close")

    assert page.evaluate("window.outcome") == {"dismissed": True}
    assert page.query_selector("#rzp-modal") is None
