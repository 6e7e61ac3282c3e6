"""Site-wide error views: API paths answer with the JSON error envelope, others with HTML."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views import defaults
from django.views.decorators.csrf import csrf_exempt

from .context import current_request_id
from .errors import ErrorType


def error_envelope(*, error_type: str, code: str, message: str, param: str | None = None) -> dict[str, object]:
    return {
        "error": {"type": error_type, "code": code, "message": message, "param": param},
        "request_id": current_request_id(),
    }


def _is_api(request: HttpRequest) -> bool:
    return request.path.startswith("/api/")


@csrf_exempt
def api_route_not_found(request: HttpRequest) -> HttpResponse:
    body = error_envelope(
        error_type=ErrorType.INVALID_REQUEST,
        code="route_not_found",
        message=f"Unrecognized request URL ({request.method}: {request.path}).",
    )
    return JsonResponse(body, status=404)


# Paths whose errors are answered in the JSON error envelope (the API's and the gateways' webhooks).
ENVELOPE_PREFIXES = ("/api/", "/webhooks/")


def bad_request(request: HttpRequest, exception: Exception) -> HttpResponse:
    """Django's own refusals before any view (too many fields or files, a bad Host header ...)."""
    if request.path.startswith(ENVELOPE_PREFIXES):
        body = error_envelope(
            error_type=ErrorType.INVALID_REQUEST, code="request_invalid", message="The request could not be read."
        )
        return JsonResponse(body, status=400)
    return defaults.bad_request(request, exception)


def page_not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    if _is_api(request):
        return api_route_not_found(request)
    return defaults.page_not_found(request, exception)


def server_error(request: HttpRequest) -> HttpResponse:
    if _is_api(request):
        body = error_envelope(error_type=ErrorType.API, code="internal_error", message="An unexpected error occurred.")
        return JsonResponse(body, status=500)
    return defaults.server_error(request)
