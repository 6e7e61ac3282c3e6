"""The values of list entries: one normal form per kind, so that an entry and the attribute it is
compared with are spelled the same way, and the values a payment attempt's attributes can match.

IP entries are networks: a single address is stored as its /32 (or /128) network. An address
matches every entry that contains it, so a lookup asks for all the networks containing the
address (33 for IPv4, 129 for IPv6), which keeps matching one indexed query on any database.
"""

from __future__ import annotations

import ipaddress

from django.core.exceptions import ValidationError

from .models import ListKind


def normalise_list_value(kind: str, value: str) -> str:
    """The stored form of `value` for a list of `kind`; ValidationError when it is not one."""
    text = (value or "").strip()
    if not text:
        raise ValidationError("A list entry needs a value.")
    if kind == ListKind.EMAIL:
        text = text.lower()
        local, _, domain = text.rpartition("@")
        if not local or not domain or " " in text:
            raise ValidationError(f"{value!r} is not an email address.")
        return text
    if kind == ListKind.EMAIL_DOMAIN:
        text = text.lower().lstrip("@").rstrip(".")
        if not text or "@" in text or " " in text or "." not in text:
            raise ValidationError(f"{value!r} is not an email domain (example.com).")
        return text
    if kind == ListKind.IP:
        try:
            return str(ipaddress.ip_network(text, strict=False))
        except ValueError:
            raise ValidationError(f"{value!r} is not an IP address or a CIDR range.") from None
    if kind in (ListKind.CARD_FINGERPRINT, ListKind.CUSTOMER):
        if " " in text:
            raise ValidationError(f"{value!r} has spaces in it.")
        return text
    raise ValidationError(f"Unknown list kind {kind!r}.")


def email_domain_of(email: str | None) -> str | None:
    if not email or "@" not in email:
        return None
    return email.rpartition("@")[2].strip().lower().rstrip(".") or None


def ip_networks_containing(address: str | None) -> list[str]:
    """Every network, in normal form, that contains `address` (none when it is not an address)."""
    if not address:
        return []
    try:
        ip = ipaddress.ip_address(address.strip())
    except ValueError:
        return []
    return [str(ipaddress.ip_network(f"{ip}/{prefix}", strict=False)) for prefix in range(ip.max_prefixlen + 1)]


def list_candidates(
    *,
    email: str | None = None,
    email_domain: str | None = None,
    ip: str | None = None,
    card_fingerprint: str | None = None,
    customer_id: str | None = None,
) -> dict[str, list[str]]:
    """The values, per list kind, that an attempt with these attributes matches."""
    candidates: dict[str, list[str]] = {}
    if email and email.strip():
        candidates[ListKind.EMAIL] = [email.strip().lower()]
    domain = (email_domain or "").strip().lower().lstrip("@") or email_domain_of(email)
    if domain:
        candidates[ListKind.EMAIL_DOMAIN] = [domain]
    if networks := ip_networks_containing(ip):
        candidates[ListKind.IP] = networks
    if card_fingerprint and card_fingerprint.strip():
        candidates[ListKind.CARD_FINGERPRINT] = [card_fingerprint.strip()]
    if customer_id and customer_id.strip():
        candidates[ListKind.CUSTOMER] = [customer_id.strip()]
    return candidates
