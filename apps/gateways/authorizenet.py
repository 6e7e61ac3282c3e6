"""Authorize.Net through the official `authorizenet` SDK. The only module that imports it.

SDK facts this module works around (see docs/architecture.md and shared gateway notes):
- the endpoint is a process-global reset by every controller constructor, and the SDK posts
  with no timeout: apps.gateways.http replaces the SDK's `requests` with a per-call transport;
- HTTP errors, connection errors and timeouts make `getresponse()` return None silently: the
  transport records what happened so it can be classified;
- responses are lxml.objectify trees: numeric-looking codes are IntElements, so every value is
  read through `.text`; optional children may be missing, so every access is guarded;
- `messages.resultCode == "Ok"` does not prove approval: decide on transactionResponse.responseCode.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

from authorizenet import apicontractsv1, apicontrollers, apicontrollersbase
from django.conf import settings

from apps.core.money import to_decimal, to_minor

from . import http
from .base import (
    Billing,
    CaptureRequest,
    Card,
    ChargeRequest,
    GatewayResult,
    InvalidSignature,
    MalformedNotification,
    Notification,
    NotificationKind,
    OpaqueToken,
    Outcome,
    RecurringCharge,
    RecurringRequest,
    RecurringSchedule,
    RecurringStatus,
    RefundRequest,
    SavedCard,
    SettlementBatchData,
    SettlementLineData,
    SettlementLineKind,
    StoredCard,
    TransactionDetails,
    TransactionState,
    VaultCustomerRequest,
    VoidRequest,
)
from .errors import (
    GatewayDeclined,
    GatewayMisconfigured,
    GatewayNotFound,
    GatewayOutcomeUnknown,
    GatewayRetryable,
)
from .models import GatewayAccount

# Every SDK HTTP call goes through our transport (see apps.gateways.http).
apicontrollersbase.requests = SimpleNamespace(post=http.post)

logger = logging.getLogger(__name__)

PRODUCTION_ENDPOINT = "https://api.authorize.net/xml/v1/request.api"
SANDBOX_ENDPOINT = "https://apitest.authorize.net/xml/v1/request.api"
MAX_REFERENCE_LENGTH = 20  # refId and invoiceNumber are both limited to 20 characters

_BRANDS = {
    "Visa": "visa",
    "MasterCard": "mastercard",
    "AmericanExpress": "amex",
    "Discover": "discover",
    "JCB": "jcb",
    "DinersClub": "diners",
    "eCheck": "echeck",
}
# Reason codes (transactionResponse errors) -> our decline codes.
_DECLINE_CODES = {
    "2": "card_declined",
    "3": "card_declined",
    "4": "card_declined",
    "5": "invalid_amount",
    "6": "invalid_card_number",
    "7": "invalid_expiry",
    "8": "expired_card",
    "11": "duplicate_transaction",
    "16": "transaction_not_found",
    "27": "avs_mismatch",
    "44": "cvv_mismatch",
    "45": "avs_cvv_mismatch",
    "47": "capture_exceeds_authorized",
    "54": "payment_not_settled",  # a refund before settlement: void instead
    "55": "refund_exceeds_charge",
    "65": "cvv_mismatch",
    "310": "already_voided",
    "311": "already_captured",
}
# Reason codes that mean our account or request is wrong, not the card.
_MISCONFIGURED_REASONS = {"13", "33", "103", "123"}
# API-level message codes.
_RETRYABLE_API_CODES = {"E00001"}
_NOT_FOUND_API_CODES = {"E00040", "E00011", "E00035"}
_STATES = {
    "authorizedPendingCapture": TransactionState.AUTHORIZED,
    "authorizedPendingRelease": TransactionState.AUTHORIZED,
    "capturedPendingSettlement": TransactionState.CAPTURED,
    "pendingSettlement": TransactionState.CAPTURED,
    "pendingFinalSettlement": TransactionState.CAPTURED,
    "updatingSettlement": TransactionState.CAPTURED,
    "settledSuccessfully": TransactionState.SETTLED,
    "voided": TransactionState.VOIDED,
    "couldNotVoid": TransactionState.ERROR,
    "declined": TransactionState.DECLINED,
    "expired": TransactionState.DECLINED,
    "failedReview": TransactionState.DECLINED,
    "refundPendingSettlement": TransactionState.REFUND_PENDING,
    "refundSettledSuccessfully": TransactionState.REFUND_SETTLED,
    "FDSPendingReview": TransactionState.UNDER_REVIEW,
    "FDSAuthorizedPendingReview": TransactionState.UNDER_REVIEW,
    "underReview": TransactionState.UNDER_REVIEW,
    "approvedReview": TransactionState.CAPTURED,
    "generalError": TransactionState.ERROR,
    "communicationError": TransactionState.ERROR,
    "settlementError": TransactionState.ERROR,
    "returnedItem": TransactionState.SETTLED,
    "chargeback": TransactionState.SETTLED,
    "chargebackReversal": TransactionState.SETTLED,
}


@dataclass(frozen=True)
class AuthorizeNetConfig:
    api_login_id: str
    transaction_key: str = field(repr=False)
    endpoint: str
    currency: str = "USD"
    timeout_seconds: float = 30.0
    signature_key: str = field(default="", repr=False)


def _child(node: Any, name: str) -> Any:
    """A child element by local name. Not getattr: objectify elements have their own `.text`."""
    return node.find(f"{{*}}{name}") if node is not None else None


def _text(node: Any, *path: str) -> str:
    """The text of a nested optional child, or "" when any step is missing."""
    for name in path:
        node = _child(node, name)
        if node is None:
            return ""
    text = node.text
    return text.strip() if isinstance(text, str) else ""


def _utc_time(value: str) -> datetime | None:
    if not value:
        return None
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _all(node: Any, *path: str) -> list[Any]:
    """Every element at the last step of the path (repeated elements such as transaction)."""
    for name in path[:-1]:
        node = _child(node, name)
        if node is None:
            return []
    return list(node.findall(f"{{*}}{path[-1]}")) if node is not None else []


def _address(billing: Billing) -> Any:
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


def _payment(payment: Card | OpaqueToken) -> Any:
    node = apicontractsv1.paymentType()
    if isinstance(payment, Card):
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


_EXISTING_ID = re.compile(r"ID (\d+)")


def _first_message(node: Any) -> tuple[str, str]:
    """(code, text) of messages.message[0] of an API response."""
    messages = _all(node, "messages", "message")
    if not messages:
        return "", ""
    return _text(messages[0], "code"), _text(messages[0], "text")


class AuthorizeNetGateway:
    name = "authorizenet"
    supports_void = True
    supports_partial_capture = True

    def __init__(self, config: AuthorizeNetConfig) -> None:
        self.config = config

    # --- plumbing -----------------------------------------------------------------------

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
                raise GatewayRetryable(f"Authorize.Net not reached: {type(call.error).__name__}")
            if writes:
                raise GatewayOutcomeUnknown(f"No answer from Authorize.Net: {type(call.error).__name__}")
            raise GatewayRetryable(f"No answer from Authorize.Net: {type(call.error).__name__}")
        if call.status is not None and call.status >= 500:
            raise GatewayRetryable(f"Authorize.Net answered HTTP {call.status}")
        if call.status is not None and call.status >= 400:
            raise GatewayMisconfigured(f"Authorize.Net answered HTTP {call.status}")
        raise GatewayOutcomeUnknown("Empty response from Authorize.Net")

    def _api_error(self, response: Any) -> None:
        """Raise for an API-level error (messages.resultCode == Error without a transaction verdict)."""
        code, text = _first_message(response)
        message = f"{code}: {text}" if code else "Authorize.Net returned an error"
        if code in _RETRYABLE_API_CODES:
            raise GatewayRetryable(message, reason_code=code)
        if code in _NOT_FOUND_API_CODES:
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
        return self._transaction_result(response)

    def _transaction_result(self, response: Any) -> GatewayResult:
        tr = _child(response, "transactionResponse")
        response_code = _text(tr, "responseCode")
        if not response_code:
            self._api_error(response)
        if response_code in {"1", "4"}:
            messages = _all(tr, "messages", "message")
            reason = _text(messages[0], "code") if messages else ""
            text = _text(messages[0], "description") if messages else ""
        else:
            errors = _all(tr, "errors", "error")
            reason = _text(errors[0], "errorCode") if errors else ""
            text = _text(errors[0], "errorText") if errors else ""
        result = GatewayResult(
            outcome={"1": Outcome.APPROVED, "4": Outcome.HELD}.get(response_code, Outcome.DECLINED),
            transaction_id=_text(tr, "transId"),
            response_code=response_code,
            reason_code=reason,
            message=text,
            auth_code=_text(tr, "authCode"),
            avs_result=_text(tr, "avsResultCode"),
            cvv_result=_text(tr, "cvvResultCode"),
            card_brand=_BRANDS.get(_text(tr, "accountType"), _text(tr, "accountType").lower()),
            card_last4=_text(tr, "accountNumber")[-4:],
            decline_code="" if response_code in {"1", "4"} else _DECLINE_CODES.get(reason, "processing_error"),
        )
        if result.outcome is Outcome.DECLINED:
            if reason in _MISCONFIGURED_REASONS:
                raise GatewayMisconfigured(f"{reason}: {text}", reason_code=reason, response_code=response_code)
            raise GatewayDeclined(result)
        return result

    # --- payments -----------------------------------------------------------------------

    def _charge(self, transaction_type: str, request: ChargeRequest) -> GatewayResult:
        amount = self._amount(request.amount, request.currency)

        def build(transaction: Any) -> None:
            transaction.amount = amount
            if isinstance(request.payment, SavedCard):
                profile = apicontractsv1.customerProfilePaymentType()
                profile.customerProfileId = request.payment.customer_token
                saved = apicontractsv1.paymentProfile()
                saved.paymentProfileId = request.payment.payment_token
                profile.paymentProfile = saved
                transaction.profile = profile
            else:
                transaction.payment = _payment(request.payment)
            order = apicontractsv1.orderType()
            order.invoiceNumber = request.reference
            if request.description:
                order.description = request.description[:255]
            transaction.order = order
            if request.billing.email:
                customer = apicontractsv1.customerDataType()
                customer.email = request.billing.email[:255]
                transaction.customer = customer
            address = _address(request.billing)
            if address is not None and not isinstance(request.payment, SavedCard):
                transaction.billTo = address
            if request.customer_ip:
                transaction.customerIP = request.customer_ip

        return self._transaction(transaction_type, request.reference, build)

    def authorize(self, request: ChargeRequest) -> GatewayResult:
        return self._charge("authOnlyTransaction", request)

    def sale(self, request: ChargeRequest) -> GatewayResult:
        return self._charge("authCaptureTransaction", request)

    def capture(self, request: CaptureRequest) -> GatewayResult:
        amount = self._amount(request.amount, request.currency)

        def build(transaction: Any) -> None:
            transaction.amount = amount
            transaction.refTransId = request.transaction_id

        return self._transaction("priorAuthCaptureTransaction", request.reference, build)

    def void(self, request: VoidRequest) -> GatewayResult:
        def build(transaction: Any) -> None:
            transaction.refTransId = request.transaction_id

        try:
            return self._transaction("voidTransaction", request.reference, build)
        except GatewayDeclined as exc:
            if exc.result.reason_code != "16":
                raise
            # "Cannot be found" for a void: the charge settled and left the unsettled list.
            raise GatewayDeclined(replace(exc.result, decline_code="payment_already_settled")) from exc

    def refund(self, request: RefundRequest) -> GatewayResult:
        amount = self._amount(request.amount, request.currency)

        def build(transaction: Any) -> None:
            transaction.amount = amount
            card = apicontractsv1.creditCardType()
            # A refund names the settled charge and the card's last four digits, never the card.
            card.cardNumber = request.card_last4 or "0000"
            card.expirationDate = "XXXX"
            payment = apicontractsv1.paymentType()
            payment.creditCard = card
            transaction.payment = payment
            transaction.refTransId = request.transaction_id
            order = apicontractsv1.orderType()
            order.invoiceNumber = request.reference
            transaction.order = order

        return self._transaction("refundTransaction", request.reference, build)

    # --- lookups ------------------------------------------------------------------------

    def check_credentials(self) -> None:
        """Raise GatewayMisconfigured if the account's credentials are refused."""
        response = self._execute(
            apicontrollers.authenticateTestController, apicontractsv1.authenticateTestRequest(), writes=False
        )
        if _text(response, "messages", "resultCode") != "Ok":
            self._api_error(response)

    def fetch_transaction(self, transaction_id: str) -> TransactionDetails:
        request = apicontractsv1.getTransactionDetailsRequest()
        request.transId = transaction_id
        response = self._execute(apicontrollers.getTransactionDetailsController, request, writes=False)
        transaction = _child(response, "transaction")
        if _text(response, "messages", "resultCode") != "Ok" or transaction is None:
            self._api_error(response)
        return self._details(transaction)

    def _details(self, transaction: Any) -> TransactionDetails:
        currency = self.config.currency
        submitted = _text(transaction, "submitTimeUTC")
        card_number = _text(transaction, "payment", "creditCard", "cardNumber") or _text(transaction, "accountNumber")
        card_type = _text(transaction, "payment", "creditCard", "cardType") or _text(transaction, "accountType")
        return TransactionDetails(
            transaction_id=_text(transaction, "transId"),
            state=_STATES.get(_text(transaction, "transactionStatus"), TransactionState.ERROR),
            transaction_type=_text(transaction, "transactionType"),
            reference=_text(transaction, "order", "invoiceNumber") or _text(transaction, "invoiceNumber"),
            authorized_amount=to_minor(_text(transaction, "authAmount") or "0", currency),
            settled_amount=to_minor(_text(transaction, "settleAmount") or "0", currency),
            currency=currency,
            response_code=_text(transaction, "responseCode"),
            reason_code=_text(transaction, "responseReasonCode"),
            message=_text(transaction, "responseReasonDescription"),
            card_brand=_BRANDS.get(card_type, card_type.lower()),
            card_last4=card_number[-4:],
            original_transaction_id=_text(transaction, "refTransId"),
            submitted_at=datetime.fromisoformat(submitted.replace("Z", "+00:00")) if submitted else None,
            batch_id=_text(transaction, "batch", "batchId"),
            recurring_id=_text(transaction, "subscription", "id"),
            recurring_pay_num=int(_text(transaction, "subscription", "payNum") or 0),
        )

    def _transaction_ids_matching(self, listing: Any, reference: str) -> list[str]:
        items = _all(listing, "transactions", "transaction")
        return [_text(item, "transId") for item in items if _text(item, "invoiceNumber") == reference]

    def find_transaction(
        self, reference: str, parent_transaction_id: str = "", *, settled_days: int = 2
    ) -> TransactionDetails | None:
        """Find a transaction by our reference (sent as invoiceNumber): unsettled first, then
        the batches settled in the last `settled_days` days. None if the gateway has no record."""
        unsettled = apicontractsv1.getUnsettledTransactionListRequest()
        sorting = apicontractsv1.TransactionListSorting()
        sorting.orderBy = "submitTimeUTC"
        sorting.orderDescending = True
        unsettled.sorting = sorting
        paging = apicontractsv1.Paging()
        paging.limit = 1000
        paging.offset = 1
        unsettled.paging = paging
        response = self._execute(apicontrollers.getUnsettledTransactionListController, unsettled, writes=False)
        matches = self._transaction_ids_matching(response, reference)
        if not matches:
            batches_request = apicontractsv1.getSettledBatchListRequest()
            now = datetime.now(UTC)
            batches_request.firstSettlementDate = now - timedelta(days=settled_days)
            batches_request.lastSettlementDate = now
            batches = self._execute(apicontrollers.getSettledBatchListController, batches_request, writes=False)
            for batch in _all(batches, "batchList", "batch"):
                listing_request = apicontractsv1.getTransactionListRequest()
                listing_request.batchId = _text(batch, "batchId")
                listing = self._execute(apicontrollers.getTransactionListController, listing_request, writes=False)
                matches = self._transaction_ids_matching(listing, reference)
                if matches:
                    break
        if not matches:
            return None
        return self.fetch_transaction(matches[0])

    # --- settlement reports (Transaction Details API) -----------------------------------------

    SETTLEMENT_PAGE = 1000  # getTransactionList's largest page

    def settlements(self, *, since: datetime, until: datetime) -> list[SettlementBatchData]:
        """Batches settled in [since, until) (getSettledBatchList) with every transaction in each
        (getTransactionList, page by page). Authorize.Net deducts no fees per batch: it bills
        them monthly, so the lines carry none and the payout is the batch's net."""
        request = apicontractsv1.getSettledBatchListRequest()
        request.firstSettlementDate = since.astimezone(UTC)
        request.lastSettlementDate = until.astimezone(UTC)
        response = self._execute(apicontrollers.getSettledBatchListController, request, writes=False)
        if _text(response, "messages", "resultCode") != "Ok":
            self._api_error(response)
        batches = []
        for batch in _all(response, "batchList", "batch"):
            settled_at = _utc_time(_text(batch, "settlementTimeUTC"))
            if settled_at is None or not since <= settled_at < until:
                continue
            if _text(batch, "settlementState") not in {"settledSuccessfully", ""}:
                continue  # settlementError / pendingSettlement: nothing was paid out yet
            lines = self._batch_lines(_text(batch, "batchId"))
            net = sum(line.amount if line.kind == SettlementLineKind.CHARGE else -line.amount for line in lines)
            batches.append(
                SettlementBatchData(
                    batch_id=_text(batch, "batchId"),
                    settled_at=settled_at,
                    currency=self.config.currency,
                    lines=lines,
                    payout_amount=net,
                )
            )
        return batches

    def _batch_lines(self, batch_id: str) -> list[SettlementLineData]:
        lines: list[SettlementLineData] = []
        page = 1
        while True:
            request = apicontractsv1.getTransactionListRequest()
            request.batchId = batch_id
            sorting = apicontractsv1.TransactionListSorting()
            sorting.orderBy = "id"
            sorting.orderDescending = False
            request.sorting = sorting
            paging = apicontractsv1.Paging()
            paging.limit = self.SETTLEMENT_PAGE
            paging.offset = page
            request.paging = paging
            response = self._execute(apicontrollers.getTransactionListController, request, writes=False)
            if _text(response, "messages", "resultCode") != "Ok":
                self._api_error(response)
            items = _all(response, "transactions", "transaction")
            lines += [self._settlement_line(item) for item in items]
            if len(items) < self.SETTLEMENT_PAGE:
                return lines
            page += 1

    def _settlement_line(self, item: Any) -> SettlementLineData:
        status = _text(item, "transactionStatus")
        kind = {
            "settledSuccessfully": SettlementLineKind.CHARGE,
            "refundSettledSuccessfully": SettlementLineKind.REFUND,
        }.get(status, SettlementLineKind.ADJUSTMENT)
        return SettlementLineData(
            transaction_id=_text(item, "transId"),
            kind=kind,
            status=status,
            amount=abs(to_minor(_text(item, "settleAmount") or "0", self.config.currency)),
            currency=self.config.currency,
            reference=_text(item, "invoiceNumber"),
            occurred_at=_utc_time(_text(item, "submitTimeUTC")),
        )

    # --- the vault (CIM) ------------------------------------------------------------------

    def _ok(self, response: Any) -> bool:
        return _text(response, "messages", "resultCode") == "Ok"

    def vault_customer_create(self, request: VaultCustomerRequest) -> str:
        profile = apicontractsv1.customerProfileType()
        profile.merchantCustomerId = self._reference(request.reference)
        if request.email:
            profile.email = request.email[:255]
        if request.description:
            profile.description = request.description[:255]
        call = apicontractsv1.createCustomerProfileRequest()
        call.profile = profile
        call.validationMode = "none"
        response = self._execute(apicontrollers.createCustomerProfileController, call, writes=True)
        if self._ok(response):
            return _text(response, "customerProfileId")
        code, text = _first_message(response)
        existing = _EXISTING_ID.search(text)
        if code == "E00039" and existing:  # this reference already has a profile: a retry
            return existing.group(1)
        self._api_error(response)
        raise AssertionError("unreachable")  # pragma: no cover - _api_error always raises

    def vault_customer_delete(self, customer_token: str) -> None:
        call = apicontractsv1.deleteCustomerProfileRequest()
        call.customerProfileId = customer_token
        response = self._execute(apicontrollers.deleteCustomerProfileController, call, writes=True)
        if not self._ok(response) and _first_message(response)[0] not in _NOT_FOUND_API_CODES:
            self._api_error(response)

    def vault_card_add(
        self, *, customer_token: str, payment: Card | OpaqueToken, billing: Billing, validate: bool = True
    ) -> StoredCard:
        profile = apicontractsv1.customerPaymentProfileType()
        address = _address(billing)
        if address is not None:
            profile.billTo = address
        profile.payment = _payment(payment)
        call = apicontractsv1.createCustomerPaymentProfileRequest()
        call.customerProfileId = customer_token
        call.paymentProfile = profile
        call.validationMode = "testMode" if validate else "none"
        response = self._execute(apicontrollers.createCustomerPaymentProfileController, call, writes=True)
        token = _text(response, "customerPaymentProfileId")
        code, text = _first_message(response)
        if not self._ok(response) and not (code == "E00039" and token):
            direct = _text(response, "validationDirectResponse").split(",")
            if code == "E00027" and len(direct) > 3:
                reason = direct[2]
                raise GatewayDeclined(
                    GatewayResult(
                        outcome=Outcome.DECLINED,
                        transaction_id="",
                        response_code=direct[0],
                        reason_code=reason,
                        message=direct[3] or text,
                        decline_code=_DECLINE_CODES.get(reason, "card_declined"),
                    )
                )
            if code == "E00039":  # a duplicate card whose id the gateway did not give: look it up
                raise GatewayMisconfigured(f"{code}: {text}", reason_code=code)
            self._api_error(response)
        return self.vault_card_get(customer_token, token)

    def vault_card_get(self, customer_token: str, payment_token: str) -> StoredCard:
        call = apicontractsv1.getCustomerPaymentProfileRequest()
        call.customerProfileId = customer_token
        call.customerPaymentProfileId = payment_token
        call.unmaskExpirationDate = True
        response = self._execute(apicontrollers.getCustomerPaymentProfileController, call, writes=False)
        profile = _child(response, "paymentProfile")
        if not self._ok(response) or profile is None:
            self._api_error(response)
        card_type = _text(profile, "payment", "creditCard", "cardType")
        expiry = _text(profile, "payment", "creditCard", "expirationDate")
        year, _, month = expiry.partition("-")
        known = year.isdigit() and month.isdigit()
        return StoredCard(
            customer_token=customer_token,
            payment_token=payment_token,
            card_brand=_BRANDS.get(card_type, card_type.lower()),
            card_last4=_text(profile, "payment", "creditCard", "cardNumber")[-4:],
            exp_month=int(month) if known else None,
            exp_year=int(year) if known else None,
        )

    def vault_card_delete(self, customer_token: str, payment_token: str) -> None:
        call = apicontractsv1.deleteCustomerPaymentProfileRequest()
        call.customerProfileId = customer_token
        call.customerPaymentProfileId = payment_token
        response = self._execute(apicontrollers.deleteCustomerPaymentProfileController, call, writes=True)
        if not self._ok(response) and _first_message(response)[0] not in _NOT_FOUND_API_CODES:
            self._api_error(response)

    # --- schedules the gateway runs (ARB) -------------------------------------------------

    def recurring_create(self, request: RecurringRequest) -> str:
        schedule = apicontractsv1.paymentScheduleType()
        interval = apicontractsv1.paymentScheduleTypeInterval()
        interval.length = request.interval_length
        interval.unit = request.interval_unit
        schedule.interval = interval
        schedule.startDate = request.start_date
        schedule.totalOccurrences = request.total_occurrences
        if request.trial_occurrences:
            schedule.trialOccurrences = request.trial_occurrences
        subscription = apicontractsv1.ARBSubscriptionType()
        subscription.name = request.name[:50]
        subscription.paymentSchedule = schedule
        subscription.amount = self._amount(request.amount, request.currency)
        if request.trial_occurrences:
            subscription.trialAmount = self._amount(request.trial_amount, request.currency)
        profile = apicontractsv1.customerProfileIdType()
        profile.customerProfileId = request.customer_token
        profile.customerPaymentProfileId = request.payment_token
        subscription.profile = profile
        order = apicontractsv1.orderType()
        order.invoiceNumber = self._reference(request.reference)
        subscription.order = order
        call = apicontractsv1.ARBCreateSubscriptionRequest()
        call.refId = request.reference
        call.subscription = subscription
        response = self._execute(apicontrollers.ARBCreateSubscriptionController, call, writes=True)
        if self._ok(response):
            return _text(response, "subscriptionId")
        code, text = _first_message(response)
        existing = re.search(r"Subscription (\d+)", text)
        if code == "E00012" and existing:  # the same request again: the subscription it made
            return existing.group(1)
        self._api_error(response)
        raise AssertionError("unreachable")  # pragma: no cover - _api_error always raises

    def recurring_cancel(self, recurring_id: str) -> None:
        call = apicontractsv1.ARBCancelSubscriptionRequest()
        call.subscriptionId = recurring_id
        response = self._execute(apicontrollers.ARBCancelSubscriptionController, call, writes=True)
        if not self._ok(response):
            self._api_error(response)

    def recurring_status(self, recurring_id: str) -> RecurringStatus:
        call = apicontractsv1.ARBGetSubscriptionStatusRequest()
        call.subscriptionId = recurring_id
        response = self._execute(apicontrollers.ARBGetSubscriptionStatusController, call, writes=False)
        if not self._ok(response):
            self._api_error(response)
        return _recurring_status(_text(response, "status"))

    def recurring_get(self, recurring_id: str) -> RecurringSchedule:
        call = apicontractsv1.ARBGetSubscriptionRequest()
        call.subscriptionId = recurring_id
        call.includeTransactions = True
        response = self._execute(apicontrollers.ARBGetSubscriptionController, call, writes=False)
        subscription = _child(response, "subscription")
        if not self._ok(response) or subscription is None:
            self._api_error(response)
        charges = []
        for item in _all(subscription, "arbTransactions", "arbTransaction"):
            submitted = _text(item, "submitTimeUTC")
            charges.append(
                RecurringCharge(
                    transaction_id=_text(item, "transId"),
                    pay_num=int(_text(item, "payNum") or 0),
                    response=_text(item, "response"),
                    submitted_at=datetime.fromisoformat(submitted.replace("Z", "+00:00")) if submitted else None,
                )
            )
        return RecurringSchedule(
            recurring_id=recurring_id,
            status=_recurring_status(_text(subscription, "status")),
            amount=to_minor(_text(subscription, "amount") or "0", self.config.currency),
            currency=self.config.currency,
            name=_text(subscription, "name"),
            charges=tuple(charges),
        )


# ARB's subscription statuses (ARBSubscriptionStatusEnum) in our words.
_RECURRING_STATUSES = {
    "active": RecurringStatus.ACTIVE,
    "suspended": RecurringStatus.SUSPENDED,
    "canceled": RecurringStatus.CANCELED,
    "cancelled": RecurringStatus.CANCELED,
    "terminated": RecurringStatus.TERMINATED,
    "expired": RecurringStatus.EXPIRED,
}


def _recurring_status(status: str) -> RecurringStatus:
    return _RECURRING_STATUSES.get(status.lower(), RecurringStatus.UNKNOWN)


# --- webhooks (Authorize.Net -> us) -------------------------------------------------------------

# Webhook event types (net.authorize.*) in our words. ARB's own charges arrive as ordinary
# authcapture notifications; every customer.subscription.* event means "ask the schedule".
_NOTIFICATION_KINDS = {
    "net.authorize.payment.authcapture.created": NotificationKind.PAYMENT_CAPTURED,
    "net.authorize.payment.authorization.created": NotificationKind.PAYMENT_AUTHORIZED,
    "net.authorize.payment.capture.created": NotificationKind.PAYMENT_CAPTURED,
    "net.authorize.payment.priorAuthCapture.created": NotificationKind.PAYMENT_CAPTURED,
    "net.authorize.payment.refund.created": NotificationKind.REFUND_SUCCEEDED,
    "net.authorize.payment.void.created": NotificationKind.PAYMENT_VOIDED,
    "net.authorize.payment.fraud.approved": NotificationKind.PAYMENT_UNDER_REVIEW,
    "net.authorize.payment.fraud.declined": NotificationKind.PAYMENT_UNDER_REVIEW,
    "net.authorize.payment.fraud.held": NotificationKind.PAYMENT_UNDER_REVIEW,
}
_SUBSCRIPTION_EVENT_PREFIX = "net.authorize.customer.subscription."

SIGNATURE_HEADER = "X-ANET-Signature"


def webhook_signature(body: bytes, signature_key: str) -> str:
    """`sha512=<HEX>`: HMAC-SHA512 of the raw body keyed with the Signature Key *text* (not
    hex-decoded), upper-case hex, as Authorize.Net sends it."""
    digest = hmac.new(signature_key.encode(), body, hashlib.sha512).hexdigest().upper()
    return f"sha512={digest}"


def parse_notification(body: bytes, headers: dict[str, str], credentials: dict[str, Any]) -> Notification:
    """Verify `X-ANET-Signature` in constant time (case-insensitively) and read the envelope.
    Raises InvalidSignature or MalformedNotification."""
    key = credentials.get("signature_key") or ""
    given = (headers.get(SIGNATURE_HEADER.lower()) or "").strip()
    if not key or not given.lower().startswith("sha512="):
        raise InvalidSignature("missing X-ANET-Signature" if key else "no Signature Key configured")
    expected = webhook_signature(body, key)
    if not hmac.compare_digest(given.upper().encode(), expected.upper().encode()):
        raise InvalidSignature("X-ANET-Signature does not match")
    return read_notification(body, headers)


def read_notification(body: bytes, headers: dict[str, str]) -> Notification:
    """What a notification (verified when it arrived) says, in our words. Raises MalformedNotification."""
    try:
        envelope = json.loads(body)
        payload = envelope.get("payload") or {}
        event_type = str(envelope.get("eventType", ""))[:100]
        object_id = str(payload.get("id", ""))[:100]
        recurring = event_type.startswith(_SUBSCRIPTION_EVENT_PREFIX)
        return Notification(
            event_id=str(envelope["notificationId"])[:100],
            event_type=event_type,
            entity=str(payload.get("entityName", "")),
            object_id=object_id,
            reference=str(payload.get("merchantReferenceId", "") or payload.get("invoiceNumber", "")),
            kind=NotificationKind.RECURRING_CHANGED
            if recurring
            else _NOTIFICATION_KINDS.get(event_type, NotificationKind.OTHER),
            recurring_id=object_id if recurring else "",
        )
    except (ValueError, KeyError, AttributeError, TypeError) as exc:
        raise MalformedNotification(f"unreadable Authorize.Net notification: {exc}") from exc


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
