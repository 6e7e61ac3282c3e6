"""Razorpay's error envelope: `{"error": {code, description, field, source, step, reason, metadata}}`.

The SDK picks its exception class from `code` (BAD_REQUEST_ERROR, GATEWAY_ERROR, SERVER_ERROR)
and keeps only `description`; everything else is for people and for Checkout's callbacks.
"""

from __future__ import annotations

from typing import Any

BAD_REQUEST_ERROR = "BAD_REQUEST_ERROR"
GATEWAY_ERROR = "GATEWAY_ERROR"
SERVER_ERROR = "SERVER_ERROR"


class RzpError(Exception):
    def __init__(
        self,
        description: str,
        *,
        code: str = BAD_REQUEST_ERROR,
        field: str | None = None,
        source: str = "business",
        step: str = "payment_initiation",
        reason: str = "input_validation_failed",
        metadata: dict[str, Any] | None = None,
        status: int = 400,
    ) -> None:
        super().__init__(description)
        self.description = description
        self.code = code
        self.field = field
        self.source = source
        self.step = step
        self.reason = reason
        self.metadata = metadata or {}
        self.status = status

    def as_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "description": self.description,
            "field": self.field,
            "source": self.source,
            "step": self.step,
            "reason": self.reason,
            "metadata": self.metadata,
        }

    def envelope(self) -> dict[str, Any]:
        return {"error": self.as_dict()}


def not_found() -> RzpError:
    return RzpError("The id provided does not exist", source="business", step="payment_initiation")


def recurring_not_enabled() -> RzpError:
    """An account without recurring payments, asked for a recurring order or charge."""
    return RzpError("Recurring payments are not enabled for this merchant.", step="NA", reason="NA")


def route_not_found() -> RzpError:
    return RzpError("The requested URL was not found on the server.", source="NA", step="NA", reason="NA")


def server_error(status: int) -> RzpError:
    return RzpError(
        "The server encountered an error. The incident has been reported to admins.",
        code=SERVER_ERROR,
        source="internal",
        step="NA",
        reason="server_error",
        status=status,
    )


def misreported_failure(operation: str) -> RzpError:
    """What fault `misreport_declined` answers after the work was done: a plain, final refusal,
    so the merchant records as failed what in fact went through (a refund we think failed)."""
    what = "refund" if operation == "payments.refund" else "request"
    return RzpError(
        f"The {what} could not be processed. Please try again later.", source="bank", step="NA", reason="NA"
    )


AUTHENTICATION_FAILED: dict[str, Any] = {"error": {"code": BAD_REQUEST_ERROR, "description": "Authentication failed"}}
