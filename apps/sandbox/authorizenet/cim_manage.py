"""Changing and listing customer profiles (CIM) in the Authorize.Net sandbox.

As the real service: an update replaces what it names (a field left out of the profile or of a
billTo is cleared); a saved card's number may be sent masked (`XXXX1111`, the last four it has)
to keep it while the expiry (or `XXXX` to keep that too) and the billing address change; with
validationMode testMode/liveMode the changed card is checked with a validation authorisation
first and nothing changes if it is refused. Lists page with `paging{limit, offset}` where offset
is the page number.
"""

from __future__ import annotations

from datetime import datetime

from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from lxml import etree

from apps.sandbox.models import AnetAccount, AnetCustomerProfile, AnetPaymentProfile, AnetShippingAddress

from .addresses import BILLING_FIELDS, add_address, has_address, read_address
from .cards import CardFacts, card_facts, expiration_problem
from .cim import NOT_FOUND, OK, card_validation, direct_response, facts_of, payment_profile_for
from .xml import Builder, error_response, find, find_text

_PROFILE_LIMITS = (("merchantCustomerId", 20), ("description", 255), ("email", 255))
_VALIDATION_MODES = {"none", "testMode", "liveMode"}
DUPLICATE_CARD = ("E00039", "A duplicate customer payment profile already exists.")
NO_PROFILE_VALUE = ("E00041", "One or more fields in the profile must contain a value.")


def invalid(element: str, value: str) -> tuple[str, str]:
    """E00003 worded as the real service words a schema error."""
    return "E00003", (
        f"The 'AnetApi/xml/v1/schema/AnetApiSchema.xsd:{element}' element is invalid - The value "
        f"'{value[:40]}' is invalid according to its datatype."
    )


def paging(root: etree._Element) -> tuple[int, int] | tuple[str, str]:
    """(limit, page) from `paging` (limit 1..1000, offset 1..100000: the page), or an E00003."""
    limit_text, offset_text = find_text(root, "paging/limit") or "1000", find_text(root, "paging/offset") or "1"
    for element, value, top in (("limit", limit_text, 1000), ("offset", offset_text, 100000)):
        if not value.isdigit() or not 1 <= int(value) <= top:
            return invalid(element, value)
    return int(limit_text), int(offset_text)


def descending(root: etree._Element, path: str) -> bool:
    return find_text(root, path).lower() in {"true", "1"}


def update_customer_profile(root: etree._Element, account: AnetAccount, response_root: str, ref_id: str) -> bytes:
    node = find(root, "profile")
    values = {}
    for element, limit in _PROFILE_LIMITS:
        values[element] = find_text(node, element)
        if len(values[element]) > limit:
            return error_response(response_root, *invalid(element, values[element]), ref_id)
    mcid, description, email = values["merchantCustomerId"], values["description"], values["email"]
    if not (mcid or description or email):
        return error_response(response_root, *NO_PROFILE_VALUE, ref_id)
    pk = AnetCustomerProfile.pk_from_id(find_text(node, "customerProfileId"))
    with transaction.atomic():
        AnetAccount.objects.select_for_update().get(pk=account.pk)  # one identity per profile, as create
        profile = (
            AnetCustomerProfile.objects.filter(account=account, pk=pk, deleted_at__isnull=True).first() if pk else None
        )
        if profile is None:
            return error_response(response_root, *NOT_FOUND, ref_id)
        duplicate = (
            AnetCustomerProfile.objects.filter(
                account=account, merchant_customer_id=mcid, email=email, description=description,
                deleted_at__isnull=True,
            )
            .exclude(pk=profile.pk)
            .first()
        )  # fmt: skip
        if duplicate is not None:
            text = f"A duplicate record with ID {duplicate.profile_id} already exists."
            return error_response(response_root, "E00039", text, ref_id)
        AnetCustomerProfile.objects.filter(pk=profile.pk).update(
            merchant_customer_id=mcid, description=description, email=email
        )
    builder = Builder(response_root)
    builder.messages("Ok", [OK], ref_id)
    return builder.to_bytes()


def _changed_card(saved: AnetPaymentProfile, card: etree._Element | None, now: datetime) -> CardFacts | tuple[str, str]:
    """The card facts after the update, or an (error code, text)."""
    if card is None:
        return "E00003", "The element 'paymentProfile' is missing the payment: a creditCard is required."
    number = find_text(card, "cardNumber")
    expiration = find_text(card, "expirationDate")
    if not expiration:
        return invalid("expirationDate", expiration)
    if number.upper().startswith("XXXX"):
        if number[4:] != saved.card_last4:
            return "E00003", "The masked card number does not match the card on this payment profile."
        facts = facts_of(saved)
    else:
        facts = card_facts(number, "", find_text(card, "cardCode"))
        if not facts.valid:
            return "E00013", "Card Number is invalid."
    if expiration.upper() == "XXXX":
        facts.expiration = saved.expiration
    elif expiration_problem(expiration, now) == "7" or len(expiration) not in {4, 7}:
        return invalid("expirationDate", expiration)
    else:
        facts.expiration = expiration
    return facts


def update_customer_payment_profile(
    root: etree._Element, account: AnetAccount, response_root: str, ref_id: str
) -> bytes:
    node = find(root, "paymentProfile")
    saved = payment_profile_for(
        account, find_text(root, "customerProfileId"), find_text(node, "customerPaymentProfileId")
    )
    if saved is None:
        return error_response(response_root, *NOT_FOUND, ref_id)
    validation_mode = find_text(root, "validationMode") or "none"
    if validation_mode not in _VALIDATION_MODES:
        return error_response(response_root, *invalid("validationMode", validation_mode), ref_id)
    billing, problem = read_address(find(node, "billTo"), BILLING_FIELDS, strict=True)
    if problem:
        return error_response(response_root, "E00003", problem, ref_id)
    now = timezone.now()
    facts = _changed_card(saved, find(node, "payment/creditCard"), now)
    if isinstance(facts, tuple):
        return error_response(response_root, *facts, ref_id)
    direct = ""
    if validation_mode != "none":
        response, reason = card_validation(facts, billing["zip"], now=now, first="", last="")
        direct = direct_response(
            response, reason, facts, merchant_customer_id=saved.customer_profile.merchant_customer_id,
            first=billing["first_name"], last=billing["last_name"], zip_code=billing["zip"],
        )  # fmt: skip
        if response != "1":
            builder = Builder(response_root)
            builder.messages("Error", [("E00027", "The transaction was unsuccessful.")], ref_id)
            builder.add(builder.root, "validationDirectResponse", direct)
            return builder.to_bytes()
    with transaction.atomic():
        AnetCustomerProfile.objects.select_for_update().get(pk=saved.customer_profile_id)
        twin = (
            AnetPaymentProfile.objects.filter(
                customer_profile_id=saved.customer_profile_id, card_fingerprint=facts.fingerprint,
                expiration=facts.expiration, deleted_at__isnull=True,
            )
            .exclude(pk=saved.pk)
            .exists()
        )  # fmt: skip
        if twin:
            return error_response(response_root, *DUPLICATE_CARD, ref_id)
        make_default = find_text(node, "defaultPaymentProfile").lower() == "true"
        if make_default:
            AnetPaymentProfile.objects.filter(customer_profile_id=saved.customer_profile_id).update(is_default=False)
        AnetPaymentProfile.objects.filter(pk=saved.pk).update(
            card_type=facts.card_type, card_last4=facts.last4, card_fingerprint=facts.fingerprint,
            expiration=facts.expiration, known_test_card=facts.known_test_card, amount_trigger=facts.amount_trigger,
            is_default=saved.is_default or make_default, **billing,
        )  # fmt: skip
    builder = Builder(response_root)
    builder.messages("Ok", [OK], ref_id)
    if direct:
        builder.add(builder.root, "validationDirectResponse", direct)
    return builder.to_bytes()


def validate_customer_payment_profile(
    root: etree._Element, account: AnetAccount, response_root: str, ref_id: str
) -> bytes:
    saved = payment_profile_for(
        account, find_text(root, "customerProfileId"), find_text(root, "customerPaymentProfileId")
    )
    if saved is None:
        return error_response(response_root, *NOT_FOUND, ref_id)
    shipping_id = find_text(root, "customerShippingAddressId")
    if (
        shipping_id
        and not AnetShippingAddress.objects.filter(
            customer_profile_id=saved.customer_profile_id,
            pk=AnetShippingAddress.pk_from_id(shipping_id) or 0,
            deleted_at__isnull=True,
        ).exists()
    ):
        return error_response(response_root, *NOT_FOUND, ref_id)
    validation_mode = find_text(root, "validationMode")
    if validation_mode not in {"testMode", "liveMode"}:
        return error_response(response_root, *invalid("validationMode", validation_mode), ref_id)
    facts = facts_of(saved)
    response, reason = card_validation(facts, saved.zip, now=timezone.now(), first="", last="")
    direct = direct_response(
        response, reason, facts, merchant_customer_id=saved.customer_profile.merchant_customer_id,
        first=saved.first_name, last=saved.last_name, zip_code=saved.zip,
    )  # fmt: skip
    builder = Builder(response_root)
    if response == "1":
        builder.messages("Ok", [OK], ref_id)
    else:
        builder.messages("Error", [("E00027", "The transaction was unsuccessful.")], ref_id)
    builder.add(builder.root, "directResponse", direct)
    return builder.to_bytes()


def _month(value: str) -> tuple[int, int] | None:
    year, dash, month = value.partition("-")
    if not (dash and len(year) == 4 and year.isdigit() and len(month) == 2 and month.isdigit()):
        return None
    return (int(year), int(month)) if 1 <= int(month) <= 12 else None


def payment_profile_list(root: etree._Element, account: AnetAccount, response_root: str, ref_id: str) -> bytes:
    search = find_text(root, "searchType")
    if search != "cardsExpiringInMonth":
        return error_response("ErrorResponse", *invalid("searchType", search), ref_id)
    month = _month(find_text(root, "month"))
    if month is None:
        return error_response("ErrorResponse", *invalid("month", find_text(root, "month")), ref_id)
    page = paging(root)
    if isinstance(page[0], str):
        return error_response("ErrorResponse", str(page[0]), str(page[1]), ref_id)
    limit, number = int(page[0]), int(page[1])
    year, mon = month
    # Cards are kept with the expiry as it was sent: YYYY-MM or MMYY.
    matching = AnetPaymentProfile.objects.filter(
        Q(expiration=f"{year:04d}-{mon:02d}") | Q(expiration=f"{mon:02d}{year % 100:02d}"),
        customer_profile__account=account, customer_profile__deleted_at__isnull=True, deleted_at__isnull=True,
    ).select_related("customer_profile")  # fmt: skip
    order = "-pk" if descending(root, "sorting/orderDescending") else "pk"
    total = matching.count()
    rows = list(matching.order_by(order)[(number - 1) * limit : number * limit])
    builder = Builder(response_root)
    builder.messages("Ok", [OK], ref_id)
    builder.add(builder.root, "totalNumInResultSet", total)
    if rows:
        node = builder.add(builder.root, "paymentProfiles")
        for saved in rows:
            item = builder.add(node, "paymentProfile")
            if saved.is_default:
                builder.add(item, "defaultPaymentProfile", "true")
            builder.add(item, "customerPaymentProfileId", saved.payment_profile_id)
            builder.add(item, "customerProfileId", saved.customer_profile.profile_id)
            if has_address(saved, BILLING_FIELDS):
                add_address(builder, builder.add(item, "billTo"), saved, BILLING_FIELDS)
            card = builder.add(builder.add(item, "payment"), "creditCard")
            builder.add(card, "cardNumber", f"XXXX{saved.card_last4}")
            builder.add(card, "expirationDate", "XXXX")
            builder.add(card, "cardType", saved.card_type)
    return builder.to_bytes()


def customer_profile_ids(root: etree._Element, account: AnetAccount, response_root: str, ref_id: str) -> bytes:
    profiles = AnetCustomerProfile.objects.filter(account=account, deleted_at__isnull=True).order_by("pk")
    builder = Builder(response_root)
    builder.messages("Ok", [OK], ref_id)
    ids = builder.add(builder.root, "ids")
    for pk in profiles.values_list("pk", flat=True):
        builder.add(ids, "numericString", AnetCustomerProfile(pk=pk).profile_id)
    return builder.to_bytes()


HANDLERS = {
    "updateCustomerProfileRequest": update_customer_profile,
    "updateCustomerPaymentProfileRequest": update_customer_payment_profile,
    "validateCustomerPaymentProfileRequest": validate_customer_payment_profile,
    "getCustomerPaymentProfileListRequest": payment_profile_list,
    "getCustomerProfileIdsRequest": customer_profile_ids,
}
