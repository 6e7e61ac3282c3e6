"""What the Checkout stand-in decides from a card: the documented test cards and their outcomes.

Nothing here keeps the number: callers get the network, the last four digits and the outcome.
"""

from __future__ import annotations

from dataclasses import dataclass

from apps.core.cards import luhn_valid

from .errors import BAD_REQUEST_ERROR, GATEWAY_ERROR


@dataclass(frozen=True)
class Failure:
    code: str
    reason: str
    description: str
    source: str
    step: str


_TIMED_OUT = Failure(
    BAD_REQUEST_ERROR, "payment_timed_out", "Payment was not completed on time.", "customer", "payment_authentication"
)
_INSUFFICIENT = Failure(
    BAD_REQUEST_ERROR,
    "insufficient_funds",
    "Payment failed due to insufficient balance in account.",
    "customer",
    "payment_authorization",
)
_CANCELLED = Failure(
    BAD_REQUEST_ERROR,
    "payment_cancelled",
    "Payment processing cancelled by user.",
    "customer",
    "payment_authentication",
)
_DECLINED = Failure(
    BAD_REQUEST_ERROR,
    "card_declined",
    "Your payment has been declined as the card was declined by the bank.",
    "bank",
    "payment_authorization",
)
_DISABLED = Failure(
    BAD_REQUEST_ERROR,
    "card_disabled_for_online_payments",
    "Your payment could not be completed as this card is not enabled for online payments.",
    "bank",
    "payment_authorization",
)
_NUMBER_INVALID = Failure(
    BAD_REQUEST_ERROR,
    "card_number_invalid",
    "Your payment has been declined as the card number is invalid.",
    "customer",
    "payment_authorization",
)
_TECHNICAL = Failure(
    GATEWAY_ERROR,
    "gateway_technical_error",
    "Payment processing failed due to error at bank or wallet gateway.",
    "gateway",
    "payment_authorization",
)
_AUTHENTICATION = Failure(
    GATEWAY_ERROR,
    "authentication_failed",
    "Payment processing failed because cardholder couldn't be authenticated.",
    "customer",
    "payment_authentication",
)

# docs: payments/payments/test-card-details.md
FAILURE_CARDS: dict[str, Failure] = {
    "4100280000090000": _TIMED_OUT,
    "5305620000060000": _TIMED_OUT,
    "4100280000080001": _INSUFFICIENT,
    "5305620000050001": _INSUFFICIENT,
    "4100280000070002": _CANCELLED,
    "5305620000040002": _CANCELLED,
    "4100280000060003": _DECLINED,
    "4100280000050004": _DECLINED,
    "4100280000040005": _DECLINED,
    "5305620000030003": _DECLINED,
    "5305620000020004": _DECLINED,
    "5305620000010005": _DECLINED,
    "4100280000030006": _DISABLED,
    "5305620000000006": _DISABLED,
    "4100280000010008": _NUMBER_INVALID,
    "5305620000080008": _NUMBER_INVALID,
    "4100280000020007": _TECHNICAL,
    "5305620000090007": _TECHNICAL,
    "4100280000000009": _AUTHENTICATION,
    "5305620000070009": _AUTHENTICATION,
}

SUCCESS_CARDS = frozenset(
    {"4100280000001007", "5500670000001002", "6527658900001005", "36082800091007", "340256000401007"}
)
INTERNATIONAL_CARDS = frozenset({"5555555555554444", "5105105105105100", "5104060000000008", "4012888888881881"})
TEST_CARDS = SUCCESS_CARDS | INTERNATIONAL_CARDS | frozenset(FAILURE_CARDS)


def network(digits: str) -> str:
    if digits[:2] in {"34", "37"}:
        return "American Express"
    if digits[:2] in {"36", "38"} or 300 <= int(digits[:3] or 0) <= 305:
        return "Diners Club"
    if digits.startswith(("60", "65", "81", "82", "508")):
        return "RuPay"
    if digits.startswith("4"):
        return "Visa"
    if digits[:2] in {"51", "52", "53", "54", "55"} or 2221 <= int(digits[:4] or 0) <= 2720:
        return "MasterCard"
    if 3528 <= int(digits[:4] or 0) <= 3589:
        return "JCB"
    return "Unknown"


@dataclass(frozen=True)
class CardCheck:
    """The facts about a card that a payment may keep, and its scripted outcome."""

    network: str
    last4: str
    international: bool
    number_valid: bool
    failure: Failure | None


def check_card(number: str) -> CardCheck:
    digits = "".join(number.split())
    failure = FAILURE_CARDS.get(digits)
    well_formed = digits.isdigit() and 12 <= len(digits) <= 19
    return CardCheck(
        network=network(digits) if well_formed else "Unknown",
        last4=digits[-4:] if well_formed else "",
        international=digits in INTERNATIONAL_CARDS,
        # The scripted failure cards fail as scripted even when their check digit is off.
        number_valid=well_formed and (failure is not None or luhn_valid(digits)),
        failure=failure,
    )
