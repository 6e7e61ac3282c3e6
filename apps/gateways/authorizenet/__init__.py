"""Authorize.Net through the official `authorizenet` SDK. Only this package imports it.

client: the SDK's transport, authentication and error classes; transactions: payments and
lookups; reporting: settlements; vault: saved cards (CIM) and gateway-run schedules (ARB);
notifications: webhooks; vocabulary: Authorize.Net's codes and statuses in our words.
"""

from .client import MAX_REFERENCE_LENGTH, AuthorizeNetConfig
from .gateway import AuthorizeNetGateway, adapter_for
from .notifications import SIGNATURE_HEADER, parse_notification, read_notification, webhook_signature

__all__ = [
    "MAX_REFERENCE_LENGTH",
    "SIGNATURE_HEADER",
    "AuthorizeNetConfig",
    "AuthorizeNetGateway",
    "adapter_for",
    "parse_notification",
    "read_notification",
    "webhook_signature",
]
