from __future__ import annotations

from apps.core.errors import ApplicationError, ConflictError, ErrorType


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


class RawCardDataNotAllowed(ApplicationError):
    code = "raw_card_data_not_allowed"
    default_message = "Raw card numbers are not accepted here; send a gateway token (opaque_data)."


class PaymentStateError(ConflictError):
    code = "payment_invalid_state"


class PaymentBusy(ConflictError):
    code = "payment_operation_in_progress"
    default_message = "Another operation on this payment is still in progress; retry shortly."


class AmountTooLarge(ApplicationError):
    code = "amount_too_large"


class RefundStateError(ConflictError):
    code = "refund_invalid_state"


class ApprovalNotAllowed(ApplicationError):
    status_code = 403
    error_type = ErrorType.PERMISSION
    code = "approval_not_allowed"


class RequestInFlight(ConflictError):
    """Another run of the same request (same Idempotency-Key) is at work right now: retry."""

    error_type = ErrorType.IDEMPOTENCY
    code = "idempotency_request_in_progress"
    default_message = "A request with this Idempotency-Key is still being processed; retry later."
