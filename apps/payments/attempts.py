"""Gateway references of the calls made for an API request that carried an Idempotency-Key.

The API derives one reference per use of a key (apps.api.idempotency, 17 characters). Every
gateway call made for that request carries it with an attempt number (`<reference>a01`, `a02`
...), so a retry of the request finds, by prefix, the calls its first run made and answers with
them instead of calling again. A new attempt is made only when every earlier one provably did
nothing at the gateway.
"""

from __future__ import annotations

from collections.abc import Iterable

from .models import GatewayTransaction

MAX_ATTEMPTS = 99


class TooManyAttempts(RuntimeError):
    pass


def attempt_reference(reference: str, attempt: int) -> str:
    if not 1 <= attempt <= MAX_ATTEMPTS:
        raise TooManyAttempts(f"{reference}: attempt {attempt} is out of range")
    return f"{reference}a{attempt:02d}"


def earlier_calls(reference: str, *, kinds: Iterable[str]) -> list[GatewayTransaction]:
    """The calls already made for this request, oldest first ([] without a reference)."""
    if not reference:
        return []
    return list(
        GatewayTransaction.objects.filter(reference__startswith=f"{reference}a", kind__in=list(kinds))
        .select_related("payment", "gateway_account", "refund")
        .order_by("id")
    )


def next_attempt_reference(reference: str, earlier: list[GatewayTransaction]) -> str:
    """The reference of the next call for this request; "" (a random one) without a key."""
    return attempt_reference(reference, len(earlier) + 1) if reference else ""
