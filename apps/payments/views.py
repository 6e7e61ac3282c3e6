"""The page the customer's browser comes back to after 3-D Secure (the gateway redirects it here).

Never trusts the browser: whatever the query string says, the payment is settled by asking the
gateway (the same step the gateway's webhooks take), then the customer goes on to the merchant's
`return_url`, or sees the outcome here when the merchant gave none.
"""

from __future__ import annotations

import logging

from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.views.decorators.http import require_GET

from apps.audit.actors import Actor
from apps.core.links import with_query
from apps.core.money import format_amount
from apps.gateways.errors import GatewayError

from .models import Payment, PaymentStatus
from .services import payment_authentication_settle

logger = logging.getLogger(__name__)

RETURN_ACTOR = Actor.system("customer back from 3-D Secure")


@require_GET
def authentication_return(request: HttpRequest, payment_id: str) -> HttpResponse:
    payment = Payment.objects.select_related("gateway_account").filter(public_id=payment_id).first()
    if payment is None:
        raise Http404("No such payment")
    if payment.status == PaymentStatus.REQUIRES_ACTION:
        try:
            payment_authentication_settle(payment=payment, actor=RETURN_ACTOR)
        except GatewayError as exc:  # the webhook or the sweeper settles it later
            logger.warning("authentication_return_unsettled", extra={"payment": payment.public_id, "error": exc.code})
        payment.refresh_from_db()
    if payment.return_url:
        return HttpResponseRedirect(with_query(payment.return_url, payment=payment.public_id, status=payment.status))
    context = {
        "payment": payment,
        "amount": format_amount(payment.amount, payment.currency),
        "failed": payment.status in {PaymentStatus.FAILED, PaymentStatus.VOIDED},
    }
    return render(request, "payments/authentication_return.html", context)
