"""The Authorize.Net sandbox's CIM and ARB: schema-valid answers as the real API gives them, the
ARB schedule charging each payment once, and the webhooks it sends."""

from __future__ import annotations

import json
import secrets
from datetime import UTC, date, datetime

import pytest
from django.core.management import call_command

from apps.sandbox.authorizenet.arb import arb_run, occurrence_date
from apps.sandbox.models import (
    AnetCustomerProfile,
    AnetNotification,
    AnetPaymentProfile,
    AnetSubscription,
    AnetTransaction,
)
from apps.sandbox.notifications import anet_webhook_register
from apps.sandbox.services import anet_account_create, anet_payment_profile_set_decline

from .test_authorizenet_sandbox import assert_schema_valid, request_xml, respond, xml_text

pytestmark = pytest.mark.django_db


@pytest.fixture
def account():
    return anet_account_create(api_login_id=f"sb{secrets.token_hex(4)}")


CARD = "<payment><creditCard><cardNumber>4111111111111111</cardNumber><expirationDate>2030-12</expirationDate><cardCode>123</cardCode></creditCard></payment>"


def create_profile(account, mcid="cus1", card=CARD, validation="testMode", zip_code="10001"):
    body = (
        f"<profile><merchantCustomerId>{mcid}</merchantCustomerId><email>a@example.com</email>"
        f"<paymentProfiles><billTo><firstName>Ada</firstName><zip>{zip_code}</zip></billTo>{card}</paymentProfiles>"
        f"</profile><validationMode>{validation}</validationMode>"
    )
    return respond(request_xml(account, "createCustomerProfileRequest", body))


def arb_body(
    profile_id, payment_profile_id, start="2026-01-15", unit="months", length=1, total=3, trials=1, invoice="sub1"
):
    return (
        f"<subscription><name>Pro</name><paymentSchedule><interval><length>{length}</length><unit>{unit}</unit></interval>"
        f"<startDate>{start}</startDate><totalOccurrences>{total}</totalOccurrences><trialOccurrences>{trials}</trialOccurrences>"
        f"</paymentSchedule><amount>15.00</amount><trialAmount>1.00</trialAmount>"
        f"<profile><customerProfileId>{profile_id}</customerProfileId><customerPaymentProfileId>{payment_profile_id}</customerPaymentProfileId></profile>"
        f"<order><invoiceNumber>{invoice}</invoiceNumber></order></subscription>"
    )


def test_cim_answers_are_schema_valid_and_keep_no_card_number(account):
    created = create_profile(account)
    parsed = assert_schema_valid(created)
    profile_id = xml_text(created, "customerProfileId")
    assert parsed.messages.resultCode == "Ok"
    payment_profile_id = xml_text(created, "numericString")
    assert xml_text(created, "string").startswith("1,1,1,")  # the validation's direct response
    duplicate = assert_schema_valid(create_profile(account))
    assert str(duplicate.messages.message[0].code) == "E00039" and profile_id in str(duplicate.messages.message[0].text)
    second_card = respond(request_xml(account, "createCustomerPaymentProfileRequest",
        f"<customerProfileId>{profile_id}</customerProfileId><paymentProfile>{CARD}</paymentProfile>"
        "<validationMode>none</validationMode>"))  # fmt: skip
    assert str(assert_schema_valid(second_card).messages.message[0].code) == "E00039"  # the same card again
    masked = respond(request_xml(account, "getCustomerPaymentProfileRequest",
        f"<customerProfileId>{profile_id}</customerProfileId><customerPaymentProfileId>{payment_profile_id}</customerPaymentProfileId>"))  # fmt: skip
    unmasked = respond(request_xml(account, "getCustomerPaymentProfileRequest",
        f"<customerProfileId>{profile_id}</customerProfileId><customerPaymentProfileId>{payment_profile_id}</customerPaymentProfileId>"
        "<unmaskExpirationDate>true</unmaskExpirationDate>"))  # fmt: skip
    assert_schema_valid(masked), assert_schema_valid(unmasked)
    assert (xml_text(masked, "expirationDate"), xml_text(unmasked, "expirationDate")) == ("XXXX", "2030-12")
    assert xml_text(masked, "cardNumber") == "XXXX1111"
    whole = respond(
        request_xml(account, "getCustomerProfileRequest", f"<customerProfileId>{profile_id}</customerProfileId>")
    )
    # No schema check here: the SDK's PyXB bindings reject every getCustomerProfile answer that lists a
    # payment profile (ContentNondeterminismExceededError on customerProfileMaskedType), so our gateway
    # module reads single payment profiles with getCustomerPaymentProfile instead.
    assert (xml_text(whole, "merchantCustomerId"), xml_text(whole, "customerPaymentProfileId")) == (
        "cus1",
        payment_profile_id,
    )
    deleted = respond(request_xml(account, "deleteCustomerPaymentProfileRequest",
        f"<customerProfileId>{profile_id}</customerProfileId><customerPaymentProfileId>{payment_profile_id}</customerPaymentProfileId>"))  # fmt: skip
    gone = respond(
        request_xml(account, "deleteCustomerProfileRequest", f"<customerProfileId>{profile_id}</customerProfileId>")
    )
    again = respond(
        request_xml(account, "deleteCustomerProfileRequest", f"<customerProfileId>{profile_id}</customerProfileId>")
    )
    assert [str(assert_schema_valid(r).messages.resultCode) for r in (deleted, gone, again)] == ["Ok", "Ok", "Error"]
    stored = json.dumps(list(AnetPaymentProfile.objects.values()), default=str) + json.dumps(
        list(AnetCustomerProfile.objects.values()), default=str
    )
    assert "4111111111111111" not in stored


def test_validation_declines_save_nothing(account):
    declined = create_profile(account, zip_code="46282")

    parsed = assert_schema_valid(declined)
    assert str(parsed.messages.message[0].code) == "E00027"
    assert (AnetCustomerProfile.objects.count(), AnetPaymentProfile.objects.count()) == (0, 0)


def test_arb_answers_are_schema_valid_and_a_duplicate_is_refused(account):
    created = create_profile(account)
    profile_id, payment_profile_id = xml_text(created, "customerProfileId"), xml_text(created, "numericString")

    first_raw = respond(request_xml(account, "ARBCreateSubscriptionRequest", arb_body(profile_id, payment_profile_id)))
    assert_schema_valid(first_raw)
    duplicate = assert_schema_valid(
        respond(request_xml(account, "ARBCreateSubscriptionRequest", arb_body(profile_id, payment_profile_id)))
    )
    subscription_id = xml_text(first_raw, "subscriptionId")
    status_raw = respond(
        request_xml(account, "ARBGetSubscriptionStatusRequest", f"<subscriptionId>{subscription_id}</subscriptionId>")
    )
    assert_schema_valid(status_raw)
    detail_raw = respond(
        request_xml(
            account,
            "ARBGetSubscriptionRequest",
            f"<subscriptionId>{subscription_id}</subscriptionId><includeTransactions>true</includeTransactions>",
        )
    )
    assert_schema_valid(detail_raw)
    cancel = assert_schema_valid(
        respond(
            request_xml(account, "ARBCancelSubscriptionRequest", f"<subscriptionId>{subscription_id}</subscriptionId>")
        )
    )
    cancel_again = assert_schema_valid(
        respond(
            request_xml(account, "ARBCancelSubscriptionRequest", f"<subscriptionId>{subscription_id}</subscriptionId>")
        )
    )
    missing = assert_schema_valid(
        respond(request_xml(account, "ARBGetSubscriptionStatusRequest", "<subscriptionId>1</subscriptionId>"))
    )
    missing_detail = assert_schema_valid(
        respond(request_xml(account, "ARBGetSubscriptionRequest", "<subscriptionId>1</subscriptionId>"))
    )
    assert str(missing_detail.messages.message[0].code) == "E00035"

    assert str(duplicate.messages.message[0].code) == "E00012" and subscription_id in str(
        duplicate.messages.message[0].text
    )
    assert xml_text(status_raw, "status") == xml_text(detail_raw, "status") == "active"
    assert [str(r.messages.message[0].code) for r in (cancel, cancel_again, missing)] == ["I00001", "I00002", "E00035"]


def test_a_card_or_customer_a_live_schedule_charges_cannot_be_deleted(account):
    created = create_profile(account)
    profile_id, payment_profile_id = xml_text(created, "customerProfileId"), xml_text(created, "numericString")
    subscription_id = xml_text(
        respond(request_xml(account, "ARBCreateSubscriptionRequest", arb_body(profile_id, payment_profile_id))),
        "subscriptionId",
    )
    ids = f"<customerProfileId>{profile_id}</customerProfileId>"
    card_ids = f"{ids}<customerPaymentProfileId>{payment_profile_id}</customerPaymentProfileId>"

    def delete_card():
        return assert_schema_valid(respond(request_xml(account, "deleteCustomerPaymentProfileRequest", card_ids)))

    def delete_customer():
        return assert_schema_valid(respond(request_xml(account, "deleteCustomerProfileRequest", ids)))

    refused = [delete_card(), delete_customer()]
    AnetSubscription.objects.filter(pk=AnetSubscription.pk_from_id(subscription_id)).update(
        status=AnetSubscription.Status.SUSPENDED
    )
    suspended = delete_card()
    assert_schema_valid(
        respond(
            request_xml(account, "ARBCancelSubscriptionRequest", f"<subscriptionId>{subscription_id}</subscriptionId>")
        )
    )

    assert [str(r.messages.message[0].code) for r in (*refused, suspended)] == ["E00105", "E00106", "E00105"]
    assert AnetPaymentProfile.objects.get(pk=AnetPaymentProfile.pk_from_id(payment_profile_id)).deleted_at is None
    assert [str(r.messages.message[0].code) for r in (delete_card(), delete_customer())] == ["I00001", "I00001"]


def test_the_schedule_charges_each_payment_once_with_trial_amounts_and_notifies(
    account, django_capture_on_commit_callbacks
):
    anet_webhook_register(account=account, url="http://127.0.0.1:9/nowhere")
    created = create_profile(account)
    profile_id, payment_profile_id = xml_text(created, "customerProfileId"), xml_text(created, "numericString")
    respond(request_xml(account, "ARBCreateSubscriptionRequest", arb_body(profile_id, payment_profile_id)))
    subscription = AnetSubscription.objects.get()

    arb_run(as_of=datetime(2026, 2, 20, tzinfo=UTC))
    arb_run(as_of=datetime(2026, 2, 20, tzinfo=UTC))  # again: nothing more

    charges = list(
        AnetTransaction.objects.order_by("subscription_pay_num").values_list(
            "subscription_pay_num", "auth_amount", "response_code"
        )
    )
    assert charges == [(1, 100, "1"), (2, 1500, "1")]
    call_command("sandbox_arb_run", "--as-of", "2026-05-01")
    subscription.refresh_from_db()
    assert (subscription.payments_made, subscription.status) == (3, "expired")
    details = respond(
        request_xml(
            account, "getTransactionDetailsRequest", f"<transId>{AnetTransaction.objects.last().trans_id}</transId>"
        )
    )
    assert_schema_valid(details)
    assert (xml_text(details, "id"), xml_text(details, "payNum")) == (subscription.subscription_id, "3")
    events = list(AnetNotification.objects.order_by("id").values_list("event_type", flat=True))
    assert events == ["net.authorize.customer.subscription.created"] + [
        "net.authorize.payment.authcapture.created"
    ] * 3 + ["net.authorize.customer.subscription.expired"]
    payload = json.loads(bytes(AnetNotification.objects.last().body))["payload"]
    assert (payload["entityName"], payload["id"], payload["amount"], payload["status"]) == (
        "subscription",
        subscription.subscription_id,
        15,
        "expired",
    )


def test_a_declined_payment_suspends_the_subscription(account):
    created = create_profile(account)
    profile_id, payment_profile_id = xml_text(created, "customerProfileId"), xml_text(created, "numericString")
    respond(request_xml(account, "ARBCreateSubscriptionRequest", arb_body(profile_id, payment_profile_id, trials=0)))
    anet_payment_profile_set_decline(payment_profile_id=payment_profile_id)

    arb_run(as_of=datetime(2026, 3, 1, tzinfo=UTC))

    assert AnetSubscription.objects.get().status == "suspended"
    assert list(AnetTransaction.objects.values_list("response_code", flat=True)) == ["2"]


@pytest.mark.parametrize(
    ("unit", "length", "number", "expected"),
    [("months", 1, 2, date(2026, 2, 28)), ("months", 1, 3, date(2026, 3, 31)), ("days", 7, 3, date(2026, 2, 14))],
)
def test_occurrence_dates(unit, length, number, expected):
    subscription = AnetSubscription(interval_unit=unit, interval_length=length, start_date=date(2026, 1, 31))

    assert occurrence_date(subscription, number) == expected
