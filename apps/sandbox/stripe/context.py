"""What every operation of the Stripe sandbox is given: who calls, under which request, from where."""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from apps.sandbox.models import StripeAccount

from .errors import StripeError, missing_param


@dataclass(frozen=True)
class Call:
    account: StripeAccount
    request_id: str | None = None  # None: a change made outside the API (3-D Secure page, test helpers)
    idempotency_key: str | None = None
    origin: str = ""  # "http://host:port" the request came to, for absolute challenge URLs
    publishable: bool = False  # authenticated with the publishable key (what Stripe.js does)
    # Stripe's search index may lag behind writes (its docs: do not search for what you just wrote);
    # fault `search_lag` leaves out what was created this many seconds ago or later.
    search_lag_seconds: int = 0


def check_client_secret(call: Call, client_secret: str, params: Mapping[str, Any], *, kind: str) -> None:
    """With the publishable key an intent is reachable only with its client secret (Stripe.js);
    with the secret key a client secret, if sent, must still be the intent's."""
    given = params.get("client_secret")
    if given in (None, ""):
        if call.publishable:
            raise missing_param("client_secret")
        return
    if not isinstance(given, str) or not hmac.compare_digest(given.encode(), client_secret.encode()):
        raise StripeError(
            f"The client_secret provided does not match any associated {kind} on this account. Ensure the "
            "publishable key used belongs to the same account that created the "
            f"{kind}.",
            param="client_secret",
        )
