"""The risk review queue worked in Chromium, with the shipped roles and 2FA on.

Payments a review rule holds are made through the API and the Authorize.Net sandbox (the given
state). A risk analyst logs in once with password and authenticator code, finds the queue from the
admin's index, takes a payment with "Assign to me", finds it again under "Assignee: Me", reads its
risk, timeline and the customer's earlier payments, and approves it (captured); then rejects
another, blocking its card and email (voided, and the card's next payment is blocked). A finance
viewer is refused the queue. Every page the analyst sees is checked for amounts in bare minor units.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from apps.accounts import roles
from apps.payments.models import Payment
from apps.risk.models import ListEntry
from apps.risk.services import rule_create
from tests.browser.staff import SYSTEM, Person
from tests.payments.helpers import VISA, purchase_body

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

QUEUE = "/admin/payments/paymentunderreview/"
MASTERCARD = {"type": "card", "number": "5424000000000015", "exp_month": 11, "exp_year": 2031, "cvc": "123"}
RULE = "Big ticket"
# Every amount of the given state in minor units: none may stand bare on a page (750.00 USD, never 75000).
EARLIER, APPROVED, REJECTED, AFTER_REJECTION = 4_321, 75_000, 93_127, 1_234
BARE = [EARLIER, APPROVED, REJECTED, AFTER_REJECTION]


def pay(api: Any, card: dict[str, Any], amount: int, email: str) -> Any:
    body = purchase_body(amount, payment_method=dict(card), customer={"email": email})
    return api.post("/api/v1/payments", body, format="json", HTTP_IDEMPOTENCY_KEY=uuid.uuid4().hex)


def assert_links_open(person: Person) -> None:
    """Every admin link on the page in view opens for this person (none leads to a 403)."""
    links = person.page.eval_on_selector_all("#content a[href^='/admin/']", "links => links.map(a => a.href)")
    refused = [href for href in links if person.context.request.get(href).status != 200]
    assert links and not refused, refused


@pytest.fixture
def held(api: Any, anet_account: Any, settings: Any) -> dict[str, Payment]:
    """A customer's earlier (small, captured) payment, then two payments the review rule holds:
    the same customer's, and another customer's paid with another card."""
    settings.ADMIN_REQUIRE_OTP = True
    rule_create(name=RULE, expression="amount > 70000", outcome="review", actor=SYSTEM)
    made = {
        "earlier": pay(api, VISA, EARLIER, "kim@example.com"),
        "approve": pay(api, VISA, APPROVED, "kim@example.com"),
        "reject": pay(api, MASTERCARD, REJECTED, "mule@example.com"),
    }
    for name, response in made.items():
        assert response.status_code == 201, (name, response.content)
    assert made["earlier"].json()["review"] is None
    assert {made["approve"].json()["review"], made["reject"].json()["review"]} == {"pending"}
    return {name: Payment.objects.get(public_id=response.json()["id"]) for name, response in made.items()}


def test_a_risk_analyst_works_the_review_queue(
    browser: Any, live_server: Any, api: Any, held: dict[str, Payment]
) -> None:
    earlier, approve, reject = held["earlier"], held["approve"], held["reject"]

    viewer = Person(browser, live_server, roles.FINANCE_VIEWER, "vera.viewer", bare=BARE)
    analyst = Person(browser, live_server, roles.RISK, "rita.risk", bare=BARE)
    try:
        # A finance viewer has no permission on the queue: no link to it, and 403 at its address.
        assert viewer.page.locator("a:text-is('Risk review queue')").count() == 0
        assert viewer.page.goto(f"{live_server.url}{QUEUE}").status == 403

        # Admin → Payments → Risk review queue: both held payments, as money, with score and rule.
        page = analyst.page
        page.click("#content-main a:text-is('Risk review queue')")
        analyst.check()
        assert page.url.removeprefix(live_server.url) == QUEUE
        rows = page.inner_text("#result_list")
        for payment, money in ((approve, "750.00 USD"), (reject, "931.27 USD")):
            row = page.inner_text(f"#result_list tr:has(a:text-is('{payment.public_id}'))")
            assert money in row and RULE in row, row
            assert f"{payment.risk['score']} ({payment.risk['level']})" in row, row
        assert earlier.public_id not in rows  # not held: not in the queue

        # "Assign to me" on one of them; "Assignee: Me" finds that one only.
        page.check(f"input[name=_selected_action][value='{approve.pk}']")
        page.select_option("select[name=action]", "assign_to_me")
        page.click("button[name=index]")
        analyst.check()
        assert "1 payment waiting for review assigned to you." in analyst.messages(), analyst.messages()
        page.click("#changelist-filter details[data-filter-title=assignee] a:text-is('Me')")
        analyst.check()
        assert "assignee=me" in page.url
        mine = page.inner_text("#result_list")
        assert approve.public_id in mine and reject.public_id not in mine and "rita.risk" in mine, mine

        # Its page: the risk assessment, the timeline and the customer's earlier payment.
        page.click(f"#result_list a:text-is('{approve.public_id}')")
        analyst.check()
        risk = page.inner_text("#risk")
        assert "Outcome: Review" in risk and RULE in risk and "amount > 70000" in risk, risk
        assert page.locator("#timeline tr.timeline-entry").count() > 0, page.inner_text("#timeline")
        history = page.inner_text(".field-history")
        assert earlier.public_id in history and "43.21 USD" in history, history
        assert "750.00 USD" in page.inner_text(".field-amount_display")
        assert_links_open(analyst)

        # Approved with a note: captured, and the page says so.
        page.click(".object-tools >> text=Approve or reject…")
        analyst.check()
        assert "750.00 USD" in page.inner_text("#content-main")
        assert_links_open(analyst)
        assert "Risk review queue" in page.inner_text(".breadcrumbs a >> nth=2")
        page.fill("[name=note]", "Known customer, usual basket")
        page.click("button[value=approve]")
        analyst.check()
        assert f"Payment {approve.public_id} of 750.00 USD approved: captured." in analyst.messages()
        assert page.locator(".object-tools >> text=Approve or reject…").count() == 0  # decided
        approve.refresh_from_db()
        assert (approve.status, approve.amount_captured, approve.review) == ("captured", APPROVED, "approved")
        assert (approve.reviewed_by, approve.review_note) == (analyst.user, "Known customer, usual basket")

        # The other one, from the queue: rejected, its card and email blocked.
        page.click(".breadcrumbs a:text-is('Risk review queue')")
        analyst.check()
        assert approve.public_id not in page.inner_text("#result_list")
        page.click(f"#result_list a:text-is('{reject.public_id}')")
        analyst.check()
        page.click(".object-tools >> text=Approve or reject…")
        analyst.check()
        page.get_by_label("the card").check()
        page.get_by_label("the email").check()
        page.fill("[name=note]", "Card testing pattern")
        page.click("button[value=reject]")
        analyst.check()
        message = f"Payment {reject.public_id} of 931.27 USD rejected: voided; blocked the card, the email."
        assert message in analyst.messages(), analyst.messages()
        reject.refresh_from_db()
        assert (reject.status, reject.review, reject.reviewed_by) == ("voided", "rejected", analyst.user)
        blocked = dict(ListEntry.objects.filter(merchant=reject.merchant, action="block").values_list("kind", "value"))
        assert set(blocked) == {"card_fingerprint", "email"} and blocked["email"] == "mule@example.com", blocked

        # Nothing left waiting; both decisions listed under "Decided".
        assert "0 risk review queue" in analyst.go(QUEUE).inner_text("#changelist-form")
        decided = analyst.go(f"{QUEUE}?decision=decided").inner_text("#result_list")
        assert approve.public_id in decided and reject.public_id in decided, decided

        # The card's next payment, under another email, is blocked before the gateway.
        refused = pay(api, MASTERCARD, AFTER_REJECTION, "someone.else@example.com")
        assert refused.status_code == 402 and refused.json()["error"]["code"] == "blocked_by_risk", refused.content
    finally:
        viewer.context.close()
        analyst.context.close()
