"""Stripe's error envelope: `{"error": {type, code, decline_code, message, param, …}}`.

Absent members are left out (Stripe's schema has no nulls there). The SDK picks its exception
from the HTTP status: 400/404 InvalidRequestError (IdempotencyError for `idempotency_error`),
401 AuthenticationError, 402 CardError, 429 RateLimitError, anything else APIError.
"""

from __future__ import annotations

from typing import Any

INVALID_REQUEST = "invalid_request_error"
CARD_ERROR = "card_error"
API_ERROR = "api_error"
IDEMPOTENCY_ERROR = "idempotency_error"

DOCS = "https://stripe.com/docs/error-codes"


class StripeError(Exception):
    """An answer other than 200. `commit`: the endpoint ran and its work stands (a decline records
    a failed charge), so the transaction commits and an idempotent replay returns this same error;
    otherwise (validation, a missing object, a wrong state) nothing is kept."""

    def __init__(
        self,
        message: str,
        *,
        type: str = INVALID_REQUEST,
        code: str | None = None,
        decline_code: str | None = None,
        param: str | None = None,
        status: int = 400,
        commit: bool = False,
        extra: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.type = type
        self.code = code
        self.decline_code = decline_code
        self.param = param
        self.status = status
        self.commit = commit
        self.extra = extra or {}
        self.headers = headers or {}

    def as_dict(self) -> dict[str, Any]:
        error: dict[str, Any] = {}
        if self.code is not None:
            error["code"] = self.code
            error["doc_url"] = f"{DOCS}#{self.code.replace('_', '-')}"
        if self.decline_code is not None:
            error["decline_code"] = self.decline_code
        error["message"] = self.message
        if self.param is not None:
            error["param"] = self.param
        error.update(self.extra)
        error["type"] = self.type
        return error

    def envelope(self) -> dict[str, Any]:
        return {"error": self.as_dict()}


def missing_param(param: str) -> StripeError:
    return StripeError(f"Missing required param: {param}.", code="parameter_missing", param=param)


def unknown_param(param: str) -> StripeError:
    return StripeError(f"Received unknown parameter: {param}", code="parameter_unknown", param=param)


def invalid_param(param: str, message: str, *, code: str = "parameter_invalid_empty") -> StripeError:
    return StripeError(message, code=code, param=param)


def invalid_integer(param: str, value: Any) -> StripeError:
    return StripeError(f"Invalid integer: {value}", code="parameter_invalid_integer", param=param)


def invalid_enum(param: str, allowed: tuple[str, ...] | list[str]) -> StripeError:
    choices = ", ".join(allowed[:-1]) + f", or {allowed[-1]}" if len(allowed) > 1 else allowed[0]
    return StripeError(f"Invalid {param}: must be one of {choices}", param=param)


def resource_missing(kind: str, object_id: str, *, param: str = "id") -> StripeError:
    return StripeError(f"No such {kind}: '{object_id}'", code="resource_missing", param=param, status=404)


def route_not_found(method: str, path: str) -> StripeError:
    return StripeError(
        f"Unrecognized request URL ({method}: {path}). Please see https://stripe.com/docs or we can help at "
        "https://support.stripe.com/.",
        status=404,
    )


def unexpected_state(message: str, *, code: str, obj_key: str, obj: dict[str, Any]) -> StripeError:
    return StripeError(message, code=code, extra={obj_key: obj})


def api_error(status: int) -> StripeError:
    headers = {"Stripe-Should-Retry": "true"} if status in (502, 503, 504) else {}
    return StripeError(
        "An unknown error occurred. Please retry the request.", type=API_ERROR, status=status, headers=headers
    )


def rate_limited() -> StripeError:
    return StripeError(
        "Request rate limit exceeded. Learn more about rate limits here https://stripe.com/docs/rate-limits.",
        code="rate_limit",
        status=429,
        headers={"Stripe-Should-Retry": "true"},
    )


def invalid_api_key(key: str) -> StripeError:
    masked = key[:8] + "*" * max(len(key) - 12, 0) + key[-4:] if len(key) > 12 else key
    return StripeError(f"Invalid API Key provided: {masked}", status=401)


def missing_api_key() -> StripeError:
    return StripeError(
        "You did not provide an API key. You need to provide your API key in the Authorization header, using "
        "Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY'). See https://stripe.com/docs/api#authentication "
        "for details, or we can help at https://support.stripe.com/.",
        status=401,
    )


def publishable_key_refused() -> StripeError:
    return StripeError(
        "This API call cannot be made with a publishable API key. Please use a secret API key. You can find a list "
        "of your API keys at https://dashboard.stripe.com/account/apikeys.",
        status=401,
    )


def idempotency_mismatch(key: str) -> StripeError:
    return StripeError(
        "Keys for idempotent requests can only be used with the same parameters they were first used with. Try "
        f"using a key other than '{key}' if you meant to execute a different request.",
        type=IDEMPOTENCY_ERROR,
    )


def idempotency_in_use() -> StripeError:
    return StripeError(
        "There is currently another in-progress request using this Stripe token (probably the same idempotency "
        "key). Please try again later.",
        code="idempotency_key_in_use",
        status=409,
        headers={"Stripe-Should-Retry": "true"},
    )


def misreported_decline() -> StripeError:
    """What fault `misreport_declined` answers after the work was done: a plain decline, so the
    merchant records as failed what in fact went through."""
    return StripeError(
        "Your card was declined.", type=CARD_ERROR, code="card_declined", decline_code="generic_decline", status=402
    )
