"""State of the gateway sandboxes: local emulators that speak each gateway's wire protocol.

They keep no card numbers either: only brand, last four digits and a keyed fingerprint (for the
duplicate-transaction window).
"""

from .authorizenet import (
    ANET_PAYMENT_PROFILE_ID_OFFSET,
    ANET_PROFILE_ID_OFFSET,
    ANET_SUBSCRIPTION_ID_OFFSET,
    ANET_TRANS_ID_OFFSET,
    AnetAccount,
    AnetBatch,
    AnetCustomerProfile,
    AnetNotification,
    AnetPaymentNonce,
    AnetPaymentProfile,
    AnetSubscription,
    AnetTransaction,
    AnetWebhook,
)
from .common import (
    SandboxCall,
    SandboxFault,
    SandboxNotification,
)
from .razorpay import (
    RzpAccount,
    RzpNotification,
    RzpOrder,
    RzpPayment,
    RzpRefund,
    RzpSettlement,
    RzpWebhook,
)
from .stripe import (
    StripeAccount,
    StripeBalanceTransaction,
    StripeCharge,
    StripeCustomer,
    StripeDispute,
    StripeEvent,
    StripeIdempotencyKey,
    StripeNotification,
    StripePaymentIntent,
    StripePaymentMethod,
    StripeRefund,
    StripeSetupIntent,
    StripeWebhookEndpoint,
)

__all__ = [
    "ANET_PAYMENT_PROFILE_ID_OFFSET",
    "ANET_PROFILE_ID_OFFSET",
    "ANET_SUBSCRIPTION_ID_OFFSET",
    "ANET_TRANS_ID_OFFSET",
    "AnetAccount",
    "AnetBatch",
    "AnetCustomerProfile",
    "AnetNotification",
    "AnetPaymentNonce",
    "AnetPaymentProfile",
    "AnetSubscription",
    "AnetTransaction",
    "AnetWebhook",
    "RzpAccount",
    "RzpNotification",
    "RzpOrder",
    "RzpPayment",
    "RzpRefund",
    "RzpSettlement",
    "RzpWebhook",
    "SandboxCall",
    "SandboxFault",
    "SandboxNotification",
    "StripeAccount",
    "StripeBalanceTransaction",
    "StripeCharge",
    "StripeCustomer",
    "StripeDispute",
    "StripeEvent",
    "StripeIdempotencyKey",
    "StripeNotification",
    "StripePaymentIntent",
    "StripePaymentMethod",
    "StripeRefund",
    "StripeSetupIntent",
    "StripeWebhookEndpoint",
]
