"""The Authorize.Net adapter: its operations put together, and built for one of our accounts."""

from __future__ import annotations

from django.conf import settings

from apps.gateways.models import GatewayAccount

from .client import AuthorizeNetConfig
from .reporting import Reporting
from .transactions import Transactions
from .vault import Recurring, Vault


class AuthorizeNetGateway(Transactions, Reporting, Vault, Recurring):
    """Authorize.Net through the official SDK: see the package's modules for each part."""


def adapter_for(account: GatewayAccount) -> AuthorizeNetGateway:
    """The adapter for one of our gateway accounts at Authorize.Net (the registry calls this)."""
    credentials = account.credentials()
    endpoint = settings.AUTHORIZENET_LIVE_ENDPOINT if account.mode == "live" else settings.AUTHORIZENET_TEST_ENDPOINT
    return AuthorizeNetGateway(
        AuthorizeNetConfig(
            api_login_id=credentials["api_login_id"],
            transaction_key=credentials["transaction_key"],
            signature_key=credentials.get("signature_key", ""),
            endpoint=endpoint,
            currency=account.currency,
            timeout_seconds=settings.AUTHORIZENET_TIMEOUT_SECONDS,
        )
    )
