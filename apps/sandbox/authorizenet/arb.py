"""Automated Recurring Billing (ARB) in the Authorize.Net sandbox.

ARBCreateSubscription / ARBCancelSubscription / ARBGetSubscriptionStatus / ARBGetSubscription as
the real API answers them (E00012 for a duplicate, I00002 when already cancelled), and the
gateway's own schedule: `arb_run(as_of)` charges every payment that has fallen due, each exactly
once (unique per subscription and payment number), as an authCaptureTransaction of the saved
card carrying `subscription{id, payNum}`, and sends the webhooks the real service sends: the
payment's `authcapture.created`, and `customer.subscription.created / cancelled / suspended /
expired` as the subscription changes.
"""

from __future__ import annotations

import calendar
from datetime import UTC, date, datetime, timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone
from lxml import etree

from apps.core.money import to_decimal, to_minor
from apps.sandbox.models import AnetAccount, AnetSubscription, AnetTransaction
from apps.sandbox.notifications import anet_notify_subscription

from .cim import payment_profile_for
from .engine import AuthorizeNetSandbox
from .xml import Builder, error_response, find, find_text

OK = ("I00001", "Successful.")
NOT_FOUND = ("E00035", "The subscription cannot be found.")


def _utc(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def occurrence_date(subscription: AnetSubscription, number: int) -> date:
    """The date of payment `number` (1-based)."""
    steps = (number - 1) * subscription.interval_length
    start = subscription.start_date
    if subscription.interval_unit == "days":
        return start + timedelta(days=steps)
    index = start.year * 12 + start.month - 1 + steps
    year, month = divmod(index, 12)
    return date(year, month + 1, min(start.day, calendar.monthrange(year, month + 1)[1]))


def _find(account: AnetAccount, subscription_id: str) -> AnetSubscription | None:
    pk = AnetSubscription.pk_from_id(subscription_id)
    return AnetSubscription.objects.filter(account=account, pk=pk).first() if pk else None


def _amount(text: str, account: AnetAccount) -> int | None:
    try:
        value = to_minor(text, account.currency)
    except (ValueError, ArithmeticError):
        return None
    return value if value > 0 else None


def create_subscription(root: etree._Element, account: AnetAccount, response_root: str, ref_id: str) -> bytes:
    node = find(root, "subscription")
    schedule = find(node, "paymentSchedule")
    unit = find_text(schedule, "interval/unit")
    try:
        length = int(find_text(schedule, "interval/length"))
        start = date.fromisoformat(find_text(schedule, "startDate")[:10])
        total = int(find_text(schedule, "totalOccurrences") or 9999)
        trials = int(find_text(schedule, "trialOccurrences") or 0)
    except ValueError:
        return error_response(response_root, "E00003", "The subscription's schedule is invalid.", ref_id)
    if (unit == "days" and not 7 <= length <= 365) or (unit == "months" and not 1 <= length <= 12) or unit not in {
        "days", "months",
    }:  # fmt: skip
        return error_response(response_root, "E00017", "The interval length must be 7 to 365 days or 1 to 12 months.",
                              ref_id)  # fmt: skip
    amount = _amount(find_text(node, "amount"), account)
    trial_amount = _amount(find_text(node, "trialAmount"), account) or 0 if trials else 0
    if amount is None:
        return error_response(response_root, "E00003", "The amount is invalid.", ref_id)
    profile_id = find_text(node, "profile/customerProfileId")
    payment_profile_id = find_text(node, "profile/customerPaymentProfileId")
    if payment_profile_for(account, profile_id, payment_profile_id) is None:
        return error_response(response_root, "E00040", "The record cannot be found.", ref_id)
    invoice = find_text(node, "order/invoiceNumber")[:20]
    with transaction.atomic():
        AnetAccount.objects.select_for_update().get(pk=account.pk)
        duplicate = AnetSubscription.objects.filter(
            account=account, amount=amount, customer_profile_id=profile_id, payment_profile_id=payment_profile_id,
            invoice_number=invoice, status=AnetSubscription.Status.ACTIVE,
        ).first()  # fmt: skip
        if duplicate is not None:
            text = (
                f"You have submitted a duplicate of Subscription {duplicate.subscription_id}. "
                "A duplicate subscription will not be created."
            )
            return error_response(response_root, "E00012", text, ref_id)
        subscription = AnetSubscription.objects.create(
            account=account, name=find_text(node, "name")[:50], interval_length=length, interval_unit=unit,
            start_date=start, total_occurrences=total, trial_occurrences=trials, amount=amount,
            trial_amount=trial_amount, currency=account.currency, customer_profile_id=profile_id,
            payment_profile_id=payment_profile_id, invoice_number=invoice,
        )  # fmt: skip
        notify(subscription, "net.authorize.customer.subscription.created")
    builder = Builder(response_root)
    builder.messages("Ok", [OK], ref_id)
    builder.add(builder.root, "subscriptionId", subscription.subscription_id)
    profile = builder.add(builder.root, "profile")
    builder.add(profile, "customerProfileId", profile_id)
    builder.add(profile, "customerPaymentProfileId", payment_profile_id)
    return builder.to_bytes()


def cancel_subscription(root: etree._Element, account: AnetAccount, response_root: str, ref_id: str) -> bytes:
    with transaction.atomic():
        subscription = _find(account, find_text(root, "subscriptionId"))
        if subscription is None:
            return error_response(response_root, *NOT_FOUND, ref_id)
        subscription = AnetSubscription.objects.select_for_update().get(pk=subscription.pk)
        builder = Builder(response_root)
        if subscription.status == AnetSubscription.Status.CANCELED:
            builder.messages("Ok", [("I00002", "The subscription has already been canceled.")], ref_id)
            return builder.to_bytes()
        subscription.status = AnetSubscription.Status.CANCELED
        subscription.save(update_fields=["status"])
        notify(subscription, "net.authorize.customer.subscription.cancelled")
    builder.messages("Ok", [OK], ref_id)
    return builder.to_bytes()


def subscription_status(root: etree._Element, account: AnetAccount, response_root: str, ref_id: str) -> bytes:
    subscription = _find(account, find_text(root, "subscriptionId"))
    if subscription is None:
        return error_response(response_root, *NOT_FOUND, ref_id)
    builder = Builder(response_root)
    builder.messages("Ok", [OK], ref_id)
    builder.add(builder.root, "status", subscription.status)
    return builder.to_bytes()


def get_subscription(root: etree._Element, account: AnetAccount, response_root: str, ref_id: str) -> bytes:
    subscription = _find(account, find_text(root, "subscriptionId"))
    if subscription is None:
        return error_response(response_root, *NOT_FOUND, ref_id)
    builder = Builder(response_root)
    builder.messages("Ok", [OK], ref_id)
    node = builder.add(builder.root, "subscription")
    builder.add_optional(node, "name", subscription.name)
    schedule = builder.add(node, "paymentSchedule")
    interval = builder.add(schedule, "interval")
    builder.add(interval, "length", subscription.interval_length)
    builder.add(interval, "unit", subscription.interval_unit)
    builder.add(schedule, "startDate", subscription.start_date.isoformat())
    builder.add(schedule, "totalOccurrences", subscription.total_occurrences)
    builder.add(schedule, "trialOccurrences", subscription.trial_occurrences)
    builder.add(node, "amount", to_decimal(subscription.amount, subscription.currency))
    builder.add(node, "trialAmount", to_decimal(subscription.trial_amount, subscription.currency))
    builder.add(node, "status", subscription.status)
    profile = builder.add(node, "profile")
    builder.add(profile, "customerProfileId", subscription.customer_profile_id)
    payment_profile = builder.add(profile, "paymentProfile")
    builder.add(payment_profile, "customerPaymentProfileId", subscription.payment_profile_id)
    saved = payment_profile_for(account, subscription.customer_profile_id, subscription.payment_profile_id)
    card = builder.add(builder.add(payment_profile, "payment"), "creditCard")
    builder.add(card, "cardNumber", f"XXXX{saved.card_last4 if saved else ''}")
    builder.add(card, "expirationDate", "XXXX")
    builder.add(card, "cardType", saved.card_type if saved else "Visa")
    if find_text(root, "includeTransactions").lower() == "true":
        charges = AnetTransaction.objects.filter(
            account=account, subscription_id=subscription.subscription_id
        ).order_by("subscription_pay_num")
        listing = builder.add(node, "arbTransactions")
        for charge in charges:
            item = builder.add(listing, "arbTransaction")
            builder.add(item, "transId", charge.trans_id)
            builder.add(item, "response", charge.reason_text)
            builder.add(item, "submitTimeUTC", _utc(charge.submitted_at))
            builder.add(item, "payNum", charge.subscription_pay_num or 0)
            builder.add(item, "attemptNum", 1)
    return builder.to_bytes()


HANDLERS = {
    "ARBCreateSubscriptionRequest": create_subscription,
    "ARBCancelSubscriptionRequest": cancel_subscription,
    "ARBGetSubscriptionStatusRequest": subscription_status,
    "ARBGetSubscriptionRequest": get_subscription,
}


def notify(subscription: AnetSubscription, event_type: str) -> None:
    anet_notify_subscription(subscription=subscription, event_type=event_type)


def _charge_request(subscription: AnetSubscription, amount: int) -> etree._Element:
    """The createTransaction request the schedule's charge amounts to (the saved card, the
    subscription's invoice number, no duplicate window: every payment has the same one)."""
    builder = Builder("createTransactionRequest")
    request = builder.add(builder.root, "transactionRequest")
    builder.add(request, "transactionType", "authCaptureTransaction")
    builder.add(request, "amount", to_decimal(amount, subscription.currency))
    profile = builder.add(request, "profile")
    builder.add(profile, "customerProfileId", subscription.customer_profile_id)
    builder.add(builder.add(profile, "paymentProfile"), "paymentProfileId", subscription.payment_profile_id)
    order = builder.add(request, "order")
    builder.add(order, "invoiceNumber", subscription.invoice_number)
    builder.add(order, "description", subscription.name)
    setting = builder.add(builder.add(request, "transactionSettings"), "setting")
    builder.add(setting, "settingName", "duplicateWindow")
    builder.add(setting, "settingValue", "0")
    return request


def _charge_next(subscription_pk: int, as_of: datetime) -> bool:
    """Charge the subscription's next payment if it is due. True when a charge was made (approved
    or declined); False when nothing was due."""
    with transaction.atomic():
        subscription = AnetSubscription.objects.select_for_update().select_related("account").get(pk=subscription_pk)
        number = subscription.payments_made + 1
        due = (
            subscription.status == AnetSubscription.Status.ACTIVE
            and number <= subscription.total_occurrences
            and occurrence_date(subscription, number) <= as_of.date()
        )
        if not due:
            return False
        amount = subscription.trial_amount if number <= subscription.trial_occurrences else subscription.amount
        sandbox = AuthorizeNetSandbox(b"", now=as_of, subscription=(subscription.subscription_id, number))
        try:
            with transaction.atomic():
                outcome = sandbox.charge_saved(subscription.account, _charge_request(subscription, amount))
        except IntegrityError:
            return False  # charged by a concurrent run
        if outcome.approved:
            subscription.payments_made = number
            if number >= subscription.total_occurrences:
                subscription.status = AnetSubscription.Status.EXPIRED
                notify(subscription, "net.authorize.customer.subscription.expired")
        else:
            subscription.status = AnetSubscription.Status.SUSPENDED
            notify(subscription, "net.authorize.customer.subscription.suspended")
        subscription.save(update_fields=["payments_made", "status"])
    return True


def arb_run(*, as_of: datetime | None = None) -> int:
    """Charge every ARB payment due by `as_of` (default now). Returns how many charges were made.
    Safe to run twice and concurrently: each payment is charged once."""
    as_of = as_of or timezone.now()
    made = 0
    for pk in AnetSubscription.objects.filter(status=AnetSubscription.Status.ACTIVE).values_list("pk", flat=True):
        while _charge_next(pk, as_of):
            made += 1
    return made
