"""Razorpay through the official `razorpay` SDK. Only this package imports it.

gateway: the adapter (orders, lookups, captures, refunds, settlements); notifications: webhooks.
"""

from .gateway import RazorpayConfig, RazorpayGateway, adapter_for
from .notifications import (
    EVENT_ID_HEADER,
    SIGNATURE_HEADER,
    notification_objects,
    parse_notification,
    read_notification,
    webhook_signature,
)

__all__ = [
    "EVENT_ID_HEADER",
    "SIGNATURE_HEADER",
    "RazorpayConfig",
    "RazorpayGateway",
    "adapter_for",
    "notification_objects",
    "parse_notification",
    "read_notification",
    "webhook_signature",
]
