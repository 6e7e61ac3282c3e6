from __future__ import annotations

from apps.core.errors import ApplicationError, ConflictError


class PaymentMethodInUse(ConflictError):
    code = "payment_method_in_use"
    default_message = "This card pays for a live subscription; change the subscription's card first."


class PaymentMethodRemoved(ConflictError):
    code = "payment_method_removed"
    default_message = "This card was removed."


class VaultNotSupported(ApplicationError):
    status_code = 409
    code = "vault_not_supported"
    default_message = "This merchant's gateway account cannot save cards."


class CardUpdateNotSupported(ApplicationError):
    status_code = 409
    code = "card_update_not_supported"
    default_message = "This card's gateway cannot change a saved card: remove it and save the card again."


class CardSaveNotSupported(ApplicationError):
    status_code = 409
    code = "card_save_not_supported"
    default_message = "This payment's gateway cannot save the card of a past payment."
