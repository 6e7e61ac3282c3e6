"""Arguments of management commands: a bad value stops the command with a message saying what was
given and what is expected, never with a traceback.

The `*_arg` functions are argparse `type=`s. They raise ArgumentTypeError, which argparse reports
as "error: argument --limit: must be ...; got 'abc'" (exit status 2 from the shell, CommandError
from call_command); a CommandError raised there would escape as a traceback from the shell, since
Django parses the arguments outside its own error handling. An amount in major units needs the
currency of the object it is for, known only once that is found: `amount_from_major` runs in
`handle` and raises CommandError.
"""

from __future__ import annotations

import math
from argparse import ArgumentTypeError
from datetime import date, datetime
from decimal import Decimal, DecimalException

from django.core.management.base import CommandError
from django.utils import timezone

from .money import exponent, to_decimal, to_minor

# The largest value of the database's integer columns (PostgreSQL bigint): ids, amounts, limits.
LARGEST = 2**63 - 1


def _whole_number(text: str) -> int | None:
    stripped = text.strip()
    if not (stripped.isascii() and stripped.isdigit()):
        return None
    return int(stripped)


def positive_int_arg(text: str) -> int:
    """A count, a limit or a batch size: a whole number of at least 1."""
    value = _whole_number(text)
    if value is None or not 1 <= value <= LARGEST:
        raise ArgumentTypeError(f"must be a whole number of at least 1, such as 100; got {text!r}")
    return value


def minor_units_arg(text: str) -> int:
    """An amount in minor units (cents), more than zero."""
    value = _whole_number(text)
    if value is None or not 1 <= value <= LARGEST:
        raise ArgumentTypeError(
            f"must be an amount in minor units (cents), a whole number above zero such as 900 for 9.00 USD; "
            f"got {text!r}"
        )
    return value


def _seconds(text: str, *, zero_allowed: bool) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and (value > 0 or (zero_allowed and value == 0))):
        above = "0 or more" if zero_allowed else "above zero"
        raise ArgumentTypeError(f"must be a number of seconds {above}, such as 0.5 or 30; got {text!r}")
    return value


def seconds_arg(text: str) -> float:
    """A time limit in seconds, 0 or more (fractions allowed)."""
    return _seconds(text, zero_allowed=True)


def positive_seconds_arg(text: str) -> float:
    """A pause in seconds, more than zero (fractions allowed)."""
    return _seconds(text, zero_allowed=False)


def day_arg(text: str) -> date:
    """A day as YYYY-MM-DD."""
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise ArgumentTypeError(f"must be a day as YYYY-MM-DD, such as 2026-12-01; got {text!r}") from None


def moment_arg(text: str) -> datetime:
    """An ISO 8601 date or date-time; without a zone, in the current time zone (UTC)."""
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ArgumentTypeError(
            f"must be an ISO 8601 date or date-time, such as 2026-12-01 or 2026-12-01T09:30:00Z; got {text!r}"
        ) from None
    return moment if timezone.is_aware(moment) else timezone.make_aware(moment)


def amount_from_major(text: str, currency: str, *, option: str = "--amount", whose: str = "") -> int:
    """`text`, an amount in major units of `currency` ("12.50"), in minor units (1250). `whose`
    says where the currency comes from, for the message ("the payment's")."""
    places = exponent(currency)
    example = to_decimal(1250 * 10 ** max(places - 2, 0), currency)
    precision = f"at most {places} decimal places" if places else "no decimal places"
    in_currency = f"in {whose} currency, {currency.upper()}" if whose else f"in {currency.upper()}"
    expected = f"{option} must be an amount above zero {in_currency} ({precision}), such as {example}"
    try:
        value = Decimal(text.strip())
        if not value.is_finite() or value <= 0:
            raise ValueError(text)
        minor = to_minor(value, currency)
    except (DecimalException, ValueError):
        raise CommandError(f"{expected}; got {text!r}") from None
    if minor > LARGEST:
        raise CommandError(f"{expected}; got {text!r}, more than any amount can be")
    return minor
