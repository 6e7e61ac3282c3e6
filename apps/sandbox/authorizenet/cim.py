"""Customer profiles (CIM) in the Authorize.Net sandbox: a vault of customers and their saved cards.

As the real service: profile ids are numeric strings; a duplicate profile or card answers E00039
with the existing id; validationMode testMode/liveMode checks a card with the same rules as a
charge and answers with a legacy comma-delimited "direct response"; getCustomerPaymentProfile
masks the card and the expiry unless unmaskExpirationDate. A card, or a customer, that an active
or suspended ARB subscription charges cannot be deleted (E00105, E00106). Only brand, last four, a
keyed fingerprint and the expiry are kept.
"""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone
from lxml import etree

from apps.sandbox.models import (
    AnetAccount,
    AnetCustomerProfile,
    AnetPaymentNonce,
    AnetPaymentProfile,
    AnetSubscription,
)

from .addresses import BILLING_FIELDS, SHIPPING_FIELDS, add_address, has_address, read_address
from .cards import DECLINE_ZIP, REASONS, CardFacts, auth_code, card_facts, expiration_problem
from .xml import Builder, children, error_response, find, find_text

OK = ("I00001", "Successful.")
NOT_FOUND = ("E00040", "The record cannot be found.")
CARD_ON_A_SCHEDULE = (
    "E00105",
    "The specified payment profile is associated with an active or suspended subscription and cannot be deleted.",
)
CUSTOMER_ON_A_SCHEDULE = (
    "E00106",
    "The specified customer profile is associated with an active or suspended subscription and cannot be deleted.",
)
_LIVE_SCHEDULES = (AnetSubscription.Status.ACTIVE, AnetSubscription.Status.SUSPENDED)


def _charged_by_a_schedule(account: AnetAccount, profile_id: str, payment_profile_id: str | None = None) -> bool:
    """Whether an active or suspended ARB subscription charges this customer (this card of theirs)."""
    schedules = AnetSubscription.objects.filter(
        account=account, customer_profile_id=profile_id, status__in=_LIVE_SCHEDULES
    )
    if payment_profile_id is not None:
        schedules = schedules.filter(payment_profile_id=payment_profile_id)
    return schedules.exists()


def _profile(account: AnetAccount, profile_id: str) -> AnetCustomerProfile | None:
    pk = AnetCustomerProfile.pk_from_id(profile_id)
    if pk is None:
        return None
    return AnetCustomerProfile.objects.filter(account=account, pk=pk, deleted_at__isnull=True).first()


def payment_profile_for(account: AnetAccount, profile_id: str, payment_profile_id: str) -> AnetPaymentProfile | None:
    pk = AnetPaymentProfile.pk_from_id(payment_profile_id)
    profile_pk = AnetCustomerProfile.pk_from_id(profile_id)
    if pk is None or profile_pk is None:
        return None
    return (
        AnetPaymentProfile.objects.select_related("customer_profile")
        .filter(
            pk=pk,
            customer_profile_id=profile_pk,
            customer_profile__account=account,
            customer_profile__deleted_at__isnull=True,
            deleted_at__isnull=True,
        )
        .first()
    )


def facts_of(payment_profile: AnetPaymentProfile) -> CardFacts:
    return CardFacts(
        card_type=payment_profile.card_type,
        last4=payment_profile.card_last4,
        fingerprint=payment_profile.card_fingerprint,
        valid=True,
        known_test_card=payment_profile.known_test_card,
        amount_trigger=payment_profile.amount_trigger,
        expiration=payment_profile.expiration,
        cvv_code="",
    )


def _card_from(payment: etree._Element | None, now: object) -> tuple[CardFacts | None, str]:
    """The card in a `payment` element (creditCard or an Accept.js nonce): facts, or an error text."""
    card = find(payment, "creditCard")
    opaque = find(payment, "opaqueData")
    if card is not None:
        return card_facts(
            find_text(card, "cardNumber"), find_text(card, "expirationDate"), find_text(card, "cardCode")
        ), ""
    if opaque is not None:
        nonce = AnetPaymentNonce.objects.filter(value=find_text(opaque, "dataValue"), used_at__isnull=True).first()
        if nonce is None or not AnetPaymentNonce.objects.filter(pk=nonce.pk, used_at__isnull=True).update(used_at=now):
            return None, "The payment nonce is invalid or was used."
        facts = CardFacts(
            nonce.card_type, nonce.card_last4, nonce.card_fingerprint, nonce.card_valid, nonce.card_valid,
            False, nonce.expiration, nonce.cvv_code,
        )  # fmt: skip
        return facts, ""
    return None, "A payment is required."


def card_validation(facts: CardFacts, zip_code: str, *, now: object, first: str, last: str) -> tuple[str, str]:
    """(response code, reason code) of the validation authorisation, with the charge's rules."""
    if not facts.valid:
        return "3", "6"
    expiry = expiration_problem(facts.expiration, now)  # type: ignore[arg-type]
    if expiry:
        return "3", expiry
    if zip_code == DECLINE_ZIP or not facts.known_test_card:
        return "2", "2"
    return "1", "1"


def direct_response(response: str, reason: str, facts: CardFacts, *, merchant_customer_id: str, first: str,
                     last: str, zip_code: str) -> str:  # fmt: skip
    """The legacy comma-delimited response of a $0 validation authorisation."""
    approved = response == "1"
    fields = [response, "1", reason, REASONS.get(reason, REASONS["2"]), auth_code() if approved else "",
              "Y" if zip_code else "P", "0", "none", "Test transaction for ValidateCustomerPaymentProfile.", "0.00",
              "CC", "auth_only", merchant_customer_id, first, last, "", "", "", "", zip_code]  # fmt: skip
    fields += [""] * (50 - len(fields)) + [f"XXXX{facts.last4}", facts.card_type]
    return ",".join(field.replace(",", " ") for field in fields)


def _save_card(
    profile: AnetCustomerProfile, payment_profile: etree._Element | None, validation_mode: str, now: object
) -> tuple[AnetPaymentProfile | None, str, tuple[str, str], bool]:
    """(saved profile or None, direct response, error message, duplicate?)."""
    facts, problem = _card_from(find(payment_profile, "payment"), now)
    if facts is None:
        # As the real service: a nonce it cannot redeem is "Invalid OTS Token."
        code = "E00114" if find(find(payment_profile, "payment"), "opaqueData") is not None else "E00003"
        return None, "", (code, "Invalid OTS Token." if code == "E00114" else problem), False
    billing, _ = read_address(find(payment_profile, "billTo"), BILLING_FIELDS, strict=False)
    first, last, zip_code = billing["first_name"], billing["last_name"], billing["zip"]
    direct = ""
    if validation_mode in {"testMode", "liveMode"}:
        response, reason = card_validation(facts, zip_code, now=now, first=first, last=last)
        direct = direct_response(
            response, reason, facts, merchant_customer_id=profile.merchant_customer_id, first=first, last=last,
            zip_code=zip_code,
        )  # fmt: skip
        if response != "1":
            return None, direct, ("E00027", "The transaction was unsuccessful."), False
    elif not facts.valid:
        return None, "", ("E00013", "Card Number is invalid."), False
    existing = profile.payment_profiles.filter(
        card_fingerprint=facts.fingerprint, expiration=facts.expiration, deleted_at__isnull=True
    ).first()
    if existing is not None:
        return existing, direct, ("E00039", "A duplicate customer payment profile already exists."), True
    default = find_text(payment_profile, "defaultPaymentProfile").lower() == "true"
    if default or not profile.payment_profiles.filter(deleted_at__isnull=True).exists():
        profile.payment_profiles.update(is_default=False)
        default = True
    saved = AnetPaymentProfile.objects.create(
        customer_profile=profile,
        card_type=facts.card_type,
        card_last4=facts.last4,
        card_fingerprint=facts.fingerprint,
        expiration=facts.expiration,
        known_test_card=facts.known_test_card,
        amount_trigger=facts.amount_trigger,
        is_default=default,
        **billing,
    )
    return saved, direct, OK, False


def create_customer_profile(root: etree._Element, account: AnetAccount, response_root: str, ref_id: str) -> bytes:
    now = timezone.now()
    node = find(root, "profile")
    mcid, email, description = (
        find_text(node, "merchantCustomerId")[:20],
        find_text(node, "email")[:255],
        find_text(node, "description")[:255],
    )
    if not (mcid or email or description):
        return error_response(
            response_root, "E00041", "One or more fields in the profile must contain a value.", ref_id
        )
    validation_mode = find_text(root, "validationMode") or "none"
    with transaction.atomic():
        AnetAccount.objects.select_for_update().get(pk=account.pk)  # one profile per identity
        duplicate = AnetCustomerProfile.objects.filter(
            account=account, merchant_customer_id=mcid, email=email, description=description, deleted_at__isnull=True
        ).first()
        if duplicate is not None:
            builder = Builder(response_root)
            text = f"A duplicate record with ID {duplicate.profile_id} already exists."
            builder.messages("Error", [("E00039", text)], ref_id)
            for name in (
                "customerPaymentProfileIdList",
                "customerShippingAddressIdList",
                "validationDirectResponseList",
            ):
                builder.add(builder.root, name)
            return builder.to_bytes()
        profile = AnetCustomerProfile.objects.create(
            account=account, merchant_customer_id=mcid, email=email, description=description
        )
        saved_ids, responses = [], []
        for payment_profile in children(node, "paymentProfiles"):
            saved, direct, message, _ = _save_card(profile, payment_profile, validation_mode, now)
            if saved is None:
                transaction.set_rollback(True)
                return error_response(response_root, message[0], message[1], ref_id)
            saved_ids.append(saved.payment_profile_id)
            if direct:
                responses.append(direct)
    builder = Builder(response_root)
    builder.messages("Ok", [OK], ref_id)
    builder.add(builder.root, "customerProfileId", profile.profile_id)
    ids = builder.add(builder.root, "customerPaymentProfileIdList")
    for value in saved_ids:
        builder.add(ids, "numericString", value)
    builder.add(builder.root, "customerShippingAddressIdList")
    direct_list = builder.add(builder.root, "validationDirectResponseList")
    for value in responses:
        builder.add(direct_list, "string", value)
    return builder.to_bytes()


def get_customer_profile(root: etree._Element, account: AnetAccount, response_root: str, ref_id: str) -> bytes:
    profile = _profile(account, find_text(root, "customerProfileId"))
    if profile is None:
        return error_response(response_root, *NOT_FOUND, ref_id)
    builder = Builder(response_root)
    builder.messages("Ok", [OK], ref_id)
    node = builder.add(builder.root, "profile")
    builder.add_optional(node, "merchantCustomerId", profile.merchant_customer_id)
    builder.add_optional(node, "description", profile.description)
    builder.add_optional(node, "email", profile.email)
    builder.add(node, "customerProfileId", profile.profile_id)
    for saved in profile.payment_profiles.filter(deleted_at__isnull=True).order_by("pk"):
        item = builder.add(node, "paymentProfiles")
        if has_address(saved, BILLING_FIELDS):
            add_address(builder, builder.add(item, "billTo"), saved, BILLING_FIELDS)
        builder.add(item, "customerProfileId", profile.profile_id)
        builder.add(item, "customerPaymentProfileId", saved.payment_profile_id)
        if saved.is_default:
            builder.add(item, "defaultPaymentProfile", "true")
        card = builder.add(builder.add(item, "payment"), "creditCard")
        builder.add(card, "cardNumber", f"XXXX{saved.card_last4}")
        builder.add(card, "expirationDate", "XXXX")
        builder.add(card, "cardType", saved.card_type)
    for address in profile.shipping_addresses.filter(deleted_at__isnull=True).order_by("pk"):
        ship_to = builder.add(node, "shipToList")
        add_address(builder, ship_to, address, SHIPPING_FIELDS)
        builder.add(ship_to, "customerAddressId", address.address_id)
    return builder.to_bytes()


def delete_customer_profile(root: etree._Element, account: AnetAccount, response_root: str, ref_id: str) -> bytes:
    profile = _profile(account, find_text(root, "customerProfileId"))
    if profile is None:
        return error_response(response_root, *NOT_FOUND, ref_id)
    if _charged_by_a_schedule(account, profile.profile_id):
        return error_response(response_root, *CUSTOMER_ON_A_SCHEDULE, ref_id)
    now = timezone.now()
    with transaction.atomic():
        profile.payment_profiles.filter(deleted_at__isnull=True).update(deleted_at=now)
        AnetCustomerProfile.objects.filter(pk=profile.pk).update(deleted_at=now)
    builder = Builder(response_root)
    builder.messages("Ok", [OK], ref_id)
    return builder.to_bytes()


def create_customer_payment_profile(
    root: etree._Element, account: AnetAccount, response_root: str, ref_id: str
) -> bytes:
    profile = _profile(account, find_text(root, "customerProfileId"))
    if profile is None:
        return error_response(response_root, *NOT_FOUND, ref_id)
    validation_mode = find_text(root, "validationMode") or "none"
    with transaction.atomic():
        AnetCustomerProfile.objects.select_for_update().get(pk=profile.pk)  # one card at a time per profile
        saved, direct, message, duplicate = _save_card(profile, find(root, "paymentProfile"), validation_mode,
                                                       timezone.now())  # fmt: skip
    builder = Builder(response_root)
    builder.messages("Ok" if message == OK else "Error", [message], ref_id)
    if saved is not None or duplicate:
        builder.add(builder.root, "customerProfileId", profile.profile_id)
    if saved is not None:
        builder.add(builder.root, "customerPaymentProfileId", saved.payment_profile_id)
    if direct:
        builder.add(builder.root, "validationDirectResponse", direct)
    return builder.to_bytes()


def get_customer_payment_profile(root: etree._Element, account: AnetAccount, response_root: str, ref_id: str) -> bytes:
    saved = payment_profile_for(
        account, find_text(root, "customerProfileId"), find_text(root, "customerPaymentProfileId")
    )
    if saved is None:
        return error_response(response_root, *NOT_FOUND, ref_id)
    unmask = find_text(root, "unmaskExpirationDate").lower() == "true"
    builder = Builder(response_root)
    builder.messages("Ok", [OK], ref_id)
    node = builder.add(builder.root, "paymentProfile")
    if has_address(saved, BILLING_FIELDS):
        add_address(builder, builder.add(node, "billTo"), saved, BILLING_FIELDS)
    builder.add(node, "customerProfileId", saved.customer_profile.profile_id)
    builder.add(node, "customerPaymentProfileId", saved.payment_profile_id)
    if saved.is_default:
        builder.add(node, "defaultPaymentProfile", "true")
    card = builder.add(builder.add(node, "payment"), "creditCard")
    builder.add(card, "cardNumber", f"XXXX{saved.card_last4}")
    builder.add(card, "expirationDate", saved.expiration if unmask else "XXXX")
    builder.add(card, "cardType", saved.card_type)
    return builder.to_bytes()


def delete_customer_payment_profile(
    root: etree._Element, account: AnetAccount, response_root: str, ref_id: str
) -> bytes:
    saved = payment_profile_for(
        account, find_text(root, "customerProfileId"), find_text(root, "customerPaymentProfileId")
    )
    if saved is None:
        return error_response(response_root, *NOT_FOUND, ref_id)
    if _charged_by_a_schedule(account, saved.customer_profile.profile_id, saved.payment_profile_id):
        return error_response(response_root, *CARD_ON_A_SCHEDULE, ref_id)
    AnetPaymentProfile.objects.filter(pk=saved.pk).update(deleted_at=timezone.now(), is_default=False)
    builder = Builder(response_root)
    builder.messages("Ok", [OK], ref_id)
    return builder.to_bytes()


HANDLERS = {
    "createCustomerProfileRequest": create_customer_profile,
    "getCustomerProfileRequest": get_customer_profile,
    "deleteCustomerProfileRequest": delete_customer_profile,
    "createCustomerPaymentProfileRequest": create_customer_payment_profile,
    "getCustomerPaymentProfileRequest": get_customer_payment_profile,
    "deleteCustomerPaymentProfileRequest": delete_customer_payment_profile,
}


def set_declining(*, payment_profile_id: str, declining: bool) -> int:
    """The sandbox's test switch: charges of this saved card are declined (or approved again)."""
    pk = AnetPaymentProfile.pk_from_id(payment_profile_id)
    return AnetPaymentProfile.objects.filter(pk=pk).update(declining=declining) if pk else 0
