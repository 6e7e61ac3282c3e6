from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from .context import REQUEST_ID_HEADER, RequestContext, bind_request_context, clean_request_id
from .net import client_ip


class RequestContextMiddleware:
    """Accepts or makes the request's correlation id and returns it on every response."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request_id = clean_request_id(request.headers.get(REQUEST_ID_HEADER))
        context = RequestContext(
            request_id=request_id,
            ip_address=client_ip(request),
            user_agent=request.headers.get("User-Agent", "")[:512],
            request=request,
        )
        bind_request_context(context)
        request.request_id = request_id  # type: ignore[attr-defined]
        response = self.get_response(request)
        response[REQUEST_ID_HEADER] = request_id
        return response
