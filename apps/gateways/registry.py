"""Builds the adapter for a gateway account. The place that knows which module serves which gateway."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.conf import settings

from .base import CheckoutGateway, Gateway, Notification, RecurringGateway, SettlementGateway, VaultGateway
from .errors import GatewayMisconfigured
from .models import GatewayAccount, GatewayName


def authorizenet_endpoint(mode: str) -> str:
    return settings.AUTHORIZENET_LIVE_ENDPOINT if mode == "live" else settings.AUTHORIZENET_TEST_ENDPOINT


def razorpay_base_url(mode: str) -> str:
    return settings.RAZORPAY_LIVE_API_BASE if mode == "live" else settings.RAZORPAY_TEST_API_BASE


def gateway_for(account: GatewayAccount) -> Gateway:
    if account.gateway == GatewayName.AUTHORIZENET:
        from .authorizenet import AuthorizeNetConfig, AuthorizeNetGateway

        credentials = account.credentials()
        return AuthorizeNetGateway(
            AuthorizeNetConfig(
                api_login_id=credentials["api_login_id"],
                transaction_key=credentials["transaction_key"],
                signature_key=credentials.get("signature_key", ""),
                endpoint=authorizenet_endpoint(account.mode),
                currency=account.currency,
                timeout_seconds=settings.AUTHORIZENET_TIMEOUT_SECONDS,
            )
        )
    if account.gateway == GatewayName.RAZORPAY:
        from .razorpay import RazorpayConfig, RazorpayGateway

        credentials = account.credentials()
        return RazorpayGateway(
            RazorpayConfig(
                key_id=credentials["key_id"],
                key_secret=credentials["key_secret"],
                base_url=razorpay_base_url(account.mode),
                timeout_seconds=settings.RAZORPAY_TIMEOUT_SECONDS,
                auto_capture=settings.RAZORPAY_AUTO_CAPTURE,
            )
        )
    raise GatewayMisconfigured(f"No adapter for gateway {account.gateway!r} yet")


def checkout_gateway_for(account: GatewayAccount) -> CheckoutGateway:
    """The adapter of a gateway where customers pay in the gateway's own checkout page."""
    if account.gateway != GatewayName.RAZORPAY:
        raise GatewayMisconfigured(f"{account.get_gateway_display()} has no hosted checkout here")
    from .razorpay import RazorpayGateway

    gateway = gateway_for(account)
    assert isinstance(gateway, RazorpayGateway)  # noqa: S101 - gateway_for's contract
    return gateway


def vault_gateway_for(account: GatewayAccount) -> VaultGateway:
    """The adapter of a gateway that saves cards for later charges (Authorize.Net CIM)."""
    if account.gateway != GatewayName.AUTHORIZENET:
        raise GatewayMisconfigured(f"{account.get_gateway_display()} cannot save cards here")
    from .authorizenet import AuthorizeNetGateway

    gateway = gateway_for(account)
    assert isinstance(gateway, AuthorizeNetGateway)  # noqa: S101 - gateway_for's contract
    return gateway


def recurring_gateway_for(account: GatewayAccount) -> RecurringGateway:
    """The adapter of a gateway that runs billing schedules itself (Authorize.Net ARB)."""
    if account.gateway != GatewayName.AUTHORIZENET:
        raise GatewayMisconfigured(f"{account.get_gateway_display()} has no recurring billing here")
    from .authorizenet import AuthorizeNetGateway

    gateway = gateway_for(account)
    assert isinstance(gateway, AuthorizeNetGateway)  # noqa: S101 - gateway_for's contract
    return gateway


def settlement_gateway_for(account: GatewayAccount) -> SettlementGateway:
    """The adapter that reads a gateway account's settlement reports."""
    gateway = gateway_for(account)
    if not hasattr(gateway, "settlements"):
        raise GatewayMisconfigured(f"{account.get_gateway_display()} settlement reports are not read here yet")
    return gateway  # type: ignore[return-value]


NotificationParser = Callable[[bytes, dict[str, str], dict[str, Any]], Notification]


def notification_parser_for(gateway: str) -> NotificationParser:
    """The function that verifies and reads a gateway's webhooks."""
    if gateway == GatewayName.AUTHORIZENET:
        from . import authorizenet

        return authorizenet.parse_notification
    if gateway == GatewayName.RAZORPAY:
        from . import razorpay

        return razorpay.parse_notification
    raise GatewayMisconfigured(f"No webhook support for gateway {gateway!r}")
