"""Errors of the risk app's writes, each with a stable code."""

from __future__ import annotations

from apps.core.errors import ApplicationError, ConflictError, ErrorType


class RuleChangeNotAllowed(ApplicationError):
    status_code = 403
    error_type = ErrorType.PERMISSION
    code = "risk_rule_change_not_allowed"
    default_message = "You may not decide on changes to live risk rules."


class SelfApprovalRefused(RuleChangeNotAllowed):
    """The approver proposed the change: maker-checker needs someone else (and is audited)."""


class RuleChangeStateError(ConflictError):
    code = "risk_rule_change_state"
    default_message = "The rule change is not waiting for approval any more."


class RuleChangeStale(ConflictError):
    """The rule changed, or was deleted, after the change was proposed: it is superseded and
    must be proposed again against the rule as it is now."""

    code = "risk_rule_change_stale"
