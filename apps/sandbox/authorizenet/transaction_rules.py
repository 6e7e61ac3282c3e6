"""What the Authorize.Net sandbox checks in a createTransaction request before it looks at the card,
and the transaction hash (transHashSha2) it signs its answers with.

- Payment kinds the sandbox account does not accept are refused with the real reason codes (the
  published response-code list): PayPal 2001; Visa Checkout (V.me, `callId` or its
  COMMON.VCO descriptor) 330; Apple Pay 154; other wallets' payment data (Google Pay) 155;
  card-present data (track data, EMV) on this card-not-present account 87.
- A network-tokenised card (`isPaymentToken`, as Apple Pay decrypted or Chase Pay sends it) is a
  card with a cryptogram: charged like the card, once the cryptogram is base64 (else 156) and the
  token requestor's ECI is two digits (else 187).
- captureOnlyTransaction (an authorisation obtained by phone) needs its authCode: 12 when it is
  missing, 72 when it is not six letters or digits.
- Transaction types of the schema the account cannot run (PayPal's) are 2001; a type outside the
  schema is the XML error E00003, as the real service's schema validation answers it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from decimal import Decimal, InvalidOperation

from lxml import etree

from apps.core.money import to_decimal
from apps.sandbox.models import AnetAccount, AnetTransaction

from .xml import find, find_text

ACCEPT_DESCRIPTOR = "COMMON.ACCEPT.INAPP.PAYMENT"
_DESCRIPTOR_REASONS = {
    "COMMON.APPLE.INAPP.PAYMENT": "154",
    "COMMON.VCO.ONLINE.PAYMENT": "330",
}
_WALLET_REASON = "155"  # any other payment data: "This processor does not support this method ..."
_CARD_PRESENT = ("trackData", "encryptedTrackData", "emv")
PAYPAL_TYPES = frozenset({"getDetailsTransaction", "authOnlyContinueTransaction", "authCaptureContinueTransaction"})
SCHEMA_ERROR = "E00003"
_AUTH_CODE = re.compile(r"^[A-Za-z0-9]{6}$")
_ECI = re.compile(r"^[0-9]{2}$")

# Reason texts of the codes above, as the response-code list words them.
REASON_TEXTS = {
    "12": "An authorization code is required but not present.",
    "72": "The authorization code is invalid.",
    "87": "Transactions of this market type cannot be processed on this system.",
    "154": "Processing Apple Payments is not enabled for this merchant account.",
    "155": "This processor does not support this method of submitting payment data.",
    "156": "The cryptogram is either invalid or cannot be used in combination with other parameters.",
    "187": "Invalid Token Requestor ECI Length.",
    "330": "V.me transactions are not accepted by this merchant.",
    "2001": "PayPal transactions are not accepted by this merchant.",
}


def unsupported_type_reason(kind: str) -> str:
    """The reason for a transaction type the sandbox does not run (SCHEMA_ERROR: not a type at all)."""
    return "2001" if kind in PAYPAL_TYPES else SCHEMA_ERROR


def payment_refusal(request: etree._Element | None, kind: str) -> str:
    """The reason code refusing this charge's payment or authorisation code, or "" to go on."""
    payment = find(request, "payment")
    if find(payment, "payPal") is not None:
        return "2001"
    if find_text(request, "callId"):
        return "330"
    if any(find(payment, name) is not None for name in _CARD_PRESENT):
        return "87"
    opaque = find(payment, "opaqueData")
    if opaque is not None:
        descriptor = find_text(opaque, "dataDescriptor")
        if descriptor != ACCEPT_DESCRIPTOR:
            return _DESCRIPTOR_REASONS.get(descriptor, _WALLET_REASON)
    card = find(payment, "creditCard")
    if card is not None and find_text(card, "isPaymentToken").lower() in {"true", "1"}:
        if not _base64(find_text(card, "cryptogram")):
            return "156"
        eci = find_text(card, "tokenRequestorEci")
        if eci and not _ECI.match(eci):
            return "187"
    if kind == "captureOnlyTransaction":
        code = find_text(request, "authCode")
        if not code:
            return "12"
        if not _AUTH_CODE.match(code):
            return "72"
    return ""


def _base64(value: str) -> bool:
    if not value:
        return False
    try:
        base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return False
    return True


def trans_hash_sha2(account: AnetAccount, trans_id: str, amount: Decimal) -> str:
    """transHashSha2 as Authorize.Net's Transaction Hash Upgrade Guide defines it: HMAC-SHA512
    keyed with the hex-decoded Signature Key over "^apiLoginId^transId^amount^" (the amount with
    two decimals), in upper-case hex. Empty when the account has no signature key."""
    if not account.signature_key:
        return ""
    message = f"^{account.api_login_id}^{trans_id}^{amount:.2f}^"
    key = bytes.fromhex(account.signature_key)
    return hmac.new(key, message.encode(), hashlib.sha512).hexdigest().upper()


def response_hash(
    account: AnetAccount, request: etree._Element | None, trans_id: str, stored: AnetTransaction | None
) -> str:
    """transHashSha2 of a createTransaction answer: over the request's amount, or else (a void
    sends none) the transaction's own."""
    try:
        amount = Decimal(find_text(request, "amount"))
    except InvalidOperation:
        minor = (stored.settle_amount or stored.auth_amount) if stored is not None else 0
        amount = to_decimal(minor, account.currency)
    return trans_hash_sha2(account, trans_id, amount)
