from rest_framework.exceptions import APIException

from apps.core.errors import ApplicationError, ErrorType


class SessionTokenInvalid(ApplicationError):
    """A customer session token that is refused: 401, with a code saying why (never which check
    of the signature failed)."""

    status_code = 401
    error_type = ErrorType.AUTHENTICATION
    code = "session_token_invalid"
    default_message = "Invalid customer session token."


class SessionsUnavailable(APIException):
    """Revocations live in Redis: without it no customer token can be checked, so none is accepted
    (fail closed), and no revocation is confirmed that would not be in force."""

    status_code = 503
    default_code = "service_unavailable"
    default_detail = "Customer sessions cannot be checked right now; retry shortly."


SESSIONS_UNAVAILABLE_CODE = "customer_sessions_unavailable"


class AbilityUnknown(ApplicationError):
    code = "parameter_invalid"
    default_message = "Unknown ability."
