"""API methods of the Authorize.Net schema the sandbox does not emulate: each answers the documented
error a real account without the feature gets, never a card error and never a made-up success.

The codes are Authorize.Net's own (its published response-code list): E00011 "Access denied" is
what an account gets for a method its permissions (its enabled services) do not include; the
mobile-device methods have their own codes (E00057: the user may not submit requests from a
mobile device, E00054: the device is not registered, E00059: a method that needs a mobile
session token was called with a transaction key); a split-tender group or a held transaction the
account cannot have (the sandbox never approves partially and runs no fraud filters) is a record
that cannot be found, E00040. A root element that is no method of the schema stays E00004.

Customer-profile (CIM) and recurring-billing (ARB) methods are served by cim.py and arb.py.
"""

from __future__ import annotations

from collections.abc import Callable

from lxml import etree

from apps.sandbox.models import AnetAccount

from .xml import error_response

ACCESS_DENIED = ("E00011", "Access denied. You do not have the appropriate permissions.")
NOT_FOUND = ("E00040", "The record cannot be found.")

# method -> (code, text), and why the account answers it so.
REFUSALS: dict[str, tuple[str, str]] = {
    # Account Updater is a paid add-on the sandbox account is not enrolled in.
    "getAUJobSummaryRequest": ACCESS_DENIED,
    "getAUJobDetailsRequest": ACCESS_DENIED,
    # Visa Checkout (Visa SRC) is not enabled: nothing to decrypt.
    "decryptPaymentDataRequest": ACCESS_DENIED,
    # Accept Hosted and server-side Accept tokens: the sandbox serves Accept.js's browser flow only.
    "getHostedPaymentPageRequest": ACCESS_DENIED,
    "securePaymentContainerRequest": ACCESS_DENIED,
    # Changing the account's test mode is the merchant interface's business, not this API user's.
    "updateMerchantDetailsRequest": ACCESS_DENIED,
    # Mobile point of sale is not enabled for the account's users.
    "mobileDeviceRegistrationRequest": (
        "E00057",
        "The user does not have permissions to submit requests from a mobile device.",
    ),
    "mobileDeviceLoginRequest": ("E00054", "The mobile device is not registered with this merchant account."),
    "logoutRequest": ("E00059", "The authentication type is not allowed for this method call."),
    # No split-tender group and no held transaction can exist at the sandbox.
    "updateSplitTenderGroupRequest": NOT_FOUND,
    "updateHeldTransactionRequest": NOT_FOUND,
}
# Response roots whose XSD type requires more than `messages`: their errors use ErrorResponse.
_ERROR_RESPONSE_ROOTS = frozenset(
    {
        "getHostedPaymentPageResponse",
        "mobileDeviceLoginResponse",
        "securePaymentContainerResponse",
        "updateHeldTransactionResponse",
    }
)


def _refusal(code: str, text: str) -> Callable[[etree._Element, AnetAccount, str, str], bytes]:
    def handler(root: etree._Element, account: AnetAccount, response_root: str, ref_id: str) -> bytes:
        name = "ErrorResponse" if response_root in _ERROR_RESPONSE_ROOTS else response_root
        return error_response(name, code, text, ref_id)

    return handler


HANDLERS = {method: _refusal(code, text) for method, (code, text) in REFUSALS.items()}
