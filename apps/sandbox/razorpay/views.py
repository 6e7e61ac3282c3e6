"""HTTP endpoints of the Razorpay sandbox (mounted at /sandbox/razorpay/): the REST API the SDK
calls, and Checkout's stand-in (checkout.js and the endpoint its form posts to)."""

from __future__ import annotations

import json
from typing import Any

from django.contrib.staticfiles import finders
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from apps.sandbox.faults import AFTER, BEFORE, reset_connection, sleep_ms, take_faults
from apps.sandbox.models import SandboxCall, SandboxFault

from .engine import authenticate
from .errors import AUTHENTICATION_FAILED, RzpError, misreported_failure, route_not_found, server_error
from .routes import handle, resolve
from .services import rzp_checkout_pay

CHECKOUT_JS = "sandbox/razorpay/checkout.js"
WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
TRUE = (1, "1", True, "true")  # how Checkout's `save` and `recurring` options say yes


def _error(error: RzpError) -> JsonResponse:
    return JsonResponse(error.envelope(), status=error.status)


def _request_data(request: HttpRequest) -> dict[str, Any]:
    if request.method == "GET":
        return request.GET.dict()
    if request.content_type == "application/x-www-form-urlencoded":
        return request.POST.dict()
    try:
        data = json.loads(request.body or b"{}")
    except ValueError as exc:
        raise RzpError("The request body is not valid JSON.") from exc
    if not isinstance(data, dict):
        raise RzpError("The request body must be a JSON object.")
    return data


@csrf_exempt
def api(request: HttpRequest, path: str) -> HttpResponse:
    """Every /v1/… call: route, faults, HTTP Basic auth, then the engine."""
    found = resolve(request.method or "", path)
    if found is None:
        return _error(route_not_found())
    route, ids = found
    faults = take_faults(gateway="razorpay", match=[route.operation])
    for fault in (f for f in faults if f.kind in BEFORE):
        if fault.kind == SandboxFault.Kind.LATENCY:
            sleep_ms(fault.value)
        elif fault.kind == SandboxFault.Kind.HTTP_ERROR:
            return _error(server_error(fault.value or 503))
        elif fault.kind == SandboxFault.Kind.RESET and reset_connection(request):
            return HttpResponse(status=204)  # the client already saw the reset
    account = authenticate(request.headers.get("Authorization", ""))
    if account is None:
        return JsonResponse(AUTHENTICATION_FAILED, status=401)
    if request.method in WRITES:  # a write (order, capture, refund ...), counted by tests, refused or not
        SandboxCall.objects.create(gateway="razorpay", operation=route.operation, account=account.key_id)
    try:
        body = handle(route, account, ids, _request_data(request))
    except RzpError as error:
        return _error(error)
    for fault in (f for f in faults if f.kind in AFTER):
        if fault.kind == SandboxFault.Kind.HANG_AFTER:
            sleep_ms(fault.value)
        elif fault.kind == SandboxFault.Kind.DROP_RESPONSE and reset_connection(request):
            return HttpResponse(status=204)
    if any(f.kind == SandboxFault.Kind.MISREPORT_DECLINED for f in faults):
        return _error(misreported_failure(route.operation))  # the work above stands
    return JsonResponse(body)


@require_GET
def checkout_js(request: HttpRequest) -> FileResponse:
    """The Checkout script stand-in: defines window.Razorpay, opens an in-page card form."""
    location = finders.find(CHECKOUT_JS)
    if not isinstance(location, str):
        raise Http404("checkout.js is missing")
    response = FileResponse(open(location, "rb"), content_type="application/javascript; charset=utf-8")  # noqa: SIM115
    response["Cache-Control"] = "no-cache"
    return response


@csrf_exempt
@require_POST
def checkout_pay(request: HttpRequest) -> JsonResponse:
    """What checkout.js posts the card form to. The card goes no further than this call."""
    try:
        data = json.loads(request.body)
        card = data["card"]
        result = rzp_checkout_pay(
            key_id=str(data["key_id"]),
            order_id=str(data["order_id"]),
            card_number=str(card["number"]),
            exp_month=int(card["expiry_month"]),
            exp_year=int(card["expiry_year"]),
            cvv=str(card.get("cvv", "")),
            email=str(data.get("email") or ""),
            contact=str(data.get("contact") or ""),
            name=str(card.get("name") or ""),
            customer_id=str(data.get("customer_id") or ""),
            save=data.get("save") in TRUE,
            recurring=data.get("recurring") in TRUE,
        )
    except (ValueError, KeyError, TypeError):
        return _error(RzpError("Please provide valid card details.", field="card", source="customer"))
    if result.ok:
        return JsonResponse(result.handler_response())
    return JsonResponse({"error": result.error}, status=400)
