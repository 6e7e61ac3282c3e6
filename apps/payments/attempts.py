"""Gateway references of the calls made for an API request that carried an Idempotency-Key.

The API derives one reference per use of a key (apps.api.idempotency, 17 characters). Every
gateway call made for that request carries it with an attempt number (`<reference>a01`, `a02`
...), so a retry of the request finds, by prefix, the calls its first run made and answers with
them instead of calling again. A new attempt is made only when every earlier one provably did
nothing at the gateway.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from django.db import IntegrityError

from .errors import RequestInFlight
from .models import GatewayTransaction

MAX_ATTEMPTS = 99


class TooManyAttempts(RuntimeError):
    pass


def attempt_reference(reference: str, attempt: int) -> str:
    if not 1 <= attempt <= MAX_ATTEMPTS:
        raise TooManyAttempts(f"{reference}: attempt {attempt} is out of range")
    return f"{reference}a{attempt:02d}"


def next_attempt_reference(reference: str, earlier: list[GatewayTransaction]) -> str:
    """The reference of the next call for this request; "" (a random one) without a key."""
    return attempt_reference(reference, len(earlier) + 1) if reference else ""


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
