"""Gateway webhook receivers: /webhooks/<gateway>/<gateway account id>.

Plain Django views (no DRF machinery on a path that must answer fast): verify, store, answer.
"""

from __future__ import annotations

import logging

from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from apps.core.errors import ErrorType
from apps.core.views import error_envelope
from apps.gateways.base import InvalidSignature, MalformedNotification
from apps.gateways.models import GatewayAccount

from .services import incoming_webhook_receive

logger = logging.getLogger(__name__)


def _error(status: int, code: str, message: str) -> JsonResponse:
    return JsonResponse(error_envelope(error_type=ErrorType.INVALID_REQUEST, code=code, message=message), status=status)


@csrf_exempt
def gateway_webhook(request: HttpRequest, gateway: str, account_id: str) -> JsonResponse:
    if request.method != "POST":
        response = _error(405, "method_not_allowed", "Gateways POST their notifications here.")
        response["Allow"] = "POST"
        return response
    account = (
        GatewayAccount.objects.filter(public_id=account_id, gateway=gateway, is_active=True)
        .only("id", "merchant_id", "gateway", "credentials_ciphertext")
        .first()
    )
    if account is None:
        return _error(404, "resource_missing", "No such webhook endpoint.")
    try:
        receipt = incoming_webhook_receive(account=account, body=request.body, headers=dict(request.headers))
    except InvalidSignature as exc:
        logger.warning("webhook_bad_signature", extra={"gateway": gateway, "account": account_id, "detail": str(exc)})
        return _error(400, "signature_invalid", "The webhook signature is missing or does not match.")
    except MalformedNotification as exc:
        logger.warning("webhook_malformed", extra={"gateway": gateway, "account": account_id, "detail": str(exc)})
        return _error(400, "payload_invalid", "The webhook body could not be read.")
    return JsonResponse({"received": True, "id": receipt.webhook.public_id, "duplicate": receipt.duplicate})
