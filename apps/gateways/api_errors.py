"""What the API answers when a gateway says no or cannot be reached, and when a call may not be
made at all (no account, a currency it does not settle, raw card data where it is not allowed).
Used by payments and by saved cards alike."""

from __future__ import annotations

from apps.core.errors import ApplicationError, ErrorType


class PaymentDeclined(ApplicationError):
    """The gateway declined; the failed payment (or refund) stays and can be fetched."""

    status_code = 402
    error_type = ErrorType.CARD
    code = "card_declined"
    default_message = "The card was declined."


class GatewayUnavailable(ApplicationError):
    status_code = 503
    error_type = ErrorType.API
    code = "gateway_unavailable"
    default_message = "The payment gateway could not be reached; nothing was charged. Retry later."


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
