"""The Authorize.Net sandbox's cards: its test card numbers and triggers (decline ZIP, AVS by ZIP,
CVV by code, the amount-trigger card), reason texts, card facts and single-use payment nonces.
Shared by the transaction engine and the customer profiles (CIM)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime

from apps.core.cards import luhn_valid
from apps.sandbox.fingerprints import keyed_fingerprint
from apps.sandbox.models import AnetPaymentNonce

TEST_CARDS = frozenset(
    {
        "4111111111111111",
        "4007000000027",
        "4012888818888",
        "4222222222222",
        "5424000000000015",
        "2223000010309703",
        "2223000010309711",
        "370000000000002",
        "6011000000000012",
        "3088000000000017",
        "38000000000006",
        "6221499053360818",
    }
)
AMOUNT_TRIGGER_CARD = "4222222222222"
DECLINE_ZIP = "46282"
AVS_BY_ZIP = {
    "46201": "A", "46203": "E", "46204": "G", "46205": "N", "46206": "P", "46207": "R",
    "46208": "S", "46209": "U", "46211": "W", "46214": "X", "46217": "Z",
}  # fmt: skip
CVV_BY_CODE = {"900": "M", "901": "N", "902": "S", "903": "U", "904": "P"}
REASONS = {
    "1": "This transaction has been approved.",
    "2": "This transaction has been declined.",
    "3": "This transaction has been declined.",
    "4": "This transaction has been declined.",
    "5": "A valid amount is required.",
    "6": "The credit card number is invalid.",
    "7": "Credit card expiration date is invalid.",
    "8": "The credit card has expired.",
    "9": "The ABA code is invalid",
    "10": "The account number is invalid",
    "11": "A duplicate transaction has been submitted.",
    "16": "The transaction cannot be found.",
    "27": "The transaction has been declined because of an AVS mismatch.",
    "44": "This transaction has been declined.",
    "45": "This transaction has been declined.",
    "47": "The amount requested for settlement cannot be greater than the original amount authorized.",
    "54": "The referenced transaction does not meet the criteria for issuing a credit.",
    "55": "The sum of credits against the referenced transaction would exceed original debit amount.",
    "65": "This transaction has been declined.",
    "100": "The eCheck.Net type is invalid.",
    "244": "This eCheck.Net type is not allowed for this Bank Account Type.",
    "246": "This eCheck.Net type is not allowed.",
    "310": "This transaction has already been voided.",
    "311": "This transaction has already been captured.",
}
AMOUNT_TRIGGER_REASONS = {2, 3, 4, 27, 44, 45, 65}


def card_type(number: str) -> str:
    if number.startswith("4"):
        return "Visa"
    if number[:2] in {"34", "37"}:
        return "AmericanExpress"
    if number[:2] in {"51", "52", "53", "54", "55"} or 2221 <= int(number[:4] or 0) <= 2720:
        return "MasterCard"
    if number.startswith(("6011", "65", "62")) or 644 <= int(number[:3] or 0) <= 649:
        return "Discover"
    if 3528 <= int(number[:4] or 0) <= 3589 or number.startswith("3088"):
        return "JCB"
    if number[:2] in {"36", "38"} or 300 <= int(number[:3] or 0) <= 305:
        return "DinersClub"
    return "Visa"


def fingerprint(number: str) -> str:
    return keyed_fingerprint("authorizenet", number)


@dataclass
class CardFacts:
    """What the sandbox needs to know about a card; never the number."""

    card_type: str
    last4: str
    fingerprint: str
    valid: bool
    known_test_card: bool
    amount_trigger: bool
    expiration: str
    cvv_code: str


def card_facts(number: str, expiration: str, card_code: str) -> CardFacts:
    digits = number.replace(" ", "")
    valid = digits.isdigit() and 13 <= len(digits) <= 19 and luhn_valid(digits)
    return CardFacts(
        card_type=card_type(digits) if digits.isdigit() and digits else "Visa",
        last4=digits[-4:],
        fingerprint=fingerprint(digits),
        valid=valid,
        known_test_card=digits in TEST_CARDS,
        amount_trigger=digits == AMOUNT_TRIGGER_CARD,
        expiration=expiration,
        cvv_code=CVV_BY_CODE.get(card_code, "M" if card_code else ""),
    )


def mint_nonce(*, number: str, exp_month: int, exp_year: int, card_code: str) -> AnetPaymentNonce:
    """Accept.js dispatchData: trade card data for a single-use opaque token."""
    facts = card_facts(number, f"{exp_year:04d}-{exp_month:02d}", card_code)
    return AnetPaymentNonce.objects.create(
        value=secrets.token_urlsafe(32),
        card_type=facts.card_type,
        card_last4=facts.last4,
        card_fingerprint=facts.fingerprint,
        card_valid=facts.valid and facts.known_test_card,
        expiration=facts.expiration,
        cvv_code=facts.cvv_code,
    )


def expiration_problem(expiration: str, now: datetime) -> str:
    """ "" if fine, else the reason code (7 malformed, 8 expired). Accepts YYYY-MM and MMYY."""
    try:
        if "-" in expiration:
            year, month = (int(part) for part in expiration.split("-", 1))
        else:
            month, year = int(expiration[:2]), 2000 + int(expiration[2:])
    except ValueError:
        return "7"
    if not 1 <= month <= 12:
        return "7"
    return "8" if (year, month) < (now.year, now.month) else ""


def auth_code() -> str:
    alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
    return "".join(secrets.choice(alphabet) for _ in range(6))
