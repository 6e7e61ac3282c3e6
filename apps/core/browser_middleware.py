"""The middleware the people's pages need (the admin, the API docs, the storefront, sessions'
logins), kept off the machines' paths (the API, gateways' webhooks, health and metrics).

Sessions, CSRF, login, OTP, messages, axes, framing and CSP headers cost every API request their
work (a session lookup, a CSRF token) and protect nothing there: an API request authenticates with
its key on each call and no browser session is involved. `BrowserOnlyMiddleware` stands in
MIDDLEWARE where they stood and runs BROWSER_MIDDLEWARE, in order, as a chain of its own for
every other path; their `process_view` and `process_exception` hooks (CSRF's check is one) run
as Django would run them. A system check (core.E002) keeps the admin's required middleware in
BROWSER_MIDDLEWARE, in place of Django's own checks of MIDDLEWARE (silenced in settings).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core import checks
from django.core.exceptions import MiddlewareNotUsed
from django.http import HttpRequest, HttpResponse
from django.utils.module_loading import import_string

MACHINE_PREFIXES = ("/api/v1/", "/webhooks/", "/health/", "/metrics")
REQUIRED = (
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "axes.middleware.AxesMiddleware",
)

Handler = Callable[[HttpRequest], HttpResponse]


def is_machine_path(path: str) -> bool:
    return path.startswith(MACHINE_PREFIXES)


class BrowserOnlyMiddleware:
    def __init__(self, get_response: Handler) -> None:
        self.get_response = get_response
        self._view_hooks: list[Callable[..., HttpResponse | None]] = []
        self._exception_hooks: list[Callable[..., HttpResponse | None]] = []
        handler: Handler = get_response
        for path in reversed(settings.BROWSER_MIDDLEWARE):
            try:
                instance = import_string(path)(handler)
            except MiddlewareNotUsed:
                continue
            if hasattr(instance, "process_view"):
                self._view_hooks.insert(0, instance.process_view)
            if hasattr(instance, "process_exception"):
                self._exception_hooks.append(instance.process_exception)
            handler = instance
        self._browser = handler

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if is_machine_path(request.path_info):
            return self.get_response(request)
        return self._browser(request)

    def process_view(
        self, request: HttpRequest, view: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> HttpResponse | None:
        if is_machine_path(request.path_info):
            return None
        for hook in self._view_hooks:
            response = hook(request, view, args, kwargs)
            if response is not None:
                return response
        return None

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if is_machine_path(request.path_info):
            return None
        for hook in self._exception_hooks:  # innermost first, as Django runs them
            response = hook(request, exception)
            if response is not None:
                return response
        return None


def check_browser_middleware(app_configs: Any, **kwargs: Any) -> list[checks.CheckMessage]:
    """What the admin, django-axes and CSRF need is in BROWSER_MIDDLEWARE, and the chain in
    MIDDLEWARE (registered in apps.core.apps)."""
    if "apps.core.browser_middleware.BrowserOnlyMiddleware" not in settings.MIDDLEWARE:
        return []
    missing = [path for path in REQUIRED if path not in settings.BROWSER_MIDDLEWARE]
    if missing:
        return [checks.Error(f"BROWSER_MIDDLEWARE lacks {', '.join(missing)}", id="core.E002")]
    return []
