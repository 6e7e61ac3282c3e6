"""Gateway references of the calls made for an API request that carried an Idempotency-Key.

The API derives one reference per use of a key (apps.api.idempotency, 17 characters). Every
gateway call made for that request carries it with an attempt number (`<reference>a01`, `a02`
...), so a retry of the request finds, by prefix, the calls its first run made and answers with
them instead of calling again. A new attempt is made only when every earlier one provably did
nothing at the gateway.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

from django.db import IntegrityError

from apps.core.ids import digest_token, random_token

from .errors import RequestInFlight
from .models import GatewayTransaction

MAX_ATTEMPTS = 99
_STAFF_REFERENCE = re.compile(r"s[0-9A-Za-z]{16}")


class TooManyAttempts(RuntimeError):
    pass


def attempt_reference(reference: str, attempt: int) -> str:
    if not 1 <= attempt <= MAX_ATTEMPTS:
        raise TooManyAttempts(f"{reference}: attempt {attempt} is out of range")
    return f"{reference}a{attempt:02d}"


def next_attempt_reference(reference: str, earlier: list[GatewayTransaction]) -> str:
    """The reference of the next call for this request; "" (a random one) without a key."""
    return attempt_reference(reference, len(earlier) + 1) if reference else ""


def new_staff_reference() -> str:
    """The reference of one staff confirmation of a money action in the admin (17 characters, as
    the API's). The confirmation form carries it, so submitting that confirmation again (a double
    click, a resubmission after a timeout or a dead worker) finds what the first submission did
    instead of calling the gateway again."""
    return "s" + random_token(16)


def command_reference(payment_id: str, given: str) -> str:
    """The reference of a money command run with `--reference`: the same for every run naming that
    payment and that reference, 17 characters whatever was given; "" without one."""
    if not given:
        return ""
    return "c" + digest_token(payment_id, given)


def staff_reference_valid(value: str) -> bool:
    return _STAFF_REFERENCE.fullmatch(value) is not None


@contextmanager
def one_run_per_reference() -> Iterator[None]:
    """Around the transaction that records a request's next call (or what it creates): two runs of
    one request (a retry that took over from a holder still alive) reach for the same reference;
    the unique constraint lets one through and the other is told to retry."""
    try:
        yield
    except IntegrityError as exc:
        if "reference" not in str(exc):
            raise
        raise RequestInFlight() from exc
