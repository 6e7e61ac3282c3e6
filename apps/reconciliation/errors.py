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


class RunRequestInvalid(ApplicationError):
    """A reconciliation run asked for days or an account it cannot cover; `param` names the input."""

    code = "invalid_reconciliation_run"
    default_message = "The reconciliation run cannot cover those days."


class RunInProgress(ConflictError):
    """A queued or running run already covers some of these days for this account."""

    code = "reconciliation_run_in_progress"
    default_message = "A reconciliation run for these days is already queued or running."
