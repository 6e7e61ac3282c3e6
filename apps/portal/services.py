"""The customer portal's writes: minting a one-time link (the merchant's backend), opening it (the
customer's browser), and the one action that is more than a single domain service call. Every
other portal action calls the customers and subscriptions services directly, with the customer as
actor, as the API does for a customer session token."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.api.customer_scope import Ability
from apps.audit.actors import Actor
from apps.audit.services import audit_record, audited_update
from apps.customers.models import Customer
from apps.merchants.models import Merchant
from apps.sessions_api.keys import MAX_LIFETIME_SECONDS
from apps.sessions_api.services import MintedSession, customer_session_create
from apps.subscriptions import billing
from apps.subscriptions import services as subscription_services
from apps.subscriptions.models import Subscription, SubscriptionStatus

from .errors import PortalLinkInvalid
from .models import PortalBranding, PortalLink

# What a portal session may do: everything a customer can do for itself.
PORTAL_ABILITIES = [ability.value for ability in Ability]


def code_hash(code: str) -> str:
    # The code is 256 random bits: a plain hash is enough (nothing to brute-force), as for API keys.
    return hashlib.sha256(code.encode()).hexdigest()


@dataclass(frozen=True)
class CreatedLink:
    link: PortalLink
    code: str  # in the URL handed to the merchant; never stored


def portal_link_create(*, customer: Customer, return_url: str, livemode: bool, actor: Actor) -> CreatedLink:
    """A one-time link to the portal for the customer, valid PORTAL_LINK_SECONDS. Audited."""
    code = secrets.token_urlsafe(32)
    now = timezone.now()
    with transaction.atomic():
        link = PortalLink.objects.create(
            code_hash=code_hash(code),
            merchant=customer.merchant,
            customer=customer,
            return_url=return_url,
            livemode=livemode,
            created_at=now,
            expires_at=now + timedelta(seconds=settings.PORTAL_LINK_SECONDS),
        )
        audit_record(
            actor=actor, action="portal_link.created", target=link, merchant_id=customer.merchant_id,
            after={"id": link.public_id, "customer": customer.public_id, "expires_at": link.expires_at},
        )  # fmt: skip
    return CreatedLink(link=link, code=code)


def portal_link_open(*, code: str) -> tuple[PortalLink, MintedSession]:
    """Trade a link's code, once and before it expires, for a customer session with the portal's
    abilities (its token becomes the browser's portal cookie). Two browsers opening one link at
    once: one gets the session, the other PortalLinkInvalid (the link's row lock decides)."""
    now = timezone.now()
    with transaction.atomic():
        link = (
            PortalLink.objects.select_for_update(of=("self",))
            .select_related("customer", "customer__merchant", "merchant")
            .filter(code_hash=code_hash(code))
            .first()
        )
        if link is None or link.used_at is not None or link.expires_at <= now:
            raise PortalLinkInvalid()
        actor = Actor.customer(link.customer.public_id, link.public_id)
        minted = customer_session_create(
            customer=link.customer,
            abilities=PORTAL_ABILITIES,
            expires_in=min(settings.PORTAL_SESSION_SECONDS, MAX_LIFETIME_SECONDS),
            livemode=link.livemode,
            actor=actor,
        )
        link.used_at, link.session = now, minted.session
        link.save(update_fields=["used_at", "session"])
        audit_record(
            actor=actor, action="portal_link.opened", target=link, merchant_id=link.merchant_id,
            after={"id": link.public_id, "session": minted.session.public_id, "used_at": now},
        )  # fmt: skip
    return link, minted


def portal_subscription_resume(*, subscription: Subscription, actor: Actor) -> Subscription:
    """Resume billing, and charge at once what fell due while paused (as the API's resume does)."""
    subscription = subscription_services.subscription_resume(subscription=subscription, actor=actor)
    if subscription.next_billing_at is not None and subscription.status == SubscriptionStatus.PAST_DUE:
        billing.subscription_bill(subscription_id=subscription.pk, as_of=subscription.next_billing_at, actor=actor)
        subscription.refresh_from_db()
    return subscription


def portal_branding_set(*, merchant: Merchant, display_name: str, primary_color: str, actor: Actor) -> PortalBranding:
    """The name and colour the merchant's customers see in the portal (the admin's "Portal
    branding"); created the first time, changed after, audited either way."""
    with transaction.atomic():
        branding = PortalBranding.objects.select_for_update().filter(merchant=merchant).first()
        if branding is None:
            try:
                with transaction.atomic():
                    branding = PortalBranding.objects.create(
                        merchant=merchant, display_name=display_name, primary_color=primary_color
                    )
            except IntegrityError:  # created meanwhile (one per merchant): change that one
                branding = PortalBranding.objects.select_for_update().get(merchant=merchant)
            else:
                audit_record(
                    actor=actor, action="portal_branding.created", target=branding,
                    after={"display_name": display_name, "primary_color": primary_color},
                )  # fmt: skip
                return branding
        audited_update(
            target=branding, changes={"display_name": display_name, "primary_color": primary_color},
            allowed=("display_name", "primary_color"), action="portal_branding.updated", actor=actor,
        )  # fmt: skip
    return branding
