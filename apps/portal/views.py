"""/portal/: the hosted customer portal. Server-rendered pages and plain forms (CSRF-checked); the
only script tokenises a new card in the browser (static/portal/portal.js with Accept.js, Stripe.js
or Razorpay Checkout, whichever gateway holds the merchant's cards). Each view reads the customer from the
portal cookie (browser.py), checks the ability, and calls the same services as the API, with the
customer as actor."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any
from urllib.parse import urljoin

from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from apps.api.customer_scope import Ability, CustomerScope, check_customer_ability
from apps.audit.actors import Actor
from apps.core.errors import ApplicationError, NotFoundError
from apps.customers import services as customer_services
from apps.customers.checkout_setups import checkout_setup_representation, payment_method_checkout_setup
from apps.customers.models import PaymentMethod
from apps.customers.selectors import payment_method_get
from apps.gateways.base import OpaqueToken
from apps.sessions_api.errors import SessionsUnavailable
from apps.sessions_api.selectors import customer_session_get
from apps.sessions_api.services import customer_session_revoke
from apps.subscriptions import services as subscription_services
from apps.subscriptions.selectors import subscription_get

from . import selectors
from .browser import PortalSignedOut, PortalThrottled, portal_cookie_clear, portal_cookie_set, portal_scope
from .errors import PortalLinkInvalid
from .services import portal_link_open, portal_subscription_resume

PortalView = Callable[..., HttpResponse]


def _ended(request: HttpRequest, status: int, title: str, text: str) -> HttpResponse:
    response = render(request, "portal/ended.html", {"title": title, "text": text}, status=status)
    if status == 401:
        portal_cookie_clear(response)
    return response


def _unavailable(request: HttpRequest) -> HttpResponse:
    return _ended(request, 503, "Unavailable", "The portal is unavailable right now. Try again shortly.")


def portal_page(ability: str | None = None) -> Callable[[PortalView], PortalView]:
    """A portal view: the request's customer scope as its second argument, the ability checked."""

    def decorate(view: PortalView) -> PortalView:
        @wraps(view)
        @never_cache
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            try:
                scope = portal_scope(request)
            except PortalSignedOut:
                return _ended(
                    request, 401, "Signed out", "Your session has ended. Open the portal again from the site."
                )
            except PortalThrottled:
                return _ended(request, 429, "Too many requests", "Please wait a moment and try again.")
            except SessionsUnavailable:
                return _unavailable(request)
            try:
                if ability is not None:
                    check_customer_ability(scope, ability)
                return view(request, scope, *args, **kwargs)
            except SessionsUnavailable:  # Redis lost after the check (sign-out cannot revoke): nothing changed
                return _unavailable(request)
            except NotFoundError:
                return _ended(request, 404, "Not found", "There is nothing here.")
            except ApplicationError as exc:
                if exc.status_code == 403 or request.method != "POST":
                    return _ended(request, exc.status_code, "Not allowed", exc.message)
                messages.error(request, exc.message)
                return HttpResponseRedirect(reverse("portal:home"))

        return wrapped

    return decorate


def _actor(scope: CustomerScope) -> Actor:
    return Actor.customer(scope.customer, scope.session)


@require_GET
@never_cache
def portal_open(request: HttpRequest, code: str) -> HttpResponse:
    """The one-time link: its code traded for the portal cookie, then the portal itself."""
    try:
        _, minted = portal_link_open(code=code)
    except PortalLinkInvalid as exc:
        return _ended(request, 410, "Link expired", f"{exc.message} Open the portal again from the site.")
    response = HttpResponseRedirect(reverse("portal:home"))
    lifetime = int((minted.session.expires_at - minted.session.created_at).total_seconds())
    portal_cookie_set(response, minted.token, lifetime)
    return response


def _card_outcome_message(request: HttpRequest, method: PaymentMethod) -> None:
    """What became of a card that asked the customer to authenticate (read from our records, which
    the gateway settled, never from the query string)."""
    if method.status == PaymentMethod.Status.ACTIVE:
        hint = "" if method.is_default else " To use it for your subscriptions, choose Make default."
        messages.success(request, f"Card ending {method.card_last4} saved.{hint}")
    elif method.status == PaymentMethod.Status.REQUIRES_ACTION:
        messages.info(request, f"Your bank has not confirmed the card ending {method.card_last4} yet.")
    else:
        messages.error(request, f"The card ending {method.card_last4} was not saved: your bank did not confirm it.")


@require_GET
@portal_page()
def portal_home(request: HttpRequest, scope: CustomerScope) -> HttpResponse:
    if "payment_method" in request.GET:  # back from 3-D Secure (payment_method_add's return_url)
        method = selectors.portal_card_outcome(scope, request.GET["payment_method"])
        if method is not None:
            _card_outcome_message(request, method)
        return HttpResponseRedirect(reverse("portal:home"))
    customer = selectors.portal_customer(scope)
    subscriptions = [
        {"object": subscription, "price": selectors.money(subscription.plan.amount, subscription.plan.currency)}
        for subscription in selectors.portal_subscriptions(scope)
    ]
    invoices = [
        {"object": invoice, "amount": selectors.money(invoice.amount, invoice.currency)}
        for invoice in selectors.portal_invoices(scope)[:50]
    ]
    context = {
        "branding": selectors.branding_for(scope.merchant),
        "customer": customer,
        "subscriptions": subscriptions,
        "invoices": invoices,
        "payment_methods": selectors.portal_payment_methods(customer),
        "card_form": selectors.card_form_for(scope),
        "return_url": selectors.portal_return_url(scope),
        "can": {ability.name.lower(): ability.value in scope.abilities for ability in Ability},
    }
    return render(request, "portal/home.html", context)


@require_GET
@portal_page(Ability.INVOICES_READ)
def portal_invoice(request: HttpRequest, scope: CustomerScope, invoice_id: str) -> HttpResponse:
    invoice = selectors.portal_invoice(scope, invoice_id)
    context = {
        "branding": selectors.branding_for(scope.merchant),
        "invoice": invoice,
        "amount": selectors.money(invoice.amount, invoice.currency),
        "payment": invoice.payment,
        "return_url": selectors.portal_return_url(scope),
    }
    return render(request, "portal/invoice.html", context)


SUBSCRIPTION_ACTIONS = {"cancel": "Your subscription will end at the end of the period.", "pause": "Paused.",
                        "resume": "Resumed."}  # fmt: skip


@require_POST
@portal_page(Ability.SUBSCRIPTIONS_MANAGE)
def portal_subscription_action(
    request: HttpRequest, scope: CustomerScope, subscription_id: str, action: str
) -> HttpResponse:
    if action not in SUBSCRIPTION_ACTIONS:
        raise NotFoundError()
    subscription = subscription_get(merchant=scope.merchant, public_id=subscription_id, customer=scope.customer)
    if action == "cancel":  # a customer cancels at the period's end, never at once
        subscription_services.subscription_cancel(subscription=subscription, at_period_end=True, actor=_actor(scope))
    elif action == "pause":
        subscription_services.subscription_pause(subscription=subscription, actor=_actor(scope))
    else:
        portal_subscription_resume(subscription=subscription, actor=_actor(scope))
    messages.success(request, SUBSCRIPTION_ACTIONS[action])
    return HttpResponseRedirect(reverse("portal:home"))


@require_POST
@portal_page(Ability.PAYMENT_METHODS_MANAGE)
def portal_card_add(request: HttpRequest, scope: CustomerScope) -> HttpResponse:
    """A card tokenised in the browser (Accept.js opaque data, or a Stripe.js payment method id):
    only its token reaches us. A card that asks the customer to authenticate (3-D Secure) sends
    them to their bank's page; they come back through payment-method-authenticated, which
    settles the card, to this portal's home."""
    descriptor, value = request.POST.get("descriptor", ""), request.POST.get("value", "")
    if not descriptor or not value or len(descriptor) > 100 or len(value) > 8192:
        messages.error(request, "The card could not be read. Please try again.")
        return HttpResponseRedirect(reverse("portal:home"))
    site_url = settings.PUBLIC_BASE_URL or request.build_absolute_uri("/")
    method = customer_services.payment_method_add(
        customer=selectors.portal_customer(scope),
        livemode=scope.livemode,
        payment=OpaqueToken(descriptor, value),
        make_default=request.POST.get("make_default") == "on",
        return_url=urljoin(site_url, reverse("portal:home")),
        site_url=site_url,
        actor=_actor(scope),
    )
    if method.status == PaymentMethod.Status.REQUIRES_ACTION and method.action_url:
        return HttpResponseRedirect(method.action_url)
    messages.success(request, f"Card ending {method.card_last4} saved.")
    return HttpResponseRedirect(reverse("portal:home"))


@require_POST
@portal_page(Ability.PAYMENT_METHODS_MANAGE)
def portal_card_checkout_setup(request: HttpRequest, scope: CustomerScope) -> HttpResponse:
    """Where the card is saved in the gateway's own page (Razorpay Checkout): the setup order the
    page opens on, as JSON for portal.js. The page's answer is then posted to portal_card_add."""
    try:
        setup = payment_method_checkout_setup(customer=selectors.portal_customer(scope), livemode=scope.livemode)
    except ApplicationError as exc:
        return JsonResponse({"error": {"code": exc.code, "message": exc.message}}, status=exc.status_code)
    return JsonResponse(checkout_setup_representation(setup))


@require_POST
@portal_page(Ability.PAYMENT_METHODS_MANAGE)
def portal_card_action(request: HttpRequest, scope: CustomerScope, payment_method_id: str, action: str) -> HttpResponse:
    method = payment_method_get(customer=selectors.portal_customer(scope), public_id=payment_method_id, param="id")
    if action == "default":
        customer_services.payment_method_set_default(method=method, actor=_actor(scope))
        messages.success(request, f"Card ending {method.card_last4} is now your default.")
    elif action == "remove":
        customer_services.payment_method_remove(method=method, actor=_actor(scope))
        messages.success(request, f"Card ending {method.card_last4} removed.")
    else:
        raise NotFoundError()
    return HttpResponseRedirect(reverse("portal:home"))


@require_POST
@portal_page()
def portal_sign_out(request: HttpRequest, scope: CustomerScope) -> HttpResponse:
    """End the portal session: its token is revoked, the cookie dropped, back to the merchant."""
    return_url = selectors.portal_return_url(scope)
    session = customer_session_get(merchant=scope.merchant, public_id=scope.session)
    customer_session_revoke(session=session, actor=_actor(scope))
    response = (
        HttpResponseRedirect(return_url)
        if return_url
        else _ended(request, 200, "Signed out", "You are signed out of the portal.")
    )
    portal_cookie_clear(response)
    return response
