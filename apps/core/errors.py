"""One base application error carrying a stable code, an HTTP status and a message.

Services raise these; the API's exception handler turns every error into the envelope
`{"error": {"type", "code", "message", "param"}, "request_id"}`. Admin actions and
management commands show `message`.
"""

from __future__ import annotations

from typing import Any


class ErrorType:
    INVALID_REQUEST = "invalid_request_error"
    AUTHENTICATION = "authentication_error"
    PERMISSION = "permission_error"
    RATE_LIMIT = "rate_limit_error"
    IDEMPOTENCY = "idempotency_error"
    CARD = "card_error"
    API = "api_error"


class ApplicationError(Exception):
    status_code = 400
    error_type = ErrorType.INVALID_REQUEST
    code = "invalid_request"
    default_message = "The request could not be processed."

    def __init__(
        self,
        message: str | None = None,
        *,
        code: str | None = None,
        param: str | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        self.message = message or self.default_message
        if code:
            self.code = code
        self.param = param
        self.extra = extra or {}
        super().__init__(self.message)


class NotFoundError(ApplicationError):
    status_code = 404
    code = "resource_missing"
    default_message = "No such object."


class ConflictError(ApplicationError):
    status_code = 409
    code = "conflict"
    default_message = "The object is not in a state that allows this."


class ConfigurationError(ApplicationError):
    status_code = 500
    error_type = ErrorType.API
    code = "misconfigured"
    default_message = "The server is not configured for this request."
