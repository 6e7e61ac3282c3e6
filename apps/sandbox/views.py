"""HTTP endpoints of the sandboxes (mounted at /sandbox/ when SANDBOX_ENABLED)."""

from __future__ import annotations

import json

from django.contrib.staticfiles import finders
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from .authorizenet.cards import mint_nonce
from .authorizenet.server import sandbox_request
from .authorizenet.xml import error_response
from .faults import AFTER, BEFORE, reset_connection, sleep_ms, take_faults
from .models import SandboxCall, SandboxFault

ANET_CONTENT_TYPE = "application/xml; charset=utf-8"
SYSTEM_ERROR = ("E00001", "An error occurred during processing. Please try again.")
ACCEPT_JS = "sandbox/authorizenet/accept.js"


@csrf_exempt
@require_POST
def authorizenet_api(request: HttpRequest) -> HttpResponse:
    """The XML API endpoint (the SDK's request.api)."""
    sandbox = sandbox_request(request.body)
    faults = take_faults(gateway="authorizenet", match=[sandbox.method, sandbox.transaction_type])
    for fault in (f for f in faults if f.kind in BEFORE):
        if fault.kind == SandboxFault.Kind.LATENCY:
            sleep_ms(fault.value)
        elif fault.kind == SandboxFault.Kind.HTTP_ERROR:
            return HttpResponse(b"Service Unavailable", status=fault.value or 503, content_type="text/plain")
        elif fault.kind == SandboxFault.Kind.RESET and reset_connection(request):
            return HttpResponse(status=204)  # the client already saw the reset
    sandbox.misreport_declined = any(f.kind == SandboxFault.Kind.MISREPORT_DECLINED for f in faults)
    body = sandbox.handle()
    if sandbox.transaction_type:  # a money movement (createTransactionRequest), counted by tests
        SandboxCall.objects.create(gateway="authorizenet", operation=sandbox.transaction_type, account=sandbox.login)
    for fault in (f for f in faults if f.kind in AFTER):
        if fault.kind == SandboxFault.Kind.HANG_AFTER:
            sleep_ms(fault.value)
        elif fault.kind == SandboxFault.Kind.DROP_RESPONSE and reset_connection(request):
            return HttpResponse(status=204)
        elif fault.kind == SandboxFault.Kind.SYSTEM_ERROR and sandbox.method:
            # The work is done; the answer is the API's "unexpected system error", no verdict.
            body = error_response(sandbox.method.removesuffix("Request") + "Response", *SYSTEM_ERROR, sandbox.ref_id)
    return HttpResponse(body, content_type=ANET_CONTENT_TYPE)


def authorizenet_accept_js(request: HttpRequest) -> FileResponse:
    """The Accept.js stand-in: defines window.Accept.dispatchData, which posts to the token endpoint."""
    location = finders.find(ACCEPT_JS)
    if not isinstance(location, str):
        raise Http404("accept.js is missing")
    response = FileResponse(open(location, "rb"), content_type="application/javascript; charset=utf-8")  # noqa: SIM115
    response["Cache-Control"] = "no-cache"
    return response


@csrf_exempt
@require_POST
def authorizenet_accept_token(request: HttpRequest) -> JsonResponse:
    """Accept.js `dispatchData` stand-in: card data in, a single-use opaqueData token out."""
    try:
        data = json.loads(request.body)
        card = data["cardData"]
        nonce = mint_nonce(
            number=str(card["cardNumber"]),
            exp_month=int(card["month"]),
            exp_year=int(card["year"]) if int(card["year"]) > 99 else 2000 + int(card["year"]),
            card_code=str(card.get("cardCode", "")),
        )
    except (ValueError, KeyError, TypeError):
        return JsonResponse(
            {
                "messages": {
                    "resultCode": "Error",
                    "message": [{"code": "E_WC_05", "text": "Please provide valid card data."}],
                }
            },
            status=200,
        )
    return JsonResponse(
        {
            "opaqueData": {"dataDescriptor": "COMMON.ACCEPT.INAPP.PAYMENT", "dataValue": nonce.value},
            "messages": {"resultCode": "Ok", "message": [{"code": "I_WC_01", "text": "Successful."}]},
        }
    )
