"""HTTP endpoints of the Stripe sandbox (mounted at /sandbox/stripe/): the v1 API the SDK calls,
and the 3-D Secure challenge page an intent's `next_action.redirect_to_url.url` points to.

Every API answer carries `Request-Id` and `Stripe-Version` (the object shapes are 2023-08-16's,
whatever version the client asks for). Faults (SandboxFault gateway "stripe", match = operation):
`http_error` (value: status; 429 answers rate_limit) and `reset` stop the request before anything
runs; `latency` delays the execution once the idempotency key is claimed (a repeat meanwhile gets
409); `hang_after` and `drop_response` act after the work and its idempotent answer are stored;
`misreport_declined` answers a card decline although the work went through (a retry with the same
key replays the truth).
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import logging
from typing import Any
from urllib.parse import parse_qsl

from csp.constants import SELF
from csp.decorators import csp_replace, csp_update
from django.contrib.staticfiles import finders
from django.db import transaction
from django.db.models import Q
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.views.decorators.clickjacking import xframe_options_sameorigin
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods

from apps.core.money import to_decimal
from apps.sandbox.faults import Fault, reset_connection, sleep_ms, take_faults
from apps.sandbox.models import SandboxCall, SandboxFault, StripeAccount

from . import expand, idempotency, params
from .challenge import ChallengeNotFound, ChallengeNotPending, challenge_get, challenge_resolve
from .context import Call
from .errors import (
    StripeError,
    api_error,
    invalid_api_key,
    misreported_decline,
    missing_api_key,
    publishable_key_refused,
    rate_limited,
    route_not_found,
)
from .ids import request_id as new_request_id
from .objects import API_VERSION
from .routes import Route, resolve

logger = logging.getLogger(__name__)
JSON = "application/json"


def _respond(status: int, content: bytes, headers: dict[str, str] | None = None) -> HttpResponse:
    response = HttpResponse(content, status=status, content_type=JSON)
    for name, value in (headers or {}).items():
        response[name] = value
    return response


def _error(error: StripeError) -> HttpResponse:
    return _respond(error.status, json.dumps(error.envelope()).encode(), error.headers)


@csrf_exempt
def api(request: HttpRequest, path: str) -> HttpResponse:
    """Every /v1/… call: route, faults, auth, idempotency, then the operation in one transaction."""
    request_id = new_request_id()
    try:
        response = _serve(request, path, request_id)
    except StripeError as error:
        response = _error(error)
    response["Request-Id"] = request_id
    response["Stripe-Version"] = API_VERSION
    return response


def _authenticate(request: HttpRequest) -> tuple[StripeAccount, bool]:
    """The account and whether its publishable key was used (Bearer, or curl's Basic `key:`)."""
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    key = ""
    if scheme.lower() == "bearer":
        key = value.strip()
    elif scheme.lower() == "basic":
        try:
            key = base64.b64decode(value.strip()).decode().partition(":")[0]
        except (binascii.Error, UnicodeDecodeError):
            key = ""
    if not key:
        raise missing_api_key()
    account = StripeAccount.objects.filter(Q(secret_key=key) | Q(publishable_key=key)).first()
    if account is None:
        raise invalid_api_key(key)
    return account, hmac.compare_digest(account.publishable_key.encode(), key.encode())


def _params(request: HttpRequest) -> dict[str, Any]:
    if request.method in ("GET", "DELETE"):
        raw = request.META.get("QUERY_STRING", "")
    else:
        if request.content_type not in ("", "application/x-www-form-urlencoded"):
            raise StripeError("Invalid request: the body must be application/x-www-form-urlencoded.")
        raw = request.body.decode("utf-8", errors="replace")
    return params.decode(parse_qsl(raw, keep_blank_values=True))


def _before(request: HttpRequest, faults: list[Fault]) -> HttpResponse | None:
    """Faults that stop a request before anything runs: an error answer, or a reset connection."""
    for fault in faults:
        if fault.kind == SandboxFault.Kind.HTTP_ERROR:
            return _error(rate_limited() if fault.value == 429 else api_error(fault.value or 500))
        if fault.kind == SandboxFault.Kind.RESET and reset_connection(request):
            return HttpResponse(status=204)  # the client already saw the reset
    return None


def _serve(request: HttpRequest, path: str, request_id: str) -> HttpResponse:
    method = request.method or "GET"
    found = resolve(method, path)
    if found is None:
        raise route_not_found(method, f"/v1/{path}")
    route, ids = found
    faults = take_faults(gateway="stripe", match=[route.operation])
    stopped = _before(request, faults)
    if stopped is not None:
        return stopped
    account, publishable = _authenticate(request)
    if publishable and not route.publishable:
        raise publishable_key_refused()
    data = _params(request)
    key = request.headers.get("Idempotency-Key") if method == "POST" else None
    call = Call(
        account=account,
        request_id=request_id,
        idempotency_key=key,
        origin=request.build_absolute_uri("/").rstrip("/"),
        publishable=publishable,
        search_lag_seconds=max((f.value for f in faults if f.kind == SandboxFault.Kind.SEARCH_LAG), default=0),
    )
    if key:
        fingerprint = idempotency.fingerprint(method, path, data)
        replay = idempotency.claim(account=account, key=key, fingerprint=fingerprint, request_id=request_id)
        if replay is not None:
            return _respond(replay.status, replay.body, {"Idempotent-Replayed": "true", "Idempotency-Key": key})
    if method != "GET":  # a write, counted by tests (replays are not: they never ran again)
        SandboxCall.objects.create(gateway="stripe", operation=route.operation, account=account.stripe_id)
    try:
        for fault in faults:
            if fault.kind == SandboxFault.Kind.LATENCY:
                sleep_ms(fault.value)
        status, content = _execute(route, call, ids, data)
    except Exception as exc:
        if key:  # nothing was stored: the key is free again
            idempotency.release(account=account, key=key, request_id=request_id)
        if isinstance(exc, StripeError):
            raise
        logger.exception("stripe_sandbox_error", extra={"operation": route.operation})
        raise api_error(500) from None
    return _after(request, faults, status, content, key)


def _execute(route: Route, call: Call, ids: list[str], data: dict[str, Any]) -> tuple[int, bytes]:
    paths = params.expand(data)
    with transaction.atomic():
        try:
            body = route.handler(call, *ids, data)
            status = 200
            if paths:
                body = expand.apply(call.account, body, paths)
        except StripeError as error:
            if not error.commit:
                raise
            status, body = error.status, error.envelope()
        content = json.dumps(body).encode()
        if call.idempotency_key and call.request_id:
            idempotency.store(
                account=call.account, key=call.idempotency_key, request_id=call.request_id, status=status, body=content
            )
    return status, content


def _after(request: HttpRequest, faults: list[Fault], status: int, content: bytes, key: str | None) -> HttpResponse:
    for fault in faults:
        if fault.kind == SandboxFault.Kind.HANG_AFTER:
            sleep_ms(fault.value)
        elif fault.kind == SandboxFault.Kind.DROP_RESPONSE and reset_connection(request):
            return HttpResponse(status=204)
    if any(fault.kind == SandboxFault.Kind.MISREPORT_DECLINED for fault in faults):
        return _error(misreported_decline())  # the work above stands
    return _respond(status, content, {"Idempotency-Key": key} if key else None)


# --- 3-D Secure ---------------------------------------------------------------------------------


@require_GET
def stripe_js(request: HttpRequest) -> FileResponse:
    """The Stripe.js stand-in (static/sandbox/stripe/stripe.js): Stripe(pk), the card element,
    createPaymentMethod, confirmCardPayment with the challenge page in a modal."""
    location = finders.find("sandbox/stripe/stripe.js")
    if not isinstance(location, str):
        raise Http404("stripe.js is missing")
    response = FileResponse(open(location, "rb"), content_type="application/javascript; charset=utf-8")  # noqa: SIM115
    response["Cache-Control"] = "no-cache"
    return response


@csrf_exempt
@require_http_methods(["GET", "POST"])
# The form's redirect goes to the merchant's return_url, wherever it is; Stripe.js shows the page in
# a modal frame on the merchant's page (django-csp types views as request-only).
@csp_update({"form-action": ["http:", "https:"]})
@csp_replace({"frame-ancestors": [SELF]})  # type: ignore[arg-type]
@xframe_options_sameorigin
def challenge_page(request: HttpRequest, intent_id: str) -> HttpResponse:
    """The issuer's challenge: "Complete authentication" or "Fail authentication" (no script)."""
    try:
        challenge = challenge_get(intent_id)
    except ChallengeNotFound as exc:
        raise Http404("No such intent") from exc
    amount = (
        f"{to_decimal(challenge.amount, challenge.currency.upper())} {challenge.currency.upper()}"
        if challenge.amount is not None and challenge.currency
        else None
    )
    context = {"challenge": challenge, "amount": amount}
    if request.method == "GET":
        return render(request, "sandbox/stripe/3ds.html", context, status=200 if challenge.pending else 409)
    action = request.POST.get("action")
    if action not in ("complete", "fail"):
        return render(request, "sandbox/stripe/3ds.html", {**context, "invalid": True}, status=400)
    try:
        resolution = challenge_resolve(intent_id, succeeded=action == "complete")
    except ChallengeNotPending:
        return render(request, "sandbox/stripe/3ds.html", context, status=409)
    if resolution.redirect_url:
        return HttpResponseRedirect(resolution.redirect_url)
    return render(request, "sandbox/stripe/3ds_done.html", {**context, "resolution": resolution})
