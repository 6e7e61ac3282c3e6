"""The plumbing every Authorize.Net call shares: the SDK's transport, authentication, errors.

SDK facts this module works around (see docs/architecture.md and shared gateway notes):
- the endpoint is a process-global reset by every controller constructor, and the SDK posts
  with no timeout: apps.gateways.http replaces the SDK's `requests` with a per-call transport;
- HTTP errors, connection errors and timeouts make `getresponse()` return None silently: the
  transport records what happened so it can be classified;
- `messages.resultCode == "Ok"` does not prove approval: decide on transactionResponse.responseCode.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from dataclasses import dataclass, field
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

from authorizenet import apicontractsv1, apicontrollers, apicontrollersbase

from apps.core.money import to_decimal
from apps.gateways import http
from apps.gateways.base import BankAccount, Billing, Card, GatewayResult, OpaqueToken, Outcome
from apps.gateways.errors import (
    GatewayDeclined,
    GatewayMisconfigured,
    GatewayNotFound,
    GatewayOutcomeUnknown,
    GatewayRetryable,
)

from .vocabulary import (
    MISCONFIGURED_REASONS,
    NOT_FOUND_API_CODES,
    RETRYABLE_API_CODES,
    all_of,
    brand,
    child,
    decline_code,
    first_message,
    text,
)

# Every SDK HTTP call goes through our transport (see apps.gateways.http).
apicontrollersbase.requests = SimpleNamespace(post=http.post)

MAX_REFERENCE_LENGTH = 20  # refId and invoiceNumber are both limited to 20 characters

logger = logging.getLogger(__name__)


def trans_hash_sha2(signature_key: str, api_login_id: str, trans_id: str, amount: Decimal) -> str:
    """transHashSha2 as Authorize.Net's Transaction Hash Upgrade Guide defines it: HMAC-SHA512 keyed
    with the hex-decoded Signature Key over "^apiLoginId^transId^amount^" (two decimals), in
    upper-case hex. (Webhook signatures use the key's text instead: see notifications.py.)"""
    message = f"^{api_login_id}^{trans_id}^{amount:.2f}^".encode()
    return hmac.new(bytes.fromhex(signature_key), message, hashlib.sha512).hexdigest().upper()


@dataclass(frozen=True)
class AuthorizeNetConfig:
    api_login_id: str
    transaction_key: str = field(repr=False)
    endpoint: str
    currency: str = "USD"
    timeout_seconds: float = 30.0
    signature_key: str = field(default="", repr=False)


def address_of(billing: Billing) -> Any:
    if not any((billing.name, billing.line1, billing.postal_code, billing.city, billing.country)):
        return None
    address = apicontractsv1.customerAddressType()
    first, _, last = billing.name.partition(" ")
    address.firstName, address.lastName = first[:50], last[:50]
    address.address = billing.line1[:60]
    address.city = billing.city[:40]
    address.state = billing.state[:40]
    address.zip = billing.postal_code[:20]
    address.country = billing.country[:60]
    return address


# Our bank account types in eCheck.Net's words (bankAccountTypeEnum).
BANK_ACCOUNT_TYPES = {"checking": "checking", "savings": "savings", "business_checking": "businessChecking"}


def bank_account_of(payment: BankAccount) -> Any:
    bank = apicontractsv1.bankAccountType()
    bank.accountType = BANK_ACCOUNT_TYPES[payment.account_type]
    bank.routingNumber = payment.routing_number
    bank.accountNumber = payment.account_number
    bank.nameOnAccount = payment.holder_name[:22]
    bank.echeckType = payment.echeck_type
    return bank


def payment_of(payment: Card | OpaqueToken | BankAccount) -> Any:
    node = apicontractsv1.paymentType()
    if isinstance(payment, BankAccount):
        node.bankAccount = bank_account_of(payment)
    elif isinstance(payment, Card):
        card = apicontractsv1.creditCardType()
        card.cardNumber = payment.number
        card.expirationDate = f"{payment.exp_year:04d}-{payment.exp_month:02d}"
        if payment.cvc:
            card.cardCode = payment.cvc
        node.creditCard = card
    else:
        opaque = apicontractsv1.opaqueDataType()
        opaque.dataDescriptor = payment.descriptor
        opaque.dataValue = payment.value
        node.opaqueData = opaque
    return node


class AuthorizeNetClient:
    """Calls one Authorize.Net account; the gateway's operations are mixins over this."""

    name = "authorizenet"

    def __init__(self, config: AuthorizeNetConfig) -> None:
        self.config = config

    def _merchant_auth(self) -> Any:
        auth = apicontractsv1.merchantAuthenticationType()
        auth.name = self.config.api_login_id
        auth.transactionKey = self.config.transaction_key
        return auth

    def _execute(self, controller_class: Any, request: Any, *, writes: bool) -> Any:
        request.merchantAuthentication = self._merchant_auth()
        with http.gateway_call(endpoint=self.config.endpoint, timeout=self.config.timeout_seconds) as call:
            controller = controller_class(request)
            try:
                controller.execute()
            except Exception as exc:  # the SDK raises only when it cannot parse what came back
                raise GatewayOutcomeUnknown(f"Unreadable response from Authorize.Net: {type(exc).__name__}") from exc
            response = controller.getresponse()
        if response is not None:
            return response
        if call.error is not None:
            if http.never_sent(call.error):
                raise GatewayRetryable(
                    f"Authorize.Net not reached: {type(call.error).__name__}", url=self.config.endpoint
                )
            if writes:
                raise GatewayOutcomeUnknown(f"No answer from Authorize.Net: {type(call.error).__name__}")
            raise GatewayRetryable(f"No answer from Authorize.Net: {type(call.error).__name__}")
        if call.status is not None and call.status >= 500:
            # Authorize.Net answers its own errors with HTTP 200: a 5xx comes from what stands in
            # front of it. 503 is a refusal (no server took the request); a 500, 502 or 504 may
            # come after the request went through, so a write's outcome is unknown.
            if writes and call.status != 503:
                raise GatewayOutcomeUnknown(f"Authorize.Net answered HTTP {call.status}")
            raise GatewayRetryable(f"Authorize.Net answered HTTP {call.status}")
        if call.status is not None and call.status >= 400:
            raise GatewayMisconfigured(f"Authorize.Net answered HTTP {call.status}")
        raise GatewayOutcomeUnknown("Empty response from Authorize.Net")

    def _api_error(self, response: Any) -> None:
        """Raise for an API-level error (messages.resultCode == Error without a transaction verdict)."""
        code, said = first_message(response)
        message = f"{code}: {said}" if code else "Authorize.Net returned an error"
        if code in RETRYABLE_API_CODES:
            raise GatewayRetryable(message, reason_code=code)
        if code in NOT_FOUND_API_CODES:
            raise GatewayNotFound(message, reason_code=code)
        raise GatewayMisconfigured(message, reason_code=code)

    def _reference(self, reference: str) -> str:
        if not reference or len(reference) > MAX_REFERENCE_LENGTH:
            raise GatewayMisconfigured(f"Reference must be 1 to {MAX_REFERENCE_LENGTH} characters: {reference!r}")
        return reference

    def _amount(self, amount: int, currency: str) -> Decimal:
        if currency.upper() != self.config.currency:
            raise GatewayMisconfigured(f"This Authorize.Net account settles {self.config.currency}, not {currency}")
        return to_decimal(amount, currency)

    def _transaction(self, transaction_type: str, reference: str, build: Any) -> GatewayResult:
        transaction = apicontractsv1.transactionRequestType()
        transaction.transactionType = transaction_type
        build(transaction)
        request = apicontractsv1.createTransactionRequest()
        request.refId = self._reference(reference)
        request.transactionRequest = transaction
        response = self._execute(apicontrollers.createTransactionController, request, writes=True)
        self._check_trans_hash(response, transaction.amount)
        return self._transaction_result(response)

    def _check_trans_hash(self, response: Any, amount: Decimal | None) -> None:
        """An answer whose transHashSha2 is not what our Signature Key gives for it was not written by
        Authorize.Net for this request, or was altered on the way: its verdict is not trusted. It is
        logged and the outcome is unknown, so the payment is settled by looking the transaction up
        (never charged again). Checked only where all three are known: the key, the hash (accounts
        without a signature key get none) and the amount (a void sends none)."""
        tr = child(response, "transactionResponse")
        sent = text(tr, "transHashSha2")
        if not sent or not self.config.signature_key or amount is None:
            return
        trans_id = text(tr, "transId")
        try:
            expected = trans_hash_sha2(self.config.signature_key, self.config.api_login_id, trans_id, amount)
        except ValueError:
            logger.warning("anet_signature_key_not_hex", extra={"api_login_id": self.config.api_login_id})
            return
        if not hmac.compare_digest(sent.upper(), expected):
            logger.error("anet_trans_hash_mismatch", extra={"trans_id": trans_id, "ref_id": text(response, "refId")})
            raise GatewayOutcomeUnknown("Authorize.Net's transaction hash does not match its answer: not trusted")

    def _transaction_result(self, response: Any) -> GatewayResult:
        tr = child(response, "transactionResponse")
        response_code = text(tr, "responseCode")
        if not response_code:
            if first_message(response)[0] in RETRYABLE_API_CODES:
                # "Unexpected system error" with no verdict on a transaction: it may have been made.
                raise GatewayOutcomeUnknown("Authorize.Net: unexpected system error (E00001) on a transaction")
            self._api_error(response)
        if response_code in {"1", "4"}:
            messages = all_of(tr, "messages", "message")
            reason = text(messages[0], "code") if messages else ""
            message = text(messages[0], "description") if messages else ""
        else:
            errors = all_of(tr, "errors", "error")
            reason = text(errors[0], "errorCode") if errors else ""
            message = text(errors[0], "errorText") if errors else ""
        result = GatewayResult(
            outcome={"1": Outcome.APPROVED, "4": Outcome.HELD}.get(response_code, Outcome.DECLINED),
            transaction_id=text(tr, "transId"),
            response_code=response_code,
            reason_code=reason,
            message=message,
            auth_code=text(tr, "authCode"),
            avs_result=text(tr, "avsResultCode"),
            cvv_result=text(tr, "cvvResultCode"),
            card_brand=brand(text(tr, "accountType")),
            card_last4=text(tr, "accountNumber")[-4:],
            decline_code="" if response_code in {"1", "4"} else decline_code(reason),
        )
        if result.outcome is Outcome.DECLINED:
            if reason in MISCONFIGURED_REASONS:
                raise GatewayMisconfigured(f"{reason}: {message}", reason_code=reason, response_code=response_code)
            raise GatewayDeclined(result)
        return result

    def _ok(self, response: Any) -> bool:
        return text(response, "messages", "resultCode") == "Ok"
