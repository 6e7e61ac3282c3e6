"""Builds the adapter for a gateway account. The place that knows which module serves which gateway."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.conf import settings

from .base import Gateway, Notification
from .errors import GatewayMisconfigured
from .models import GatewayAccount, GatewayName


def authorizenet_endpoint(mode: str) -> str:
    return settings.AUTHORIZENET_LIVE_ENDPOINT if mode == "live" else settings.AUTHORIZENET_TEST_ENDPOINT


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
    raise GatewayMisconfigured(f"No adapter for gateway {account.gateway!r} yet")


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
