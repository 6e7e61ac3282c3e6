"""The values of list entries: one normal form per kind, so that an entry and the attribute it is
compared with are spelled the same way, and the values a payment attempt's attributes can match.

IP entries are networks: a single address is stored as its /32 (or /128) network. An address
matches every entry that contains it, so a lookup asks for the networks containing the address:
all of them (33 for IPv4, 129 for IPv6) in one indexed query on any database, or only those of
the prefix lengths the process's copy of the lists holds (apps.risk.selectors).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Collection

from django.core.exceptions import ValidationError
from django.core.validators import validate_email

from apps.core.cards import contains_card_number

from .fingerprint import FINGERPRINT_LENGTH, FINGERPRINT_PREFIX
from .models import ListKind

# What apps.risk.fingerprint.card_fingerprint makes: the prefix and lower-case base32.
FINGERPRINT_FORMAT = re.compile(
    rf"{re.escape(FINGERPRINT_PREFIX)}[a-z2-7]{{{FINGERPRINT_LENGTH - len(FINGERPRINT_PREFIX)}}}"
)
MAX_VALUE_LENGTH = 255  # ListEntry.value
CARD_NUMBER_REFUSED = "Must not contain a card number: a card is listed by its fingerprint (fp_…)."


def _email(text: str) -> str:
    text = text.lower()
    try:
        validate_email(text)
    except ValidationError:
        raise ValidationError(f"{text!r} is not an email address.") from None
    return text


def _email_domain(text: str) -> str:
    domain = text.lower().lstrip("@").rstrip(".")
    if not domain or "@" in domain or " " in domain or "." not in domain:
        raise ValidationError(f"{text!r} is not an email domain (example.com).")
    return domain


def _ip_network(text: str) -> str:
    try:
        return str(ipaddress.ip_network(text, strict=False))
    except ValueError:
        raise ValidationError(f"{text!r} is not an IP address or a CIDR range.") from None


def _card_fingerprint(text: str) -> str:
    fingerprint = text.lower()  # base32: the same letters either way
    if not FINGERPRINT_FORMAT.fullmatch(fingerprint):
        raise ValidationError(
            f"{text!r} is not a card fingerprint ({FINGERPRINT_PREFIX} and "
            f"{FINGERPRINT_LENGTH - len(FINGERPRINT_PREFIX)} letters and digits)."
        )
    return fingerprint


def _customer(text: str) -> str:
    if " " in text:
        raise ValidationError(f"{text!r} has spaces in it.")
    return text


_NORMAL_FORMS: dict[str, Callable[[str], str]] = {
    ListKind.EMAIL: _email,
    ListKind.EMAIL_DOMAIN: _email_domain,
    ListKind.IP: _ip_network,
    ListKind.CARD_FINGERPRINT: _card_fingerprint,
    ListKind.CUSTOMER: _customer,
}


def normalise_list_value(kind: str, value: str) -> str:
    """The stored form of `value` for a list of `kind`; ValidationError when it is not one.

    A card number is refused whatever the kind, before anything else (and never echoed): a card
    is listed by its fingerprint, which is all a card fingerprint entry takes."""
    normal_form = _NORMAL_FORMS.get(kind)
    if normal_form is None:
        raise ValidationError(f"Unknown list kind {kind!r}.")
    text = (value or "").strip()
    if not text:
        raise ValidationError("A list entry needs a value.")
    if contains_card_number(text):
        raise ValidationError(CARD_NUMBER_REFUSED, code="card_number")
    if len(text) > MAX_VALUE_LENGTH:  # every normal form is as long as its input or shorter (an IP's is short)
        raise ValidationError(f"A list value has at most {MAX_VALUE_LENGTH} characters.")
    return normal_form(text)


def email_domain_of(email: str | None) -> str | None:
    if not email or "@" not in email:
        return None
    return email.rpartition("@")[2].strip().lower().rstrip(".") or None


def ip_address_normal(address: str | None) -> str | None:
    """`address` in its normal form, or None when it is not an IP address."""
    if not address:
        return None
    try:
        return str(ipaddress.ip_address(address.strip()))
    except ValueError:
        return None


def ip_networks_containing(address: str | None, prefixes: Collection[int] | None = None) -> list[str]:
    """Every network, in normal form, that contains `address` (none when it is not an address);
    only those of the prefix lengths `prefixes` when given. Computed on the address's integer:
    ipaddress.ip_network costs about 15 µs a network, which made 0.5 ms an IPv4 payment."""
    if not address:
        return []
    try:
        ip = ipaddress.ip_address(address.strip())
    except ValueError:
        return []
    bits = ip.max_prefixlen
    value = int(ip)
    full = (1 << bits) - 1
    wanted = range(bits + 1) if prefixes is None else sorted(p for p in set(prefixes) if 0 <= p <= bits)
    if ip.version == 4:
        return [f"{_ipv4_text(value & (full ^ (full >> prefix)))}/{prefix}" for prefix in wanted]
    return [f"{ipaddress.IPv6Address(value & (full ^ (full >> prefix)))}/{prefix}" for prefix in wanted]


def _ipv4_text(value: int) -> str:
    return f"{value >> 24}.{(value >> 16) & 255}.{(value >> 8) & 255}.{value & 255}"


def network_prefix(network: str) -> int:
    """The prefix length of a network in normal form ("10.0.0.0/8" → 8)."""
    return int(network.rpartition("/")[2])


def list_candidates(
    *,
    email: str | None = None,
    email_domain: str | None = None,
    ip: str | None = None,
    card_fingerprint: str | None = None,
    customer_id: str | None = None,
) -> dict[str, list[str]]:
    """The values, per list kind, that an attempt with these attributes matches; for IP, the
    address itself: apps.risk.selectors.list_entries_matching asks for the networks containing it."""
    candidates: dict[str, list[str]] = {}
    if email and email.strip():
        candidates[ListKind.EMAIL] = [email.strip().lower()]
    domain = (email_domain or "").strip().lower().lstrip("@") or email_domain_of(email)
    if domain:
        candidates[ListKind.EMAIL_DOMAIN] = [domain]
    if address := ip_address_normal(ip):
        candidates[ListKind.IP] = [address]
    if card_fingerprint and card_fingerprint.strip():
        candidates[ListKind.CARD_FINGERPRINT] = [card_fingerprint.strip()]
    if customer_id and customer_id.strip():
        candidates[ListKind.CUSTOMER] = [customer_id.strip()]
    return candidates
