"""Shipping addresses on customer profiles (CIM) in the Authorize.Net sandbox: create, get,
update (the address sent replaces the stored one), delete; getCustomerProfile lists them as
shipToList. The same address twice on one profile answers E00039 with the existing id."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone
from lxml import etree

from apps.sandbox.models import AnetAccount, AnetCustomerProfile, AnetShippingAddress

from .addresses import SHIPPING_FIELDS, add_address, read_address
from .cim import NOT_FOUND, OK
from .xml import Builder, error_response, find, find_text

DUPLICATE = ("E00039", "A duplicate customer shipping address already exists.")
EMPTY = ("E00041", "One or more fields in the address must contain a value.")


def _profile(account: AnetAccount, profile_id: str) -> AnetCustomerProfile | None:
    pk = AnetCustomerProfile.pk_from_id(profile_id)
    if pk is None:
        return None
    return AnetCustomerProfile.objects.filter(account=account, pk=pk, deleted_at__isnull=True).first()


def _address(account: AnetAccount, profile_id: str, address_id: str) -> AnetShippingAddress | None:
    pk, profile_pk = AnetShippingAddress.pk_from_id(address_id), AnetCustomerProfile.pk_from_id(profile_id)
    if pk is None or profile_pk is None:
        return None
    return AnetShippingAddress.objects.filter(
        pk=pk,
        customer_profile_id=profile_pk,
        customer_profile__account=account,
        customer_profile__deleted_at__isnull=True,
        deleted_at__isnull=True,
    ).first()


def _twin(profile_pk: int, values: dict[str, str], exclude: int = 0) -> AnetShippingAddress | None:
    return (
        AnetShippingAddress.objects.filter(customer_profile_id=profile_pk, deleted_at__isnull=True, **values)
        .exclude(pk=exclude)
        .first()
    )


def _set_default(profile_pk: int, address_pk: int) -> None:
    AnetShippingAddress.objects.filter(customer_profile_id=profile_pk).exclude(pk=address_pk).update(is_default=False)
    AnetShippingAddress.objects.filter(pk=address_pk).update(is_default=True)


def create_shipping_address(root: etree._Element, account: AnetAccount, response_root: str, ref_id: str) -> bytes:
    profile = _profile(account, find_text(root, "customerProfileId"))
    if profile is None:
        return error_response(response_root, *NOT_FOUND, ref_id)
    values, problem = read_address(find(root, "address"), SHIPPING_FIELDS, strict=True)
    if problem:
        return error_response(response_root, "E00003", problem, ref_id)
    if not any(values.values()):
        return error_response(response_root, *EMPTY, ref_id)
    make_default = find_text(root, "defaultShippingAddress").lower() == "true"
    with transaction.atomic():
        AnetCustomerProfile.objects.select_for_update().get(pk=profile.pk)  # one address at a time per profile
        twin = _twin(profile.pk, values)
        address = twin or AnetShippingAddress.objects.create(customer_profile=profile, **values)
        if twin is None and make_default:
            _set_default(profile.pk, address.pk)
    builder = Builder(response_root)
    builder.messages("Ok" if twin is None else "Error", [OK if twin is None else DUPLICATE], ref_id)
    builder.add(builder.root, "customerProfileId", profile.profile_id)
    builder.add(builder.root, "customerAddressId", address.address_id)
    return builder.to_bytes()


def get_shipping_address(root: etree._Element, account: AnetAccount, response_root: str, ref_id: str) -> bytes:
    address = _address(account, find_text(root, "customerProfileId"), find_text(root, "customerAddressId"))
    if address is None:
        return error_response(response_root, *NOT_FOUND, ref_id)
    builder = Builder(response_root)
    builder.messages("Ok", [OK], ref_id)
    if address.is_default:
        builder.add(builder.root, "defaultShippingAddress", "true")
    node = builder.add(builder.root, "address")
    add_address(builder, node, address, SHIPPING_FIELDS)
    builder.add(node, "customerAddressId", address.address_id)
    return builder.to_bytes()


def update_shipping_address(root: etree._Element, account: AnetAccount, response_root: str, ref_id: str) -> bytes:
    node = find(root, "address")
    address = _address(account, find_text(root, "customerProfileId"), find_text(node, "customerAddressId"))
    if address is None:
        return error_response(response_root, *NOT_FOUND, ref_id)
    values, problem = read_address(node, SHIPPING_FIELDS, strict=True)
    if problem:
        return error_response(response_root, "E00003", problem, ref_id)
    if not any(values.values()):
        return error_response(response_root, *EMPTY, ref_id)
    with transaction.atomic():
        AnetCustomerProfile.objects.select_for_update().get(pk=address.customer_profile_id)
        if _twin(address.customer_profile_id, values, exclude=address.pk) is not None:
            return error_response(response_root, *DUPLICATE, ref_id)
        AnetShippingAddress.objects.filter(pk=address.pk).update(**values)
        if find_text(root, "defaultShippingAddress").lower() == "true":
            _set_default(address.customer_profile_id, address.pk)
    builder = Builder(response_root)
    builder.messages("Ok", [OK], ref_id)
    return builder.to_bytes()


def delete_shipping_address(root: etree._Element, account: AnetAccount, response_root: str, ref_id: str) -> bytes:
    address = _address(account, find_text(root, "customerProfileId"), find_text(root, "customerAddressId"))
    if address is None:
        return error_response(response_root, *NOT_FOUND, ref_id)
    AnetShippingAddress.objects.filter(pk=address.pk).update(deleted_at=timezone.now(), is_default=False)
    builder = Builder(response_root)
    builder.messages("Ok", [OK], ref_id)
    return builder.to_bytes()


HANDLERS = {
    "createCustomerShippingAddressRequest": create_shipping_address,
    "getCustomerShippingAddressRequest": get_shipping_address,
    "updateCustomerShippingAddressRequest": update_shipping_address,
    "deleteCustomerShippingAddressRequest": delete_shipping_address,
}
