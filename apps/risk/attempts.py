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
stop every sale). RISK_ENABLED off (an emergency switch): nothing is counted or assessed.
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
from apps.core.stamps import stamps_from

from .assessment import Assessment, risk_assess
from .fingerprint import card_fingerprint
from .geo import card_country, ip_country
from .stamps import NAMES, STAMP_KEYS
from .throttle import CardTestingLimits, SourceFigures, card_testing_check
from .velocity import Observation, VelocityUnavailable, velocity_observe_reading, velocity_record

logger = logging.getLogger(__name__)

MINUTE, HOUR, DAY = 60, 3600, 86400
VELOCITY_UNAVAILABLE = "velocity_unavailable"
RISK_OFF = "risk_off"
# RISK_ENABLED off: what every attempt is told (allowed, nothing counted, and saying why).
OFF = Assessment(score=0, level="low", outcome="allow", errors=(RISK_OFF,))


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
    # The request's idempotency reference: its retries are the same attempt, counted once.
    reference: str = ""

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
) -> tuple[dict[str, int | None], list[SourceFigures], dict[str, str | None]]:
    """Count this attempt and read the figures the rules use, unknown (None) where there is
    nothing to count by (no card, no IP, no key), the card-testing figures of each source, and
    the rules' and lists' stamps: one script per source and one read, in one round trip to Redis."""
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
    small = limits.small_attempts if limits.is_small(amount_usd) else 0
    small_window = limits.window_seconds if small else None
    # The rules read the card's and the IP's declines over 10 minutes; the throttle every source's
    # over its window (the last of each source's decline windows, when its limit is on).
    throttle = (limits.window_seconds,) if limits.declines else ()
    reference = attempt.reference
    observations: list[Observation] = []
    if fingerprint:
        who = attempt.customer_id or attempt.email or None
        observations.append(
            Observation(
                "card", fingerprint, DAY, amount=amount_usd or 0, member=who, with_total=True,
                small_window=small_window, decline_windows=(10 * MINUTE, *throttle), event_id=reference,
            )
        )  # fmt: skip
    if attempt.ip:
        observations.append(
            Observation(
                "ip", attempt.ip, HOUR, small_window=small_window, decline_windows=(10 * MINUTE, *throttle),
                event_id=reference,
            )
        )  # fmt: skip
    if attempt.api_key:
        observations.append(
            Observation(
                "key", attempt.api_key, MINUTE, small_window=small_window, decline_windows=throttle, event_id=reference
            )
        )
    sources: list[SourceFigures] = []
    observed, stamp_values = velocity_observe_reading(observations, STAMP_KEYS)
    for observation, seen in zip(observations, observed, strict=True):
        if observation.dimension == "card":
            figures["customers_per_card_24h"] = seen.attempts.distinct_members
            figures["amount_card_24h"] = seen.attempts.total_amount
            figures["declines_card_10m"] = seen.declines[0]
        elif observation.dimension == "ip":
            figures["attempts_ip_1h"] = seen.attempts.count
            figures["declines_ip_10m"] = seen.declines[0]
        else:
            figures["attempts_key_1m"] = seen.attempts.count
        declines = seen.declines[-1] if throttle else None
        sources.append(SourceFigures(observation.dimension, observation.value, seen.small_attempts, declines))
    return figures, sources, stamps_from(NAMES, stamp_values)


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
        # From the deployment's tables (apps.risk.geo); unknown without them.
        "card_country": card_country(digits) if len(digits) >= 12 else None,
        "ip": attempt.ip or None,
        "ip_country": attempt.ip_country or ip_country(attempt.ip),
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
    and sends nothing to the gateway. With RISK_ENABLED off: allowed, nothing counted."""
    if not settings.RISK_ENABLED:
        return OFF
    fingerprint = attempt.fingerprint
    amount_usd = amount_in_usd(attempt.amount, attempt.currency)
    limits = CardTestingLimits.from_settings()
    stamps: dict[str, str | None] = {}
    try:
        velocity, sources, stamps = _velocity(attempt, fingerprint, amount_usd, limits)
        unavailable = False
    except VelocityUnavailable:
        _velocity_unavailable(attempt)
        velocity, sources, unavailable = {}, [], True
    card_testing_check(sources, limits=limits, merchant_id=attempt.merchant_id)
    assessment = risk_assess(
        attempt_attributes(attempt, fingerprint, velocity), merchant_id=attempt.merchant_id, stamps=stamps
    )
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
    if not settings.RISK_ENABLED:
        return
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
