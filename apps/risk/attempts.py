"""A payment attempt as risk sees it, assessed before the gateway call, and its decline recorded
after it.

The money path (apps.payments) builds an `Attempt` from what the request carries: amount and
currency, the card number in memory only (turned here into its fingerprint and BIN, then
dropped), email, IP, billing country, the customer and its history, the API key, metadata.
`risk_evaluate` counts the attempt in the velocity counters (card, IP, API key) and reads the
figures the rules may ask for in the same step, refuses a burst of small or declined attempts
(card testing: apps.risk.throttle, 429), then assesses it (apps.risk.assessment).

Redis unreachable: the counters are skipped (their figures unknown, so the built-in rules read
them as 0, and nothing is throttled) and the assessment says so in `errors`; the payment is not
refused for it (failing open, as card networks' own risk services do: an outage of ours must not
stop every sale).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.conf import settings
from django.utils import timezone

from apps.core.money import to_decimal

from .assessment import Assessment, risk_assess
from .fingerprint import card_fingerprint
from .throttle import CardTestingLimits, SourceFigures, card_testing_check, card_testing_count
from .velocity import VelocityUnavailable, velocity_check_and_record_windows, velocity_figures, velocity_record

logger = logging.getLogger(__name__)

MINUTE, HOUR, DAY = 60, 3600, 86400
VELOCITY_UNAVAILABLE = "velocity_unavailable"


@dataclass(frozen=True)
class Attempt:
    merchant_id: int
    amount: int  # minor units of `currency`
    currency: str
    card_number: str = field(default="", repr=False)  # in memory only: fingerprint and BIN are taken from it
    card_fingerprint: str = ""  # when no number passes through us (a gateway's own fingerprint)
    card_brand: str = ""
    email: str = ""
    ip: str = ""
    ip_country: str = ""
    billing_country: str = ""
    customer_id: str = ""  # public id
    customer_since: datetime | None = None
    customer_payments: int | None = None  # earlier payments of the customer that went through
    api_key: str = ""  # public id of the key that asked
    metadata: Mapping[str, Any] = field(default_factory=dict)

    @property
    def fingerprint(self) -> str:
        if self.card_fingerprint:
            return self.card_fingerprint
        return card_fingerprint(self.card_number) if self.card_number else ""


def amount_in_usd(amount: int, currency: str) -> int | None:
    """The amount in US cents at the configured reference rate (RISK_USD_RATES: US dollars per
    major unit of the currency), or None for a currency without one. Decimal, never floats."""
    if currency == "USD":
        return amount
    rate = settings.RISK_USD_RATES.get(currency)
    if rate is None:
        return None
    cents = to_decimal(amount, currency) * Decimal(rate) * 100
    return int(cents.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def _velocity(
    attempt: Attempt, fingerprint: str, amount_usd: int | None, limits: CardTestingLimits
) -> tuple[dict[str, int | None], list[SourceFigures]]:
    """Count this attempt and read the figures the rules use, unknown (None) where there is
    nothing to count by (no card, no IP, no key), and the card-testing figures of each source."""
    figures: dict[str, int | None] = dict.fromkeys(
        (
            "declines_card_10m",
            "declines_ip_10m",
            "attempts_ip_1h",
            "customers_per_card_24h",
            "amount_card_24h",
            "attempts_key_1m",
        )
    )
    who = attempt.customer_id or attempt.email or None
    small = limits.is_small(amount_usd)
    sources: list[SourceFigures] = []
    if fingerprint:
        (card,) = velocity_check_and_record_windows(
            "card", fingerprint, windows_seconds=[DAY], amount=amount_usd or 0, member=who
        )
        figures["customers_per_card_24h"] = card.distinct_members
        figures["amount_card_24h"] = card.total_amount
        figures["declines_card_10m"] = velocity_figures(
            "card", fingerprint, window_seconds=10 * MINUTE, event="decline"
        ).count
        sources.append(card_testing_count("card", fingerprint, small=small, limits=limits))
    if attempt.ip:
        (ip,) = velocity_check_and_record_windows("ip", attempt.ip, windows_seconds=[HOUR])
        figures["attempts_ip_1h"] = ip.count
        figures["declines_ip_10m"] = velocity_figures(
            "ip", attempt.ip, window_seconds=10 * MINUTE, event="decline"
        ).count
        sources.append(card_testing_count("ip", attempt.ip, small=small, limits=limits))
    if attempt.api_key:
        (key,) = velocity_check_and_record_windows("key", attempt.api_key, windows_seconds=[MINUTE])
        figures["attempts_key_1m"] = key.count
        sources.append(card_testing_count("key", attempt.api_key, small=small, limits=limits))
    return figures, sources


def attempt_attributes(attempt: Attempt, fingerprint: str, velocity: Mapping[str, int | None]) -> dict[str, Any]:
    amount_usd = amount_in_usd(attempt.amount, attempt.currency)
    digits = attempt.card_number.replace(" ", "").replace("-", "")
    age_days = (timezone.now() - attempt.customer_since).days if attempt.customer_since else None
    return {
        "amount": attempt.amount,
        "amount_usd": amount_usd,
        "currency": attempt.currency,
        "card_brand": attempt.card_brand or None,
        "card_bin": digits[:6] if len(digits) >= 12 else None,
        "card_country": None,  # no BIN table here: rules that need it read it as unknown
        "ip": attempt.ip or None,
        "ip_country": attempt.ip_country or None,
        "billing_country": attempt.billing_country or None,
        "email": attempt.email or None,
        "customer_age_days": age_days,
        "customer_payments": attempt.customer_payments,
        "first_time_customer": (attempt.customer_payments == 0) if attempt.customer_payments is not None else None,
        "metadata": {str(key): str(value) for key, value in attempt.metadata.items()},
        "card_fingerprint": fingerprint or None,
        "customer_id": attempt.customer_id or None,
        **velocity,
    }


def _velocity_unavailable(attempt: Attempt) -> None:
    """Redis down is worth a warning; no Redis configured at all (the zero-setup demo) is not."""
    log = logger.warning if settings.REDIS_URL else logger.debug
    log("risk_velocity_unavailable", extra={"merchant": attempt.merchant_id})


def risk_evaluate(attempt: Attempt) -> Assessment:
    """Count the attempt and assess it (outside any database transaction: Redis is a network call).

    Raises RiskThrottled (429) for card testing, before the rules: the caller has stored nothing
    and sends nothing to the gateway."""
    fingerprint = attempt.fingerprint
    amount_usd = amount_in_usd(attempt.amount, attempt.currency)
    limits = CardTestingLimits.from_settings()
    try:
        velocity, sources = _velocity(attempt, fingerprint, amount_usd, limits)
        unavailable = False
    except VelocityUnavailable:
        _velocity_unavailable(attempt)
        velocity, sources, unavailable = {}, [], True
    card_testing_check(sources, limits=limits, merchant_id=attempt.merchant_id)
    assessment = risk_assess(attempt_attributes(attempt, fingerprint, velocity), merchant_id=attempt.merchant_id)
    if unavailable:
        return Assessment(
            score=assessment.score,
            level=assessment.level,
            outcome=assessment.outcome,
            matched=assessment.matched,
            errors=(*assessment.errors, VELOCITY_UNAVAILABLE),
        )
    return assessment


def risk_record_decline(attempt: Attempt) -> None:
    """A declined attempt counts toward the card's, the IP's and the API key's declines (card
    testing: the built-in rule reads the card's and the IP's, the throttle all three)."""
    fingerprint = attempt.fingerprint
    try:
        if fingerprint:
            velocity_record("card", fingerprint, event="decline")
        if attempt.ip:
            velocity_record("ip", attempt.ip, event="decline")
        if attempt.api_key:
            velocity_record("key", attempt.api_key, event="decline")
    except VelocityUnavailable:
        _velocity_unavailable(attempt)
