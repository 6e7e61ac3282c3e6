"""The Authorize.Net sandbox's ARB through the official SDK over real HTTP: every request the public
RecurringBilling sample scripts make (a subscription with a card and with a customer profile,
updating, listing, reading, the status, cancelling), the errors the real API gives, and the
schedule's $0 trial payments."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest
from authorizenet import apicontractsv1, apicontrollers
from django.utils import timezone

from apps.gateways import http
from apps.gateways.authorizenet import client  # noqa: F401 - installs our transport in the SDK
from apps.sandbox.authorizenet.arb import arb_run
from apps.sandbox.models import AnetPaymentProfile, AnetSubscription, AnetTransaction

from .test_authorizenet_sandbox import request_xml, respond, xml_text

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def sdk(anet_sandbox: Any, settings: Any):
    """Run one SDK controller against the sandbox, as the sample scripts do, and return its answer."""

    def run(controller_class: Any, request: Any) -> Any:
        auth = apicontractsv1.merchantAuthenticationType()
        auth.name, auth.transactionKey = anet_sandbox.api_login_id, anet_sandbox.transaction_key
        request.merchantAuthentication = auth
        with http.gateway_call(endpoint=settings.AUTHORIZENET_TEST_ENDPOINT, timeout=5.0) as call:
            controller = controller_class(request)
            controller.execute()
            response = controller.getresponse()
        assert response is not None, (call.status, call.error)
        return response

    return run


def code(response: Any) -> str:
    return str(response.messages.message[0]["code"])


def card_payment(number: str = "4111111111111111", expiry: str = "2035-12") -> Any:
    card = apicontractsv1.creditCardType()
    card.cardNumber, card.expirationDate = number, expiry
    payment = apicontractsv1.paymentType()
    payment.creditCard = card
    return payment


def schedule(*, start: date, total: int = 12, trials: int = 1, length: int = 1, unit: str = "months") -> Any:
    value = apicontractsv1.paymentScheduleType()
    value.interval = apicontractsv1.paymentScheduleTypeInterval()
    value.interval.length, value.interval.unit = length, unit
    value.startDate, value.totalOccurrences, value.trialOccurrences = start, total, trials
    return value


def create_with_card(
    sdk: Any, *, amount: str = "15.00", trial: str = "0.00", invoice: str = "", expiry: str = "2035-12", **kw: Any
) -> Any:
    """create-subscription.py: a card, billTo, a $0 trial occurrence."""
    subscription = apicontractsv1.ARBSubscriptionType()
    subscription.name = "Sample Subscription"
    subscription.paymentSchedule = schedule(start=kw.pop("start", date(2030, 12, 30)), **kw)
    subscription.amount, subscription.trialAmount = Decimal(amount), Decimal(trial)
    bill_to = apicontractsv1.nameAndAddressType()
    bill_to.firstName, bill_to.lastName = "John", "Smith"
    subscription.billTo = bill_to
    subscription.payment = card_payment(expiry=expiry)
    if invoice:
        subscription.order = apicontractsv1.orderType()
        subscription.order.invoiceNumber = invoice
    request = apicontractsv1.ARBCreateSubscriptionRequest()
    request.subscription = subscription
    return sdk(apicontrollers.ARBCreateSubscriptionController, request)


def update(sdk: Any, subscription_id: str, subscription: Any) -> Any:
    request = apicontractsv1.ARBUpdateSubscriptionRequest()
    request.refId, request.subscriptionId, request.subscription = "Sample", subscription_id, subscription
    return sdk(apicontrollers.ARBUpdateSubscriptionController, request)


def get(sdk: Any, subscription_id: str) -> Any:
    request = apicontractsv1.ARBGetSubscriptionRequest()
    request.subscriptionId, request.includeTransactions = subscription_id, True
    return sdk(apicontrollers.ARBGetSubscriptionController, request)


def listing(sdk: Any, search_type: str, *, order_by: str = "id", descending: bool = True, limit: int = 20,
            offset: int = 1) -> Any:  # fmt: skip
    """get-list-of-subscriptions.py."""
    sorting = apicontractsv1.ARBGetSubscriptionListSorting()
    sorting.orderBy, sorting.orderDescending = order_by, descending
    paging = apicontractsv1.Paging()
    paging.limit, paging.offset = limit, offset
    request = apicontractsv1.ARBGetSubscriptionListRequest()
    request.refId, request.searchType, request.sorting, request.paging = "Sample", search_type, sorting, paging
    return sdk(apicontrollers.ARBGetSubscriptionListController, request)


def listed_ids(response: Any) -> list[str]:
    details = getattr(response, "subscriptionDetails", None)
    return [str(item.id) for item in details.subscriptionDetail] if details is not None else []


def test_a_subscription_with_a_card_keeps_it_as_a_profile_and_reads_back_masked(sdk):
    created = create_with_card(sdk)

    assert (created.messages.resultCode, code(created)) == ("Ok", "I00001")
    subscription_id = str(created.subscriptionId)
    saved = AnetPaymentProfile.objects.get()
    assert str(created.profile.customerPaymentProfileId) == saved.payment_profile_id
    assert (saved.card_last4, saved.card_type, saved.expiration) == ("1111", "Visa", "2035-12")
    stored = AnetSubscription.objects.get()
    assert (stored.first_name, stored.last_name, stored.trial_amount, stored.amount) == ("John", "Smith", 0, 1500)
    detail = get(sdk, subscription_id)
    assert detail.messages.resultCode == "Ok"
    assert (str(detail.subscription.name), str(detail.subscription.amount), str(detail.subscription.status)) == (
        "Sample Subscription", "15.0", "active",
    )  # fmt: skip
    card = detail.subscription.profile.paymentProfile.payment.creditCard
    assert (str(card.cardNumber), str(card.expirationDate)) == ("XXXX1111", "XXXX")
    # No payment yet: the real service sends no arbTransactions element at all.
    assert not hasattr(detail.subscription, "arbTransactions")
    status_request = apicontractsv1.ARBGetSubscriptionStatusRequest()
    status_request.subscriptionId = subscription_id
    status = sdk(apicontrollers.ARBGetSubscriptionStatusController, status_request)
    assert str(status.status) == "active"


def test_a_subscription_from_a_customer_profile_and_a_duplicate(sdk):
    first = create_with_card(sdk, invoice="inv-1")
    profile = apicontractsv1.customerProfileIdType()
    profile.customerProfileId = str(first.profile.customerProfileId)
    profile.customerPaymentProfileId = str(first.profile.customerPaymentProfileId)
    subscription = apicontractsv1.ARBSubscriptionType()
    subscription.name = "Sample Subscription"
    subscription.paymentSchedule = schedule(start=date(2030, 12, 30), length=30, unit="days")
    subscription.amount, subscription.trialAmount = Decimal("20.00"), Decimal("0.00")
    subscription.profile = profile
    request = apicontractsv1.ARBCreateSubscriptionRequest()
    request.subscription = subscription

    from_profile = sdk(apicontrollers.ARBCreateSubscriptionController, request)
    duplicate = create_with_card(sdk, invoice="inv-1")

    assert from_profile.messages.resultCode == "Ok"
    assert str(from_profile.profile.customerPaymentProfileId) == profile.customerPaymentProfileId
    assert code(duplicate) == "E00012" and str(first.subscriptionId) in str(duplicate.messages.message[0]["text"])
    assert AnetSubscription.objects.count() == 2
    assert AnetPaymentProfile.objects.count() == 1  # the duplicate's card was not kept either


@pytest.mark.parametrize(
    ("payment", "expected"),
    [
        (card_payment("4111111111111112"), "E00013"),  # fails the Luhn check
        (card_payment(expiry="2030-11"), "E00018"),  # expires before the first payment
    ],
)
def test_a_card_subscription_with_a_bad_card_is_refused_and_saves_nothing(sdk, payment, expected):
    subscription = apicontractsv1.ARBSubscriptionType()
    subscription.paymentSchedule = schedule(start=date(2030, 12, 30))
    subscription.amount = Decimal("15.00")
    subscription.payment = payment
    request = apicontractsv1.ARBCreateSubscriptionRequest()
    request.subscription = subscription

    response = sdk(apicontrollers.ARBCreateSubscriptionController, request)

    assert (response.messages.resultCode, code(response)) == ("Error", expected)
    assert (AnetSubscription.objects.count(), AnetPaymentProfile.objects.count()) == (0, 0)


def test_update_changes_what_the_real_api_lets_change(sdk):
    subscription_id = str(create_with_card(sdk).subscriptionId)
    # update-subscription.py: a new card.
    new_card = apicontractsv1.ARBSubscriptionType()
    new_card.payment = card_payment("5424000000000015", "2036-01")
    changed = apicontractsv1.ARBSubscriptionType()
    changed.name, changed.amount = "Gold", Decimal("29.99")
    changed.paymentSchedule = apicontractsv1.paymentScheduleType()
    changed.paymentSchedule.totalOccurrences, changed.paymentSchedule.trialOccurrences = 24, 2
    bill_to = apicontractsv1.nameAndAddressType()
    bill_to.firstName, bill_to.lastName = "Ada", "Lovelace"
    changed.billTo = bill_to

    responses = [update(sdk, subscription_id, new_card), update(sdk, subscription_id, changed)]

    assert [(str(r.messages.resultCode), code(r)) for r in responses] == [("Ok", "I00001")] * 2
    assert str(responses[0].profile.customerPaymentProfileId) == AnetPaymentProfile.objects.get().payment_profile_id
    stored = AnetSubscription.objects.get()
    assert (stored.name, stored.amount, stored.total_occurrences, stored.trial_occurrences) == ("Gold", 2999, 24, 2)
    assert (stored.first_name, stored.last_name) == ("Ada", "Lovelace")
    saved = AnetPaymentProfile.objects.get()
    assert (saved.card_last4, saved.card_type, saved.expiration) == ("0015", "MasterCard", "2036-01")
    detail = get(sdk, subscription_id)
    card = detail.subscription.profile.paymentProfile.payment.creditCard
    assert (str(detail.subscription.amount), str(card.cardNumber)) == ("29.99", "XXXX0015")


def _schedule_change(**values: Any) -> Any:
    subscription = apicontractsv1.ARBSubscriptionType()
    subscription.paymentSchedule = apicontractsv1.paymentScheduleType()
    for name, value in values.items():
        setattr(subscription.paymentSchedule, name, value)
    return subscription


def test_update_refusals_change_nothing(sdk):
    subscription_id = str(create_with_card(sdk, start=date(2026, 1, 10), trials=0).subscriptionId)
    arb_run(as_of=datetime(2026, 1, 10, tzinfo=UTC))  # the first payment is made
    interval = _schedule_change(interval=apicontractsv1.paymentScheduleTypeInterval())
    interval.paymentSchedule.interval.length, interval.paymentSchedule.interval.unit = 7, "days"
    bank = apicontractsv1.ARBSubscriptionType()
    bank.payment = apicontractsv1.paymentType()
    bank.payment.bankAccount = apicontractsv1.bankAccountType()
    bank.payment.bankAccount.routingNumber, bank.payment.bankAccount.accountNumber = "121042882", "123456789"
    bank.payment.bankAccount.nameOnAccount = "John Smith"
    missing = apicontractsv1.ARBSubscriptionType()
    missing.amount = Decimal("1.00")
    before = AnetSubscription.objects.values().get()

    answers = {
        "interval": update(sdk, subscription_id, interval),
        "start after a payment": update(sdk, subscription_id, _schedule_change(startDate=date(2026, 2, 1))),
        "fewer than past": update(sdk, subscription_id, _schedule_change(totalOccurrences=1)),
        "bank account": update(sdk, subscription_id, bank),
        "unknown": update(sdk, "123", missing),
    }

    assert {name: code(r) for name, r in answers.items()} == {
        "interval": "E00034", "start after a payment": "E00033", "fewer than past": "E00037",
        "bank account": "E00036", "unknown": "E00035",
    }  # fmt: skip
    assert AnetSubscription.objects.values().get() == before
    cancel = apicontractsv1.ARBCancelSubscriptionRequest()
    cancel.subscriptionId = subscription_id
    assert code(sdk(apicontrollers.ARBCancelSubscriptionController, cancel)) == "I00001"
    assert code(update(sdk, subscription_id, missing)) == "E00037"  # canceled: cannot be updated


def test_a_new_card_reactivates_a_suspended_subscription_which_otherwise_is_terminated(sdk):
    first = str(create_with_card(sdk, start=date(2026, 1, 10), trials=0, invoice="a").subscriptionId)
    second = str(create_with_card(sdk, start=date(2026, 1, 10), trials=0, invoice="b", amount="16.00").subscriptionId)
    AnetPaymentProfile.objects.update(declining=True)
    arb_run(as_of=datetime(2026, 1, 10, tzinfo=UTC))
    assert set(AnetSubscription.objects.values_list("status", flat=True)) == {"suspended"}
    new_card = apicontractsv1.ARBSubscriptionType()
    new_card.payment = card_payment("5424000000000015")

    assert code(update(sdk, first, new_card)) == "I00001"
    arb_run(as_of=datetime(2026, 2, 10, tzinfo=UTC))

    statuses = dict(AnetSubscription.objects.values_list("payments_made", "status"))
    assert statuses == {2: "active", 1: "terminated"}
    charges = AnetTransaction.objects.filter(subscription_id=first).order_by("subscription_pay_num")
    assert [(c.subscription_pay_num, c.response_code, c.card_last4) for c in charges] == [
        (1, "2", "1111"), (2, "1", "0015"),
    ]  # fmt: skip
    assert not AnetTransaction.objects.filter(subscription_id=second, subscription_pay_num=2).exists()


def test_zero_trial_payments_are_not_charged_but_count(sdk):
    subscription_id = str(create_with_card(sdk, start=date(2026, 1, 10), total=4, trials=2).subscriptionId)

    made = arb_run(as_of=datetime(2026, 3, 10, tzinfo=UTC))

    stored = AnetSubscription.objects.get()
    assert (made, stored.payments_made, stored.status) == (1, 3, "active")
    charges = AnetTransaction.objects.all()
    assert [(c.subscription_pay_num, c.auth_amount, c.response_code) for c in charges] == [(3, 1500, "1")]
    detail = get(sdk, subscription_id)
    assert [int(t.payNum) for t in detail.subscription.arbTransactions.arbTransaction] == [3]
    arb_run(as_of=datetime(2026, 4, 10, tzinfo=UTC))
    assert AnetSubscription.objects.get().status == "expired"


def test_the_list_searches_sorts_and_pages(sdk, anet_sandbox):
    today = timezone.now().date()
    this_month = f"{today.year:04d}-{today.month:02d}"
    plans = [
        ("10.00", 9999, "2035-12"),
        ("30.00", 1, "2035-12"),
        ("20.00", 9999, "2035-12"),
        ("5.00", 9999, this_month),
    ]
    ids = [
        str(create_with_card(sdk, start=today, amount=amount, invoice=f"i{n}", total=total, trials=0,
                             expiry=expiry).subscriptionId)
        for n, (amount, total, expiry) in enumerate(plans)
    ]  # fmt: skip
    cancel = apicontractsv1.ARBCancelSubscriptionRequest()
    cancel.subscriptionId = ids[2]
    sdk(apicontrollers.ARBCancelSubscriptionController, cancel)

    active = listing(sdk, "subscriptionActive", order_by="amount", descending=True)
    first_page = listing(sdk, "subscriptionActive", order_by="id", descending=False, limit=1)
    second_page = listing(sdk, "subscriptionActive", order_by="id", descending=False, limit=1, offset=2)
    inactive = listing(sdk, "subscriptionInactive")
    expiring = listing(sdk, "subscriptionExpiringThisMonth")
    cards = listing(sdk, "cardExpiringThisMonth")
    bad_paging = [  # the SDK checks these itself: sent as raw XML
        respond(request_xml(anet_sandbox, "ARBGetSubscriptionListRequest", f"<searchType>subscriptionActive</searchType>"
                            f"<paging><limit>{limit}</limit><offset>{offset}</offset></paging>"))
        for limit, offset in [(1001, 1), (10, 0)]
    ]  # fmt: skip

    assert (listed_ids(active), int(active.totalNumInResultSet)) == ([ids[1], ids[0], ids[3]], 3)
    assert (listed_ids(first_page), listed_ids(second_page), int(first_page.totalNumInResultSet)) == (
        [ids[0]], [ids[1]], 3,
    )  # fmt: skip
    assert listed_ids(inactive) == [ids[2]] and listed_ids(expiring) == [ids[1]]
    assert (listed_ids(cards), int(cards.totalNumInResultSet)) == ([ids[3]], 1)
    nothing = listing(sdk, "subscriptionInactive", offset=2)
    assert (listed_ids(nothing), int(nothing.totalNumInResultSet)) == ([], 1)
    assert [xml_text(raw, "code") for raw in bad_paging] == ["E00003", "E00003"]
    detail = active.subscriptionDetails.subscriptionDetail[0]
    assert (str(detail.status), str(detail.firstName), str(detail.accountNumber), str(detail.amount)) == (
        "active", "John", "XXXX1111", "30.0",
    )  # fmt: skip
    assert (str(detail.paymentMethod), str(detail.invoice), int(detail.pastOccurrences)) == ("creditCard", "i1", 0)
