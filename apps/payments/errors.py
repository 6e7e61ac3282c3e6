from __future__ import annotations

from apps.core.errors import ApplicationError, ConflictError, ErrorType


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


class SelfApprovalRefused(ApprovalNotAllowed):
    """The approver is the person who asked: maker-checker needs someone else (and is audited)."""


class RequestInFlight(ConflictError):
    """Another run of the same request (same Idempotency-Key) is at work right now: retry."""

    error_type = ErrorType.IDEMPOTENCY
    code = "idempotency_request_in_progress"
    default_message = "A request with this Idempotency-Key is still being processed; retry later."


class PaymentBlocked(ApplicationError):
    """Risk blocked the attempt before the gateway call; the failed payment stays, with its risk
    assessment, and can be fetched."""

    status_code = 402
    error_type = ErrorType.CARD
    code = "blocked_by_risk"
    default_message = "The payment was blocked by risk rules and not sent to the gateway."


class PaymentCardNotSavable(ConflictError):
    code = "payment_card_not_savable"
    default_message = "Only the card of a card payment that succeeded can be saved."


class PaymentHasNoCustomer(ApplicationError):
    code = "customer_required"
    default_message = "This payment has no customer: say whose card it is (`customer`)."
