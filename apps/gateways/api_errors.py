"""What the API answers when a gateway says no or cannot be reached, and when a call may not be
made at all (no account, a currency it does not settle, raw card data where it is not allowed).
Used by payments and by saved cards alike."""

from __future__ import annotations

from typing import Any

from apps.core.errors import ApplicationError, ErrorType

from .errors import GatewayError, GatewayRetryable


class PaymentDeclined(ApplicationError):
    """The gateway declined; the failed payment (or refund) stays and can be fetched."""

    status_code = 402
    error_type = ErrorType.CARD
    code = "card_declined"
    default_message = "The card was declined."


class CardExpired(PaymentDeclined):
    """The card is past its expiry month: refused before the gateway (nothing is sent), as an issuer
    would refuse it."""

    code = "expired_card"
    default_message = "The card has expired."


class GatewayUnavailable(ApplicationError):
    status_code = 503
    error_type = ErrorType.API
    code = "gateway_unavailable"
    default_message = "The payment gateway could not be reached; nothing was charged. Retry later."


def gateway_unavailable(
    error: GatewayError | None, consequence: str, *, extra: dict[str, Any] | None = None
) -> GatewayUnavailable:
    """The 503 for a call that did not take effect: the address that could not be reached (when that
    is what happened; never credentials) and what did not happen, e.g. "nothing was refunded. Retry later."."""
    url = error.url if isinstance(error, GatewayRetryable) else ""
    where = f" at {url}" if url else ""
    return GatewayUnavailable(f"The payment gateway{where} could not be reached; {consequence}", extra=extra)


class GatewayMisconfiguredError(ApplicationError):
    status_code = 502
    error_type = ErrorType.API
    code = "gateway_misconfigured"
    default_message = "The gateway account is misconfigured; contact support."


class NoGatewayAccount(ApplicationError):
    status_code = 409
    code = "no_gateway_account"
    default_message = "This merchant has no active gateway account for this mode."


class CurrencyNotSupported(ApplicationError):
    code = "currency_not_supported"


class PaymentMethodNotSupported(ApplicationError):
    code = "payment_method_not_supported"
    default_message = "This payment method is not supported by this merchant's gateway account."


class VoiceAuthorizationNotSupported(ApplicationError):
    code = "voice_authorization_not_supported"
    default_message = (
        "This merchant's gateway account cannot capture an authorization obtained by phone (authorization_code)."
    )


class RawCardDataNotAllowed(ApplicationError):
    code = "raw_card_data_not_allowed"
    default_message = "Raw card numbers are not accepted here; send a gateway token (opaque_data)."
