"""Card testing: a burst of small attempts or of declines from one IP address, API key or card is
refused (429 `card_testing_suspected`) before the rules and before the gateway, and alerted.

Within RISK_CARD_TESTING_WINDOW_SECONDS each source (`ip`, `key`, `card`) may make
RISK_CARD_TESTING_SMALL_ATTEMPTS small attempts (amount_usd at or below
RISK_CARD_TESTING_SMALL_AMOUNT_USD cents; an amount without a USD rate is not small) and collect
RISK_CARD_TESTING_DECLINES declines. The small attempt beyond the limit is refused, and so is any
attempt once a source has collected its declines, until the window slides past them. 0 turns a
limit off.

The figures come from the velocity counters (apps.risk.velocity): a small attempt is recorded and
its window read in one Lua script, so of N simultaneous attempts exactly the allowed number go on.
Refused attempts are counted too: a storm that goes on stays refused. Declines are recorded after
the gateway answered (`risk_record_decline`), so simultaneous attempts may pass a decline limit by
the ones in flight.

Alerting: `clearhouse_risk_card_testing_throttled_total{dimension}` and a WARNING line
`risk_card_testing_throttled` naming the source by an opaque value (the card's fingerprint, the
key's public id, an HMAC of the IP address: never the address).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Iterable
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from prometheus_client import Counter

from apps.core.errors import ApplicationError, ErrorType

from .fingerprint import risk_key

logger = logging.getLogger(__name__)

SMALL_ATTEMPT = "small_attempt"
DECLINE = "decline"
_LOG_PURPOSE = b"clearhouse:risk:card-testing-log:v1\x00"

CARD_TESTING_THROTTLED = Counter(
    "clearhouse_risk_card_testing_throttled_total",
    "Payment attempts refused as card testing (429) before the gateway, by the source that tripped the limit",
    ["dimension"],
)


class RiskThrottled(ApplicationError):
    """Too many small or declined attempts from one source: refused before anything is stored or
    sent to the gateway. `retry_after` (seconds) is at most the window."""

    status_code = 429
    error_type = ErrorType.RATE_LIMIT
    code = "card_testing_suspected"
    default_message = "Too many small or declined payment attempts; retry later."

    def __init__(self, *, retry_after: int) -> None:
        self.retry_after = retry_after
        super().__init__(
            f"Too many small or declined payment attempts; retry after {retry_after} seconds.",
            extra={"retry_after": retry_after},
        )


@dataclass(frozen=True)
class CardTestingLimits:
    window_seconds: int
    small_amount_usd: int  # US cents
    small_attempts: int  # 0: off
    declines: int  # 0: off

    @classmethod
    def from_settings(cls) -> CardTestingLimits:
        limits = cls(
            window_seconds=settings.RISK_CARD_TESTING_WINDOW_SECONDS,
            small_amount_usd=settings.RISK_CARD_TESTING_SMALL_AMOUNT_USD,
            small_attempts=settings.RISK_CARD_TESTING_SMALL_ATTEMPTS,
            declines=settings.RISK_CARD_TESTING_DECLINES,
        )
        longest: int = settings.RISK_VELOCITY_MAX_WINDOW_SECONDS
        if not 0 < limits.window_seconds <= longest:
            raise ImproperlyConfigured(
                "RISK_CARD_TESTING_WINDOW_SECONDS is 1 to RISK_VELOCITY_MAX_WINDOW_SECONDS seconds"
            )
        if min(limits.small_amount_usd, limits.small_attempts, limits.declines) < 0:
            raise ImproperlyConfigured("RISK_CARD_TESTING_* limits are not negative")
        return limits

    def is_small(self, amount_usd: int | None) -> bool:
        return amount_usd is not None and amount_usd <= self.small_amount_usd


@dataclass(frozen=True)
class SourceFigures:
    """One source's card-testing figures in the window."""

    dimension: str  # ip, key or card
    value: str
    small_attempts: int | None  # this attempt included; None when this attempt is not small
    declines: int | None  # None when the decline limit is off


def _exceeded(figures: SourceFigures, limits: CardTestingLimits) -> str:
    # An API key carries all of its merchant's customers: its limits are that many times higher.
    scale = settings.RISK_CARD_TESTING_KEY_FACTOR if figures.dimension == "key" else 1
    if figures.small_attempts is not None and figures.small_attempts > limits.small_attempts * scale:
        return "small_attempts"
    if figures.declines is not None and figures.declines >= limits.declines * scale:
        return "declines"
    return ""


def _opaque(dimension: str, value: str) -> str:
    """What a log line may name the source by: fingerprints and key ids are opaque already; an IP
    address is personal data, so an HMAC of it (the same for the same address, to correlate)."""
    if dimension != "ip":
        return value
    return "iph_" + hmac.new(risk_key(), _LOG_PURPOSE + value.encode(), hashlib.sha256).hexdigest()[:24]


def card_testing_check(sources: Iterable[SourceFigures], *, limits: CardTestingLimits, merchant_id: int) -> None:
    """Raise RiskThrottled, counted and logged, when a source is over a limit (the first found)."""
    for figures in sources:
        reason = _exceeded(figures, limits)
        if not reason:
            continue
        CARD_TESTING_THROTTLED.labels(dimension=figures.dimension).inc()
        logger.warning(
            "risk_card_testing_throttled",
            extra={
                "merchant": merchant_id,
                "dimension": figures.dimension,
                "source": _opaque(figures.dimension, figures.value),
                "reason": reason,
                "small_attempts": figures.small_attempts,
                "declines": figures.declines,
                "window_seconds": limits.window_seconds,
            },
        )
        raise RiskThrottled(retry_after=limits.window_seconds)
