from __future__ import annotations

from apps.core.errors import ApplicationError, NotFoundError


class CheckoutSignatureInvalid(ApplicationError):
    code = "signature_invalid"
    default_message = "The checkout signature does not match; nothing was changed."


class CheckoutMismatch(ApplicationError):
    code = "payment_mismatch"
    default_message = "The payment does not match this checkout; nothing was changed."


class CheckoutNotFound(NotFoundError):
    default_message = "No checkout of this merchant has this order id."


class QuantityInvalid(ApplicationError):
    code = "quantity_invalid"


class PriceNotFound(NotFoundError):
    default_message = "No active price with this id."
