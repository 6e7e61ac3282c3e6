from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse

from .cards import contains_card_number
from .context import REQUEST_ID_HEADER, RequestContext, bind_request_context, clean_request_id
from .errors import ErrorType
from .net import client_ip
from .views import ENVELOPE_PREFIXES, error_envelope


def _storable_user_agent(value: str) -> str:
    """What audit rows keep of the User-Agent: never a card number, even one run into letters."""
    return "[removed: it held a card number]" if contains_card_number(value) else value


class RequestContextMiddleware:
    """Accepts or makes the request's correlation id and returns it on every response."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request_id = clean_request_id(request.headers.get(REQUEST_ID_HEADER))
        context = RequestContext(
            request_id=request_id,
            ip_address=client_ip(request),
            user_agent=_storable_user_agent(request.headers.get("User-Agent", "")[:512]),
            request=request,
        )
        bind_request_context(context)
        request.request_id = request_id  # type: ignore[attr-defined]
        response = self.get_response(request)
        response[REQUEST_ID_HEADER] = request_id
        return response


def _refusal(request: HttpRequest, status: int, code: str, message: str, param: str | None = None) -> HttpResponse:
    if request.path.startswith(ENVELOPE_PREFIXES):
        body = error_envelope(error_type=ErrorType.INVALID_REQUEST, code=code, message=message, param=param)
        return JsonResponse(body, status=status)
    return HttpResponse(message, status=status, content_type="text/plain; charset=utf-8")


def _nul_in_request(request: HttpRequest) -> str | None:
    """Where a NUL character hides in the request line or headers, if anywhere (PostgreSQL cannot
    store one, and no legitimate client sends one)."""
    if "\x00" in request.path:
        return "path"
    for key, values in request.GET.lists():
        if "\x00" in key or any("\x00" in value for value in values):
            return key.replace("\x00", "") or "query"
    for name, value in request.headers.items():
        if "\x00" in value:
            return name
    return None


class RequestGuardMiddleware:
    """Refuses what no view should see, before any view reads it: a NUL character in the path,
    query or headers, or a card number in the path (400); on API and webhook paths, a declared body over
    DATA_UPLOAD_MAX_MEMORY_SIZE (413), in the error envelope. API responses are never cached
    (`Cache-Control: no-store`)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        refusal = self._refusal(request)
        response = refusal if refusal is not None else self.get_response(request)
        if request.path.startswith("/api/v1/") and not response.has_header("Cache-Control"):
            response["Cache-Control"] = "no-store"
        return response

    def _refusal(self, request: HttpRequest) -> HttpResponse | None:
        where = _nul_in_request(request)
        if where is not None:
            return _refusal(request, 400, "parameter_invalid", "The request contains a NUL character.", where)
        if contains_card_number(request.path):  # paths are logged and kept (an idempotent request's)
            return _refusal(request, 400, "parameter_invalid", "The URL must not contain a card number.", "path")
        # JSON and webhook bodies are read whole; the admin's file uploads stream to disk (Django
        # leaves files out of DATA_UPLOAD_MAX_MEMORY_SIZE), so only those paths are refused here.
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        declared = request.META.get("CONTENT_LENGTH") or "0"
        if (
            limit is not None
            and request.path.startswith(ENVELOPE_PREFIXES)
            and declared.isdigit()
            and int(declared) > limit
        ):
            return _refusal(request, 413, "request_too_large", f"The request body is over {limit} bytes.")
        return None
