"""Card fingerprints: one stable, non-reversible name per card number within a deployment.

A fingerprint is an HMAC-SHA256 of the card number's digits under RISK_FINGERPRINT_KEY, so the
same card has the same fingerprint for every customer and merchant of a deployment (velocity
rules count a card across all of them), while without the key nobody can test a guessed number
against a fingerprint: card numbers have too little entropy (a BIN, a Luhn digit and a few
unknown digits) for a plain hash to hide them. Changing the key changes every fingerprint.

The result is base32, not hex: it has no run of 13 or more digits that could pass the Luhn check,
so fingerprints never look like card numbers to `apps.core.cards` in logs, metadata or input.

The number only lives in memory here: it is never logged, stored, nor put into an error message.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from apps.core.cards import MAX_DIGITS, MIN_DIGITS

FINGERPRINT_PREFIX = "fp_"
# 160 bits of the MAC: 32 base32 characters without padding.
_DIGEST_BYTES = 20
FINGERPRINT_LENGTH = len(FINGERPRINT_PREFIX) + _DIGEST_BYTES * 8 // 5
# Separates this use of the key from any other (the velocity counters' names use it too).
_PURPOSE = b"clearhouse:risk:card-fingerprint:v1\x00"
_SEPARATORS = re.compile(r"[ -]")
_ASCII_DIGITS = re.compile(r"[0-9]+")


def risk_key() -> bytes:
    """The deployment's risk key (RISK_FINGERPRINT_KEY) as bytes; refuses an empty one."""
    key: str = settings.RISK_FINGERPRINT_KEY
    if not key:
        raise ImproperlyConfigured("RISK_FINGERPRINT_KEY is empty")
    return key.encode()


def card_fingerprint(number: str) -> str:
    """`fp_` and 32 base32 characters naming the card `number` (spaces and dashes ignored).

    Raises ValueError (whose message holds no digit of the number) unless the number is 13 to 19
    ASCII digits once separators are removed."""
    digits = _SEPARATORS.sub("", number)
    if not (_ASCII_DIGITS.fullmatch(digits) and MIN_DIGITS <= len(digits) <= MAX_DIGITS):
        raise ValueError(f"a card number is {MIN_DIGITS} to {MAX_DIGITS} digits")
    mac = hmac.new(risk_key(), _PURPOSE + digits.encode("ascii"), hashlib.sha256).digest()
    return FINGERPRINT_PREFIX + base64.b32encode(mac[:_DIGEST_BYTES]).decode("ascii").lower()
