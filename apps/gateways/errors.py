"""The gateway error taxonomy. Every adapter raises only these."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

from .base import GatewayResult


def public_url(url: str) -> str:
    """An address fit to show: scheme, host, port and path; never a user, password or query."""
    if not url:
        return ""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


class GatewayError(Exception):
    """Base class; `code` is stable, `message` is safe to show staff."""

    code = "gateway_error"

    def __init__(self, message: str, *, reason_code: str = "", response_code: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.reason_code = reason_code
        self.response_code = response_code


class GatewayDeclined(GatewayError):
    """Final: the gateway said no. Retrying the same request will not help."""

    code = "declined"

    def __init__(self, result: GatewayResult) -> None:
        super().__init__(
            result.message or "Declined", reason_code=result.reason_code, response_code=result.response_code
        )
        self.result = result


class GatewayRetryable(GatewayError):
    """Nothing happened at the gateway (not reached, or refused before processing). `url` is the
    address that could not be reached, when that is why (see `public_url`)."""

    code = "gateway_unavailable"

    def __init__(self, message: str, *, reason_code: str = "", response_code: str = "", url: str = "") -> None:
        super().__init__(message, reason_code=reason_code, response_code=response_code)
        self.url = public_url(url)


class GatewayOutcomeUnknown(GatewayError):
    """The request may have been processed (timeout, dropped response): find out before acting."""

    code = "outcome_unknown"


class GatewayMisconfigured(GatewayError):
    """Our side is wrong (credentials, account settings); needs a person, not a retry."""

    code = "gateway_misconfigured"


class GatewayFeatureUnavailable(GatewayMisconfigured):
    """The gateway account lacks what the request needs (Razorpay: recurring payments, which it
    enables per account on request); final until the merchant has it turned on."""

    code = "feature_unavailable"


class GatewayNotFound(GatewayError):
    """The gateway has no such transaction."""

    code = "transaction_not_found"
