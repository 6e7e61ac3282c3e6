"""The page the customer's browser comes back to after authenticating a card's setup (3-D Secure).

Never trusts the browser: the card is settled by asking the gateway (as its webhook does), then the
customer goes on to the merchant's `return_url` (only from the visit that ends the authentication),
or sees the outcome here.
"""

from __future__ import annotations

import logging

from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.views.decorators.http import require_GET

from apps.audit.actors import Actor
from apps.core.links import with_query
from apps.gateways.errors import GatewayError

from .models import PaymentMethod
from .setups import payment_method_setup_settle

logger = logging.getLogger(__name__)

RETURN_ACTOR = Actor.system("customer back from 3-D Secure")


@require_GET
def setup_return(request: HttpRequest, payment_method_id: str) -> HttpResponse:
    method = (
        PaymentMethod.objects.select_related("gateway_account", "customer").filter(public_id=payment_method_id).first()
    )
    if method is None:
        raise Http404("No such card")
    # Only the return that ends the authentication goes on to the merchant's page: any later visit of
    # this public, unauthenticated address (a settled card, whatever its outcome) stays on ours, so it
    # is never a standing redirect to the return_url.
    authenticating = method.status == PaymentMethod.Status.REQUIRES_ACTION
    if authenticating:
        try:
            method = payment_method_setup_settle(method=method, actor=RETURN_ACTOR)
        except GatewayError as exc:  # its webhook settles it later
            logger.warning("setup_return_unsettled", extra={"payment_method": method.public_id, "error": exc.code})
    if authenticating and method.return_url:
        return HttpResponseRedirect(
            with_query(method.return_url, payment_method=method.public_id, status=method.status)
        )
    return render(request, "customers/setup_return.html", {"method": method})
