"""Customer profiles and transactions in the Authorize.Net sandbox.

createCustomerProfileFromTransaction saves the card of an approved charge as a payment profile:
on a new profile (`customer`: merchantCustomerId, description, email) or, with
`customerProfileId`, on an existing one. The sandbox knows a past charge's card only by the facts
it keeps for every transaction (brand, last four, keyed fingerprint, expiry), never its number.
The answer is a createCustomerProfileResponse, as the real service gives; a card already saved on
the profile answers E00039 with the existing payment profile's id in the list.

getTransactionListForCustomer (TransactionReporting) lists the charges made with a profile's
saved cards (and their refunds), paged, answered as a getTransactionListResponse.
"""

from __future__ import annotations

from datetime import UTC, datetime

from django.db import transaction
from django.db.models import Q
from lxml import etree

from apps.core.money import to_decimal
from apps.sandbox.models import AnetAccount, AnetCustomerProfile, AnetPaymentProfile, AnetTransaction

from .cards import AMOUNT_TRIGGER_CARD, fingerprint
from .cim import NOT_FOUND, OK, payment_profile_for
from .cim_manage import DUPLICATE_CARD, NO_PROFILE_VALUE, descending, invalid, paging
from .xml import Builder, error_response, find, find_text

PROFILE_RESPONSE = "createCustomerProfileResponse"
LIST_RESPONSE = "getTransactionListResponse"
_SAVABLE = {
    AnetTransaction.Status.AUTHORIZED,
    AnetTransaction.Status.CAPTURED,
    AnetTransaction.Status.SETTLED,
    AnetTransaction.Status.VOIDED,
}
_CHARGES = {"authOnlyTransaction", "authCaptureTransaction"}
_BANK_ACCOUNT = "eCheck"


def _answer(code: tuple[str, str], ref_id: str, profile_id: str = "", payment_profile_id: str = "") -> bytes:
    builder = Builder(PROFILE_RESPONSE)
    builder.messages("Ok" if code == OK else "Error", [code], ref_id)
    builder.add_optional(builder.root, "customerProfileId", profile_id)
    ids = builder.add(builder.root, "customerPaymentProfileIdList")
    if payment_profile_id:
        builder.add(ids, "numericString", payment_profile_id)
    builder.add(builder.root, "customerShippingAddressIdList")
    builder.add(builder.root, "validationDirectResponseList")
    return builder.to_bytes()


def _new_profile(account: AnetAccount, node: etree._Element | None, ref_id: str) -> AnetCustomerProfile | bytes:
    """A new profile for `customer` (in the caller's transaction), or the error answer."""
    values = {}
    for element, limit in (("merchantCustomerId", 20), ("description", 255), ("email", 255)):
        values[element] = find_text(node, element)
        if len(values[element]) > limit:
            return error_response("ErrorResponse", *invalid(element, values[element]), ref_id)
    mcid, description, email = values["merchantCustomerId"], values["description"], values["email"]
    if not (mcid or description or email):
        return error_response("ErrorResponse", *NO_PROFILE_VALUE, ref_id)
    AnetAccount.objects.select_for_update().get(pk=account.pk)  # one profile per identity, as create
    duplicate = AnetCustomerProfile.objects.filter(
        account=account, merchant_customer_id=mcid, email=email, description=description, deleted_at__isnull=True
    ).first()
    if duplicate is not None:
        return _answer(("E00039", f"A duplicate record with ID {duplicate.profile_id} already exists."), ref_id)
    return AnetCustomerProfile.objects.create(
        account=account, merchant_customer_id=mcid, email=email, description=description
    )


def profile_from_transaction(root: etree._Element, account: AnetAccount, response_root: str, ref_id: str) -> bytes:
    pk = AnetTransaction.pk_from_trans_id(find_text(root, "transId"))
    charge = AnetTransaction.objects.filter(account=account, pk=pk).first() if pk else None
    if (
        charge is None
        or charge.transaction_type not in _CHARGES
        or charge.status not in _SAVABLE
        or not charge.card_fingerprint
        or charge.card_type == _BANK_ACCOUNT  # a bank account debit: no card to save
    ):
        return error_response("ErrorResponse", *NOT_FOUND, ref_id)
    existing_id = find_text(root, "customerProfileId")
    with transaction.atomic():
        if existing_id:
            profile_pk = AnetCustomerProfile.pk_from_id(existing_id)
            profile = (
                AnetCustomerProfile.objects.select_for_update()
                .filter(account=account, pk=profile_pk, deleted_at__isnull=True)
                .first()
                if profile_pk
                else None
            )
            if profile is None:
                return error_response("ErrorResponse", *NOT_FOUND, ref_id)
        else:
            made = _new_profile(account, find(root, "customer"), ref_id)
            if isinstance(made, bytes):
                return made
            profile = made
        twin = profile.payment_profiles.filter(
            card_fingerprint=charge.card_fingerprint, expiration=charge.expiration, deleted_at__isnull=True
        ).first()
        if twin is not None:
            return _answer(DUPLICATE_CARD, ref_id, profile.profile_id, twin.payment_profile_id)
        active = profile.payment_profiles.filter(deleted_at__isnull=True)
        make_default = find_text(root, "defaultPaymentProfile").lower() == "true" or not active.exists()
        if make_default:
            active.update(is_default=False)
        saved = AnetPaymentProfile.objects.create(
            customer_profile=profile,
            card_type=charge.card_type,
            card_last4=charge.card_last4,
            card_fingerprint=charge.card_fingerprint,
            expiration=charge.expiration,
            known_test_card=True,  # approved: the sandbox approves its test cards only
            amount_trigger=charge.card_fingerprint == fingerprint(AMOUNT_TRIGGER_CARD),
            first_name=charge.first_name,
            last_name=charge.last_name,
            is_default=make_default,
        )
    return _answer(OK, ref_id, profile.profile_id, saved.payment_profile_id)


def _utc(moment: datetime, *, local: bool = False) -> str:
    text = moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3]
    return text if local else text + "Z"


def transactions_for_customer(root: etree._Element, account: AnetAccount, response_root: str, ref_id: str) -> bytes:
    profile_id, payment_profile_id = find_text(root, "customerProfileId"), find_text(root, "customerPaymentProfileId")
    profile_pk = AnetCustomerProfile.pk_from_id(profile_id)
    profile = (
        AnetCustomerProfile.objects.filter(account=account, pk=profile_pk, deleted_at__isnull=True).first()
        if profile_pk
        else None
    )
    if profile is None or (payment_profile_id and payment_profile_for(account, profile_id, payment_profile_id) is None):
        return error_response(LIST_RESPONSE, *NOT_FOUND, ref_id)
    order_by = find_text(root, "sorting/orderBy") or "submitTimeUTC"
    if order_by not in {"id", "submitTimeUTC"}:
        return error_response(LIST_RESPONSE, *invalid("orderBy", order_by), ref_id)
    page = paging(root)
    if isinstance(page[0], str):
        return error_response(LIST_RESPONSE, str(page[0]), str(page[1]), ref_id)
    limit, number = int(page[0]), int(page[1])
    mine = Q(customer_profile_id=profile.profile_id) | Q(original__customer_profile_id=profile.profile_id)
    if payment_profile_id:
        mine = Q(customer_profile_id=profile.profile_id, payment_profile_id=payment_profile_id) | Q(
            original__customer_profile_id=profile.profile_id, original__payment_profile_id=payment_profile_id
        )
    rows = AnetTransaction.objects.filter(mine, account=account).select_related("original")
    key = "pk" if order_by == "id" else "submitted_at"
    sign = "-" if descending(root, "sorting/orderDescending") else ""
    total = rows.count()
    chosen = list(rows.order_by(f"{sign}{key}", f"{sign}pk")[(number - 1) * limit : number * limit])
    builder = Builder(LIST_RESPONSE)
    if not chosen:
        builder.messages("Ok", [("I00004", "No records found.")], ref_id)
        builder.add(builder.root, "totalNumInResultSet", total)
        return builder.to_bytes()
    builder.messages("Ok", [OK], ref_id)
    node = builder.add(builder.root, "transactions")
    for stored in chosen:
        charge = stored.original or stored
        item = builder.add(node, "transaction")
        builder.add(item, "transId", stored.trans_id)
        builder.add(item, "submitTimeUTC", _utc(stored.submitted_at))
        builder.add(item, "submitTimeLocal", _utc(stored.submitted_at, local=True))
        builder.add(item, "transactionStatus", stored.status)
        builder.add_optional(item, "invoiceNumber", stored.invoice_number)
        builder.add_optional(item, "firstName", charge.first_name)
        builder.add_optional(item, "lastName", charge.last_name)
        builder.add(item, "accountType", stored.card_type)
        builder.add(item, "accountNumber", f"XXXX{stored.card_last4}")
        builder.add(item, "settleAmount", to_decimal(stored.settle_amount, stored.currency))
        builder.add(item, "marketType", "eCommerce")
        builder.add(item, "product", "Card Not Present")
        if stored.subscription_id:
            subscription = builder.add(item, "subscription")
            builder.add(subscription, "id", stored.subscription_id)
            builder.add(subscription, "payNum", stored.subscription_pay_num or 1)
        ids = builder.add(item, "profile")
        builder.add(ids, "customerProfileId", charge.customer_profile_id)
        builder.add(ids, "customerPaymentProfileId", charge.payment_profile_id)
    builder.add(builder.root, "totalNumInResultSet", total)
    return builder.to_bytes()


HANDLERS = {
    "createCustomerProfileFromTransactionRequest": profile_from_transaction,
    "getTransactionListForCustomerRequest": transactions_for_customer,
}
