from __future__ import annotations

from apps.core.errors import ApplicationError, ConflictError, ErrorType


class ReconciliationError(ApplicationError):
    code = "resolution_not_applicable"
    default_message = "The discrepancy cannot be resolved that way."


class DiscrepancyStateError(ConflictError):
    code = "discrepancy_state"
    default_message = "The discrepancy is not open any more."


class ResolutionNotAllowed(ApplicationError):
    status_code = 403
    error_type = ErrorType.PERMISSION
    code = "resolution_not_allowed"
    default_message = "You may not resolve this discrepancy that way."


class SelfApprovalRefused(ResolutionNotAllowed):
    """The approver is the person who asked for the write-off: maker-checker needs someone else
    (and is audited)."""
