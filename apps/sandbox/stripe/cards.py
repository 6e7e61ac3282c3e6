"""Stripe's test cards: raw numbers and `pm_card_*` ids, and what each does.

Only the facts a payment method may keep leave this module: brand, last four, expiry, funding,
country, a keyed fingerprint and the scripted scenario. Never the number or the CVC.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.utils import timezone

from apps.core.cards import luhn_valid
from apps.sandbox.fingerprints import keyed_fingerprint

from .errors import CARD_ERROR, StripeError, missing_param

SUCCESS = "success"
AUTH_ALWAYS = "authentication_always"  # 4000002760003184: on session and off, even once set up
AUTH_ON_SESSION = "authentication_on_session"  # 4000000000003220: on session; off session refused
AUTH_UNLESS_SET_UP = "authentication_unless_set_up"  # 4000002500003155: off session fine once set up
CHARGE_FAILS = "charge_fails"  # 4000000000000341: attaches (and sets up) fine, every charge is declined
REFUND_FAILS = "refund_fails"  # 4000000000005126: the refund succeeds, later fails (stripe_refund_advance)
REFUND_PENDING = "refund_pending"  # 4000000000007726: the refund stays pending (stripe_refund_advance)


@dataclass(frozen=True)
class Decline:
    code: str
    decline_code: str
    message: str
    seller_message: str
    param: str | None = None

    def error(self, **extra: Any) -> StripeError:
        return StripeError(
            self.message,
            type=CARD_ERROR,
            code=self.code,
            decline_code=self.decline_code,
            param=self.param,
            status=402,
            commit=True,
            extra=extra,
        )


_NO_DETAILS = "The bank did not return any further details with this decline."
DECLINES = {
    "generic_decline": Decline("card_declined", "generic_decline", "Your card was declined.", _NO_DETAILS),
    "insufficient_funds": Decline(
        "card_declined",
        "insufficient_funds",
        "Your card has insufficient funds.",
        "The bank returned the decline code `insufficient_funds`.",
    ),
    "lost_card": Decline(
        "card_declined", "lost_card", "Your card was declined.", "The bank returned the decline code `lost_card`."
    ),
    "stolen_card": Decline(
        "card_declined", "stolen_card", "Your card was declined.", "The bank returned the decline code `stolen_card`."
    ),
    "fraudulent": Decline(
        "card_declined", "fraudulent", "Your card was declined.", "The bank returned the decline code `fraudulent`."
    ),
    "expired_card": Decline(
        "expired_card",
        "expired_card",
        "Your card has expired.",
        "The bank returned the decline code `expired_card`.",
        param="exp_month",
    ),
    "incorrect_cvc": Decline(
        "incorrect_cvc",
        "incorrect_cvc",
        "Your card's security code is incorrect.",
        "The bank returned the decline code `incorrect_cvc`.",
        param="cvc",
    ),
    "processing_error": Decline(
        "processing_error",
        "processing_error",
        "An error occurred while processing your card. Try again in a little bit.",
        "The bank returned the decline code `processing_error`.",
    ),
    "authentication_required": Decline(
        "authentication_required",
        "authentication_required",
        "Your card was declined. This transaction requires authentication.",
        "The bank returned the decline code `authentication_required`.",
    ),
}

# number → scenario (a key of DECLINES, or one of the constants above)
NUMBERS = {
    "4242424242424242": SUCCESS,
    "4000056655665556": SUCCESS,
    "5555555555554444": SUCCESS,
    "2223003122003222": SUCCESS,
    "5200828282828210": SUCCESS,
    "378282246310005": SUCCESS,
    "371449635398431": SUCCESS,
    "6011111111111117": SUCCESS,
    "3056930009020004": SUCCESS,
    "3566002020360505": SUCCESS,
    "6200000000000005": SUCCESS,
    "4000000000000002": "generic_decline",
    "4000000000000341": CHARGE_FAILS,
    "4000000000005126": REFUND_FAILS,
    "4000000000007726": REFUND_PENDING,
    "4000000000009995": "insufficient_funds",
    "4000000000009987": "lost_card",
    "4000000000009979": "stolen_card",
    "4100000000000019": "fraudulent",
    "4000000000000069": "expired_card",
    "4000000000000127": "incorrect_cvc",
    "4000000000000119": "processing_error",
    "4000000000003220": AUTH_ON_SESSION,
    "4000002500003155": AUTH_UNLESS_SET_UP,
    "4000002760003184": AUTH_ALWAYS,
}

TEST_PAYMENT_METHODS = {
    "pm_card_visa": "4242424242424242",
    "pm_card_visa_debit": "4000056655665556",
    "pm_card_mastercard": "5555555555554444",
    "pm_card_mastercard_debit": "5200828282828210",
    "pm_card_amex": "378282246310005",
    "pm_card_discover": "6011111111111117",
    "pm_card_diners": "3056930009020004",
    "pm_card_jcb": "3566002020360505",
    "pm_card_unionpay": "6200000000000005",
    "pm_card_chargeDeclined": "4000000000000002",
    "pm_card_chargeCustomerFail": "4000000000000341",
    "pm_card_chargeDeclinedInsufficientFunds": "4000000000009995",
    "pm_card_chargeDeclinedLostCard": "4000000000009987",
    "pm_card_chargeDeclinedStolenCard": "4000000000009979",
    "pm_card_chargeDeclinedFraudulent": "4100000000000019",
    "pm_card_chargeDeclinedExpiredCard": "4000000000000069",
    "pm_card_chargeDeclinedIncorrectCvc": "4000000000000127",
    "pm_card_chargeDeclinedProcessingError": "4000000000000119",
    "pm_card_threeDSecure2Required": "4000000000003220",
    "pm_card_authenticationRequiredOnSetup": "4000002500003155",
    "pm_card_authenticationRequired": "4000002760003184",
    "pm_card_refundFail": "4000000000005126",
    "pm_card_pendingRefund": "4000000000007726",
}
DEBIT = frozenset({"4000056655665556", "5200828282828210"})


def brand(digits: str) -> str:
    if digits.startswith("4"):
        return "visa"
    if digits[:2] in {"34", "37"}:
        return "amex"
    if digits[:2] in {"51", "52", "53", "54", "55"} or 2221 <= int(digits[:4] or 0) <= 2720:
        return "mastercard"
    if digits.startswith(("6011", "65")) or 644 <= int(digits[:3] or 0) <= 649:
        return "discover"
    if digits[:2] in {"36", "38", "39"} or 300 <= int(digits[:3] or 0) <= 305:
        return "diners"
    if 3528 <= int(digits[:4] or 0) <= 3589:
        return "jcb"
    if digits.startswith("62"):
        return "unionpay"
    return "unknown"


@dataclass(frozen=True)
class CardFacts:
    brand: str
    last4: str
    exp_month: int
    exp_year: int
    fingerprint: str
    funding: str
    country: str
    scenario: str
    cvc_supplied: bool


def fingerprint(digits: str) -> str:
    return keyed_fingerprint("stripe-card", digits)[:16]


def _card_error(message: str, code: str, param: str) -> StripeError:
    return StripeError(message, type=CARD_ERROR, code=code, param=param, status=402)


def read_card(card: dict[str, Any]) -> CardFacts:
    """`card[number|exp_month|exp_year|cvc]` checked as Stripe checks a new card (402 card_error)."""
    for name in ("number", "exp_month", "exp_year"):
        if card.get(name) in (None, ""):
            raise missing_param(f"card[{name}]")
    digits = "".join(str(card["number"]).split()).replace("-", "")
    if not digits.isdigit() or not 12 <= len(digits) <= 19 or not luhn_valid(digits):
        raise _card_error("Your card number is incorrect.", "incorrect_number", "number")
    try:
        exp_month, exp_year = int(card["exp_month"]), int(card["exp_year"])
    except ValueError as exc:
        raise _card_error("Your card's expiration month is invalid.", "invalid_expiry_month", "exp_month") from exc
    exp_year = exp_year + 2000 if exp_year < 100 else exp_year
    today = timezone.now().date()
    if not 1 <= exp_month <= 12:
        raise _card_error("Your card's expiration month is invalid.", "invalid_expiry_month", "exp_month")
    if not today.year <= exp_year <= today.year + 50:
        raise _card_error("Your card's expiration year is invalid.", "invalid_expiry_year", "exp_year")
    if (exp_year, exp_month) < (today.year, today.month):
        raise _card_error("Your card's expiration month is invalid.", "invalid_expiry_month", "exp_month")
    cvc = str(card.get("cvc") or "")
    if cvc and (not cvc.isdigit() or len(cvc) not in (3, 4)):
        raise _card_error("Your card's security code is invalid.", "invalid_cvc", "cvc")
    return _facts(digits, exp_month, exp_year, cvc_supplied=bool(cvc))


def test_payment_method(name: str) -> CardFacts | None:
    """The card behind `pm_card_visa` and friends (each use makes a new PaymentMethod, as at Stripe)."""
    digits = TEST_PAYMENT_METHODS.get(name)
    if digits is None:
        return None
    return _facts(digits, 12, timezone.now().year + 1, cvc_supplied=True)


def _facts(digits: str, exp_month: int, exp_year: int, *, cvc_supplied: bool) -> CardFacts:
    return CardFacts(
        brand=brand(digits),
        last4=digits[-4:],
        exp_month=exp_month,
        exp_year=exp_year,
        fingerprint=fingerprint(digits),
        funding="debit" if digits in DEBIT else "credit",
        country="US",
        scenario=NUMBERS.get(digits, SUCCESS),
        cvc_supplied=cvc_supplied,
    )


def needs_authentication(scenario: str, *, off_session: bool, set_up: bool) -> str | None:
    """None: no challenge. "challenge": 3-D Secure first (on session). "refuse": off session, the
    bank wants the cardholder, so the attempt is declined with `authentication_required`."""
    if scenario in (AUTH_ALWAYS, AUTH_ON_SESSION):
        return "refuse" if off_session else "challenge"
    if scenario == AUTH_UNLESS_SET_UP:
        if off_session:
            return None if set_up else "refuse"
        return "challenge"
    return None


def decline_for(scenario: str) -> Decline | None:
    """The decline a charge with this card gets, if any."""
    return DECLINES["generic_decline"] if scenario == CHARGE_FAILS else DECLINES.get(scenario)


def setup_decline_for(scenario: str) -> Decline | None:
    """The decline when the card is checked without a charge (attach, SetupIntent): the bank
    refuses a card it would decline, but not for want of funds."""
    if scenario in (CHARGE_FAILS, "insufficient_funds"):
        return None
    return DECLINES.get(scenario)


def outcome(decline: Decline | None) -> dict[str, Any]:
    if decline is None:
        return {
            "network_status": "approved_by_network",
            "reason": None,
            "risk_level": "normal",
            "risk_score": 32,
            "seller_message": "Payment complete.",
            "type": "authorized",
        }
    return {
        "network_status": "declined_by_network",
        "reason": decline.decline_code,
        "risk_level": "normal",
        "risk_score": 41,
        "seller_message": decline.seller_message,
        "type": "issuer_declined",
    }
