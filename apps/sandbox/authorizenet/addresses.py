"""Addresses in the Authorize.Net sandbox's customer profiles: a card's billTo and the profile's
shipping addresses (customerAddressType), read from requests and written in the XSD's order."""

from __future__ import annotations

from typing import Any

from lxml import etree

from .xml import Builder, find_text

# (XML element, model field, the XSD's maxLength), in customerAddressType's order.
ADDRESS_FIELDS = (
    ("firstName", "first_name", 50),
    ("lastName", "last_name", 50),
    ("company", "company", 50),
    ("address", "address", 60),
    ("city", "city", 40),
    ("state", "state", 40),
    ("zip", "zip", 20),
    ("country", "country", 60),
    ("phoneNumber", "phone_number", 25),
    ("faxNumber", "fax_number", 25),
    ("email", "email", 255),
)


def read_address(node: etree._Element | None, fields: frozenset[str], *, strict: bool) -> tuple[dict[str, str], str]:
    """The model fields (of those in `fields`) an address element carries, blank where absent,
    and the E00003 text of a value longer than the schema allows ("" if none; `strict=False`
    cuts instead, as the card-saving methods always did)."""
    values: dict[str, str] = {}
    for element, name, limit in ADDRESS_FIELDS:
        if name not in fields:
            continue
        value = find_text(node, element)
        if len(value) > limit:
            if strict:
                return {}, (
                    f"The 'AnetApi/xml/v1/schema/AnetApiSchema.xsd:{element}' element is invalid - The value "
                    "is invalid according to its datatype 'String' - The actual length is greater than the "
                    "MaxLength value."
                )
            value = value[:limit]
        values[name] = value
    return values, ""


def add_address(builder: Builder, parent: etree._Element, stored: Any, fields: frozenset[str]) -> None:
    """The stored address's non-blank fields under `parent`, in the XSD's order."""
    for element, name, _ in ADDRESS_FIELDS:
        if name in fields:
            builder.add_optional(parent, element, getattr(stored, name, ""))


def has_address(stored: Any, fields: frozenset[str]) -> bool:
    return any(getattr(stored, name, "") for name in fields)


BILLING_FIELDS = frozenset(
    {"first_name", "last_name", "company", "address", "city", "state", "zip", "country", "phone_number"}
)
SHIPPING_FIELDS = frozenset(name for _, name, _ in ADDRESS_FIELDS)
