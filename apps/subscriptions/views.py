"""The invoice's payment page: the link a customer gets when a renewal needs them (a card that asks
for 3-D Secure refused the charge made without them). They pay with the card on file, on session,
authenticating where the card asks; we settle by asking the gateway, never the browser."""

from __future__ import annotations

from urllib.parse import urljoin

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.views.decorators.http import require_http_methods

from apps.audit.actors import Actor
from apps.core.money import format_amount
from apps.payments.models import PaymentStatus

from .errors import SubscriptionStateError
from .invoice_payments import invoice_from_token, invoice_latest_payment, invoice_pay_on_session, invoice_settle_pending

PAYER = Actor.system("customer on the invoice's payment page")


@require_http_methods(["GET", "POST"])
def invoice_pay(request: HttpRequest, token: str) -> HttpResponse:
    invoice = invoice_from_token(token)
    if invoice is None:
        raise Http404("This payment link is not valid (or has expired).")
    site_url = settings.PUBLIC_BASE_URL or request.build_absolute_uri("/")
    page_url = urljoin(site_url, request.path)
    message = ""
    if request.method == "POST":
        try:
            payment = invoice_pay_on_session(invoice=invoice, site_url=site_url, page_url=page_url, actor=PAYER)
        except SubscriptionStateError as exc:
            payment, message = None, str(exc)
        if payment is not None and payment.status == PaymentStatus.REQUIRES_ACTION and payment.action_url:
            return HttpResponseRedirect(payment.action_url)
        if not message:
            return HttpResponseRedirect(request.path)
    invoice = invoice_settle_pending(invoice=invoice, actor=PAYER)
    payment = invoice_latest_payment(invoice)
    context = {
        "invoice": invoice,
        "merchant": invoice.merchant,
        "amount": format_amount(invoice.amount, invoice.currency),
        "card": invoice.subscription.payment_method,
        "payment": payment,
        "message": message,
    }
    return render(request, "subscriptions/invoice_pay.html", context)
