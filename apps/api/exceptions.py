"""Turns every error raised under the API into the one envelope:

    {"error": {"type", "code", "message", "param"}, "request_id"}

Codes are stable and documented in docs/api.md.
"""

from __future__ import annotations

import math
from typing import Any

import structlog
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import set_rollback

from apps.core.errors import ApplicationError, ErrorType
from apps.core.views import error_envelope

logger = structlog.get_logger(__name__)

_MISSING_CODES = {"required", "null", "blank"}

_DRF_MAPPING: list[tuple[type[exceptions.APIException], str, str]] = [
    (exceptions.ParseError, ErrorType.INVALID_REQUEST, "invalid_json"),
    (exceptions.NotAuthenticated, ErrorType.AUTHENTICATION, "authentication_required"),
    (exceptions.AuthenticationFailed, ErrorType.AUTHENTICATION, "api_key_invalid"),
    (exceptions.PermissionDenied, ErrorType.PERMISSION, "permission_denied"),
    (exceptions.NotFound, ErrorType.INVALID_REQUEST, "resource_missing"),
    (exceptions.MethodNotAllowed, ErrorType.INVALID_REQUEST, "method_not_allowed"),
    (exceptions.NotAcceptable, ErrorType.INVALID_REQUEST, "not_acceptable"),
    (exceptions.UnsupportedMediaType, ErrorType.INVALID_REQUEST, "unsupported_media_type"),
    (exceptions.Throttled, ErrorType.RATE_LIMIT, "rate_limited"),
]


def _flatten(detail: Any, path: str = "") -> list[tuple[str, exceptions.ErrorDetail]]:
    """[(dotted.param.path, ErrorDetail), ...] from DRF's nested validation detail."""
    if isinstance(detail, dict):
        items: list[tuple[str, exceptions.ErrorDetail]] = []
        for key, value in detail.items():
            child = path if key == "non_field_errors" else (f"{path}.{key}" if path else str(key))
            items.extend(_flatten(value, child))
        return items
    if isinstance(detail, list):
        items = []
        for index, value in enumerate(detail):
            nested = isinstance(value, dict | list)
            items.extend(_flatten(value, f"{path}.{index}" if nested and path else path))
        return items
    return [(path, detail)]


def _parameter_code(detail: exceptions.ErrorDetail) -> str:
    """Our code for one of DRF's reasons (`required`, `min_value` ...): the API speaks one
    vocabulary, at the top of the envelope and in its details alike."""
    if detail.code in _MISSING_CODES:
        return "parameter_missing"
    return "parameter_unknown" if detail.code == "unknown" else "parameter_invalid"


def _validation_response(exc: exceptions.ValidationError) -> Response:
    errors = _flatten(exc.detail)
    param, first = errors[0] if errors else ("", exceptions.ErrorDetail("Invalid request.", "invalid"))
    body = error_envelope(
        error_type=ErrorType.INVALID_REQUEST,
        code=_parameter_code(first),
        message=f"{param}: {first}" if param else str(first),
        param=param or None,
    )
    if len(errors) > 1:
        body["error"]["details"] = [  # type: ignore[index]
            {"param": p or None, "code": _parameter_code(d), "message": str(d)} for p, d in errors
        ]
    return Response(body, status=status.HTTP_400_BAD_REQUEST)


def _drf_response(exc: exceptions.APIException) -> Response:
    error_type, code = ErrorType.API, "api_error"
    for cls, mapped_type, mapped_code in _DRF_MAPPING:
        if isinstance(exc, cls):
            error_type, code = mapped_type, mapped_code
            break
    detail_code = exc.get_codes()
    if isinstance(detail_code, str) and detail_code not in {exc.default_code, "invalid", "error"}:
        code = detail_code  # a specific code given where the exception was raised
    headers: dict[str, str] = {}
    if getattr(exc, "auth_header", None):
        headers["WWW-Authenticate"] = exc.auth_header  # type: ignore[attr-defined]
    message = str(exc.detail)
    if isinstance(exc, exceptions.Throttled):
        wait_seconds = getattr(exc, "wait", None)
        wait = math.ceil(wait_seconds) if wait_seconds is not None else 1
        headers["Retry-After"] = str(max(wait, 1))
        message = f"Too many requests; retry after {max(wait, 1)} seconds."
    body = error_envelope(error_type=error_type, code=code, message=message)
    return Response(body, status=exc.status_code, headers=headers)


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response:
    set_rollback()
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()

    if isinstance(exc, ApplicationError):
        body = error_envelope(error_type=exc.error_type, code=exc.code, message=exc.message, param=exc.param)
        body["error"].update(exc.extra)  # type: ignore[attr-defined]
        headers = {"WWW-Authenticate": 'Bearer realm="api"'} if exc.status_code == 401 else {}
        if exc.status_code == 429 and isinstance(exc.extra.get("retry_after"), int):
            headers["Retry-After"] = str(exc.extra["retry_after"])
        if exc.status_code >= 500:
            logger.error("application_error", code=exc.code, message=exc.message)
        return Response(body, status=exc.status_code, headers=headers)
    if isinstance(exc, exceptions.ValidationError):
        return _validation_response(exc)
    if isinstance(exc, exceptions.APIException):
        return _drf_response(exc)

    logger.exception("unhandled_api_error", view=type(context.get("view")).__name__)
    body = error_envelope(error_type=ErrorType.API, code="internal_error", message="An unexpected error occurred.")
    return Response(body, status=status.HTTP_500_INTERNAL_SERVER_ERROR)
