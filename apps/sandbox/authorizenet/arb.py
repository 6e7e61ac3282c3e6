"""Automated Recurring Billing (ARB) in the Authorize.Net sandbox.

ARBCreateSubscription (with a saved card, `profile`, or a card, `payment.creditCard`, for which a
customer profile is made as the real service does and returned in `profile`; E00012 for a
duplicate), ARBUpdateSubscription (what the real API lets change: E00034 interval, E00033 start
date after the first payment, E00036 payment type, E00037 a subscription that is canceled,
terminated or expired; a new payment reactivates a suspended one), ARBCancelSubscription (I00002
when already cancelled), ARBGetSubscriptionStatus, ARBGetSubscription (no arbTransactions
element until a payment was made) and ARBGetSubscriptionList (arb_list.py), and the gateway's
own schedule: `arb_run(as_of)` charges every payment that has fallen due, each exactly once
(unique per subscription and payment number), as an authCaptureTransaction of the saved card
carrying `subscription{id, payNum}`. A $0 trial payment is not charged but counts as an
occurrence; a declined payment suspends the subscription, and a suspended one not reactivated
before its next payment falls due is terminated. It sends the webhooks the real service sends:
the payment's `authcapture.created`, and `customer.subscription.created / updated / cancelled /
suspended / terminated / expired` as the subscription changes.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

from django.db import IntegrityError, transaction
from django.utils import timezone
from lxml import etree

from apps.core.money import to_decimal, to_minor
from apps.sandbox.models import (
    AnetAccount,
    AnetCustomerProfile,
    AnetPaymentProfile,
    AnetSubscription,
    AnetTransaction,
)
from apps.sandbox.notifications import anet_notify_subscription

from . import arb_list
from .arb_dates import occurrence_date
from .cards import CardFacts, card_facts, expiration_problem
from .cim import payment_profile_for
from .engine import AuthorizeNetSandbox
from .xml import Builder, error_response, find, find_text

OK = ("I00001", "Successful.")
NOT_FOUND = ("E00035", "The subscription cannot be found.")
CANNOT_UPDATE = ("E00037", "The subscription cannot be updated.")
# A subscription in one of these states can no longer be changed (E00037) or charged.
ENDED = (AnetSubscription.Status.CANCELED, AnetSubscription.Status.TERMINATED, AnetSubscription.Status.EXPIRED)


def _utc(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _find(account: AnetAccount, subscription_id: str) -> AnetSubscription | None:
    pk = AnetSubscription.pk_from_id(subscription_id)
    return AnetSubscription.objects.filter(account=account, pk=pk).first() if pk else None


def _amount(text: str, account: AnetAccount) -> int | None:
    try:
        value = to_minor(text, account.currency)
    except (ValueError, ArithmeticError):
        return None
    return value if value > 0 else None


def _card_profile(
    account: AnetAccount, node: etree._Element | None, start: date
) -> tuple[AnetPaymentProfile | None, tuple[str, str]]:
    """A subscription created with a card: the real service keeps the card as a customer profile
    of its own and bills that (brand, last four, a keyed fingerprint and the expiry, never the
    number). (profile or None, error)."""
    card = find(node, "payment/creditCard")
    facts = card_facts(find_text(card, "cardNumber"), find_text(card, "expirationDate"), find_text(card, "cardCode"))
    if not facts.valid:
        return None, ("E00013", "Credit Card Number is invalid.")
    if expiration_problem(facts.expiration, datetime(start.year, start.month, start.day, tzinfo=UTC)):
        return None, ("E00018", "Credit Card expires before the start of the subscription.")
    profile = AnetCustomerProfile.objects.create(
        account=account, merchant_customer_id=find_text(node, "customer/id")[:20],
        email=find_text(node, "customer/email")[:255],
    )  # fmt: skip
    saved = AnetPaymentProfile.objects.create(
        customer_profile=profile, card_type=facts.card_type, card_last4=facts.last4,
        card_fingerprint=facts.fingerprint, expiration=facts.expiration, known_test_card=facts.known_test_card,
        amount_trigger=facts.amount_trigger, first_name=find_text(node, "billTo/firstName")[:50],
        last_name=find_text(node, "billTo/lastName")[:50], zip=find_text(node, "billTo/zip")[:20], is_default=True,
    )  # fmt: skip
    return saved, OK


def _duplicate(account: AnetAccount, *, amount: int, invoice: str, fingerprint: str) -> AnetSubscription | None:
    """An active subscription of the same amount and invoice number billing the same card."""
    for candidate in AnetSubscription.objects.filter(
        account=account, amount=amount, invoice_number=invoice, status=AnetSubscription.Status.ACTIVE
    ).order_by("pk"):
        saved = payment_profile_for(account, candidate.customer_profile_id, candidate.payment_profile_id)
        if saved is not None and saved.card_fingerprint == fingerprint:
            return candidate
    return None


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
    if find_text(node, "trialAmount") and not find_text(schedule, "trialOccurrences"):
        return error_response(
            response_root, "E00024", "Trial Occurrences is required when Trial Amount is specified.", ref_id
        )
    if trials and trials >= total:
        return error_response(response_root, "E00028", "Trial Occurrences must be less than Total Occurrences.", ref_id)
    amount = _amount(find_text(node, "amount"), account)
    trial_amount = _amount(find_text(node, "trialAmount"), account) or 0 if trials else 0
    if amount is None:
        return error_response(response_root, "E00003", "The amount is invalid.", ref_id)
    if find(node, "payment/bankAccount") is not None:
        text = "The payment gateway account is not enabled for eCheck.Net subscriptions."
        return error_response(response_root, "E00020", text, ref_id)
    with_card = find(node, "payment/creditCard") is not None
    if not with_card and find(node, "profile") is None:
        return error_response(response_root, "E00029", "Payment information is required.", ref_id)
    profile_id = find_text(node, "profile/customerProfileId")
    payment_profile_id = find_text(node, "profile/customerPaymentProfileId")
    invoice = find_text(node, "order/invoiceNumber")[:20]
    with transaction.atomic():
        AnetAccount.objects.select_for_update().get(pk=account.pk)
        if with_card:
            saved, problem = _card_profile(account, node, start)
        else:
            saved = payment_profile_for(account, profile_id, payment_profile_id)
            problem = ("E00040", "The record cannot be found.")
        if saved is None:
            return error_response(response_root, *problem, ref_id)
        duplicate = _duplicate(account, amount=amount, invoice=invoice, fingerprint=saved.card_fingerprint)
        if duplicate is not None:
            transaction.set_rollback(True)  # nor the card's profile
            text = (
                f"You have submitted a duplicate of Subscription {duplicate.subscription_id}. "
                "A duplicate subscription will not be created."
            )
            return error_response(response_root, "E00012", text, ref_id)
        profile_id, payment_profile_id = saved.customer_profile.profile_id, saved.payment_profile_id
        subscription = AnetSubscription.objects.create(
            account=account, name=find_text(node, "name")[:50], interval_length=length, interval_unit=unit,
            start_date=start, total_occurrences=total, trial_occurrences=trials, amount=amount,
            trial_amount=trial_amount, currency=account.currency, customer_profile_id=profile_id,
            payment_profile_id=payment_profile_id, invoice_number=invoice,
            first_name=find_text(node, "billTo/firstName")[:50], last_name=find_text(node, "billTo/lastName")[:50],
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


def _schedule_changes(subscription: AnetSubscription, schedule: etree._Element) -> dict[str, object] | tuple[str, str]:
    """What a paymentSchedule in an update changes, as the real API allows it, or its error."""
    if find(schedule, "interval") is not None:
        return "E00034", "The interval information cannot be changed."
    changes: dict[str, object] = {}
    try:
        if find_text(schedule, "startDate"):
            start = date.fromisoformat(find_text(schedule, "startDate")[:10])
            if start != subscription.start_date and subscription.payments_made:
                return "E00033", "The start date cannot be changed."
            changes["start_date"] = start
        total = int(find_text(schedule, "totalOccurrences") or subscription.total_occurrences)
        trials = int(find_text(schedule, "trialOccurrences") or subscription.trial_occurrences)
    except ValueError:
        return "E00003", "The subscription's schedule is invalid."
    if total <= subscription.payments_made and total != subscription.total_occurrences:
        return CANNOT_UPDATE  # no fewer occurrences than have passed already
    if trials != subscription.trial_occurrences and subscription.payments_made >= subscription.trial_occurrences > 0:
        return CANNOT_UPDATE  # the trial is over
    if trials and trials >= total:
        return "E00028", "Trial Occurrences must be less than Total Occurrences."
    changes.update(total_occurrences=total, trial_occurrences=trials)
    return changes


def _payment_changes(node: etree._Element | None, account: AnetAccount) -> dict[str, object] | tuple[str, str]:
    """A new saved card (profile) or card (payment) in an update, or its error."""
    if find(node, "payment/bankAccount") is not None:
        return "E00036", "The payment type cannot be changed."
    if find(node, "profile") is not None:
        profile_id = find_text(node, "profile/customerProfileId")
        payment_profile_id = find_text(node, "profile/customerPaymentProfileId")
        if payment_profile_for(account, profile_id, payment_profile_id) is None:
            return "E00040", "The record cannot be found."
        return {"customer_profile_id": profile_id, "payment_profile_id": payment_profile_id}
    if find(node, "payment/creditCard") is not None:
        card = find(node, "payment/creditCard")
        facts = card_facts(
            find_text(card, "cardNumber"), find_text(card, "expirationDate"), find_text(card, "cardCode")
        )
        if not facts.valid:
            return "E00013", "Credit Card Number is invalid."
        if expiration_problem(facts.expiration, timezone.now()):
            return "E00018", "Credit Card expires before the start of the subscription."
        return {"card": facts}
    return {}


def _update_changes(
    subscription: AnetSubscription, node: etree._Element | None, account: AnetAccount
) -> dict[str, object] | tuple[str, str]:
    """Every change an ARBUpdateSubscription asks for, checked before any is made, or its error."""
    if subscription.status in ENDED:
        return CANNOT_UPDATE
    changes: dict[str, object] = {}
    schedule = find(node, "paymentSchedule")
    if schedule is not None:
        scheduled = _schedule_changes(subscription, schedule)
        if isinstance(scheduled, tuple):
            return scheduled
        changes.update(scheduled)
    if find(node, "name") is not None:
        changes["name"] = find_text(node, "name")[:50]
    if find_text(node, "amount"):
        amount = _amount(find_text(node, "amount"), account)
        if amount is None:
            return "E00003", "The amount is invalid."
        changes["amount"] = amount
    if find_text(node, "trialAmount"):
        try:
            trial_amount = to_minor(find_text(node, "trialAmount"), account.currency)
        except (ValueError, ArithmeticError):
            return "E00003", "The trial amount is invalid."
        if trial_amount < 0 or subscription.payments_made >= max(subscription.trial_occurrences, 1):
            return CANNOT_UPDATE
        changes["trial_amount"] = trial_amount
    if find(node, "order") is not None:
        changes["invoice_number"] = find_text(node, "order/invoiceNumber")[:20]
    if find(node, "billTo") is not None:
        changes["first_name"] = find_text(node, "billTo/firstName")[:50]
        changes["last_name"] = find_text(node, "billTo/lastName")[:50]
    payment = _payment_changes(node, account)
    if isinstance(payment, tuple):
        return payment
    changes.update(payment)
    return changes


def update_subscription(root: etree._Element, account: AnetAccount, response_root: str, ref_id: str) -> bytes:
    with transaction.atomic():
        found = _find(account, find_text(root, "subscriptionId"))
        if found is None:
            return error_response(response_root, *NOT_FOUND, ref_id)
        subscription = AnetSubscription.objects.select_for_update().get(pk=found.pk)
        changes = _update_changes(subscription, find(root, "subscription"), account)
        if isinstance(changes, tuple):
            return error_response(response_root, *changes, ref_id)
        facts = changes.pop("card", None)
        if isinstance(facts, CardFacts):
            # A new card replaces the one on the subscription's own payment profile.
            AnetPaymentProfile.objects.filter(
                pk=AnetPaymentProfile.pk_from_id(subscription.payment_profile_id) or 0
            ).update(
                card_type=facts.card_type, card_last4=facts.last4, card_fingerprint=facts.fingerprint,
                expiration=facts.expiration, known_test_card=facts.known_test_card,
                amount_trigger=facts.amount_trigger, declining=False,
            )  # fmt: skip
        for name, value in changes.items():
            setattr(subscription, name, value)
        if subscription.status == AnetSubscription.Status.SUSPENDED and (facts or "payment_profile_id" in changes):
            subscription.status = AnetSubscription.Status.ACTIVE  # new payment details reactivate it
        subscription.save()
        notify(subscription, "net.authorize.customer.subscription.updated")
    builder = Builder(response_root)
    builder.messages("Ok", [OK], ref_id)
    profile = builder.add(builder.root, "profile")
    builder.add(profile, "customerProfileId", subscription.customer_profile_id)
    builder.add(profile, "customerPaymentProfileId", subscription.payment_profile_id)
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
    saved = payment_profile_for(account, subscription.customer_profile_id, subscription.payment_profile_id)
    profile = builder.add(node, "profile")
    # Not merchantCustomerId/description/email: the SDK's PyXB bindings cannot read this type with
    # them (content nondeterminism), so the sandbox leaves them out for the SDK's sake.
    builder.add(profile, "customerProfileId", subscription.customer_profile_id)
    payment_profile = builder.add(profile, "paymentProfile")
    if saved is not None and (saved.first_name or saved.last_name or saved.zip):
        bill_to = builder.add(payment_profile, "billTo")
        builder.add_optional(bill_to, "firstName", saved.first_name)
        builder.add_optional(bill_to, "lastName", saved.last_name)
        builder.add_optional(bill_to, "zip", saved.zip)
    builder.add(payment_profile, "customerPaymentProfileId", subscription.payment_profile_id)
    card = builder.add(builder.add(payment_profile, "payment"), "creditCard")
    builder.add(card, "cardNumber", f"XXXX{saved.card_last4 if saved else ''}")
    builder.add(card, "expirationDate", "XXXX")
    builder.add(card, "cardType", saved.card_type if saved else "Visa")
    if subscription.invoice_number or subscription.name:
        order = builder.add(node, "order")
        builder.add_optional(order, "invoiceNumber", subscription.invoice_number)
        builder.add_optional(order, "description", subscription.name)
    charges = list(
        AnetTransaction.objects.filter(account=account, subscription_id=subscription.subscription_id).order_by(
            "subscription_pay_num"
        )
    )
    # As the real service: no arbTransactions element at all until the schedule made a payment.
    if find_text(root, "includeTransactions").lower() == "true" and charges:
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
    "ARBUpdateSubscriptionRequest": update_subscription,
    "ARBGetSubscriptionListRequest": arb_list.subscription_list,
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


def _charge_next(subscription_pk: int, as_of: datetime) -> int | None:
    """Run the subscription's next occurrence if it is due: 1 when a charge was made (approved or
    declined), 0 when it passed uncharged (a $0 trial payment) or a suspended subscription was
    terminated; None when nothing was due."""
    with transaction.atomic():
        subscription = AnetSubscription.objects.select_for_update().select_related("account").get(pk=subscription_pk)
        number = subscription.payments_made + 1
        due = (
            subscription.status in {AnetSubscription.Status.ACTIVE, AnetSubscription.Status.SUSPENDED}
            and number <= subscription.total_occurrences
            and occurrence_date(subscription, number) <= as_of.date()
        )
        if not due:
            return None
        if subscription.status == AnetSubscription.Status.SUSPENDED:
            declined = AnetTransaction.objects.filter(
                account=subscription.account, subscription_id=subscription.subscription_id,
                subscription_pay_num=subscription.payments_made,
            ).first()  # fmt: skip
            if declined is not None and declined.submitted_at.date() >= as_of.date():
                return None  # suspended by this very run: its next payment waits for a later one
            # Not reactivated before its next payment fell due: the gateway ends it.
            subscription.status = AnetSubscription.Status.TERMINATED
            subscription.save(update_fields=["status"])
            notify(subscription, "net.authorize.customer.subscription.terminated")
            return 0
        amount = subscription.trial_amount if number <= subscription.trial_occurrences else subscription.amount
        subscription.payments_made = number  # the occurrence counts, charged or not, approved or not
        charged = 0
        if amount > 0:
            sandbox = AuthorizeNetSandbox(b"", now=as_of, subscription=(subscription.subscription_id, number))
            try:
                with transaction.atomic():
                    outcome = sandbox.charge_saved(subscription.account, _charge_request(subscription, amount))
            except IntegrityError:
                return None  # charged by a concurrent run
            charged = 1
            if not outcome.approved:
                subscription.status = AnetSubscription.Status.SUSPENDED
                notify(subscription, "net.authorize.customer.subscription.suspended")
        if subscription.status == AnetSubscription.Status.ACTIVE and number >= subscription.total_occurrences:
            subscription.status = AnetSubscription.Status.EXPIRED
            notify(subscription, "net.authorize.customer.subscription.expired")
        subscription.save(update_fields=["payments_made", "status"])
    return charged


def arb_run(*, as_of: datetime | None = None) -> int:
    """Run every ARB occurrence due by `as_of` (default now). Returns how many charges were made.
    Safe to run twice and concurrently: each payment is charged once."""
    as_of = as_of or timezone.now()
    made = 0
    running = (AnetSubscription.Status.ACTIVE, AnetSubscription.Status.SUSPENDED)
    for pk in AnetSubscription.objects.filter(status__in=running).values_list("pk", flat=True):
        while (charged := _charge_next(pk, as_of)) is not None:
            made += charged
    return made
