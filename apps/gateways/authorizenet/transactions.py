"""Payments at Authorize.Net: charge, capture, void, refund, and looking transactions up."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from authorizenet import apicontractsv1, apicontrollers

from apps.core.money import to_minor
from apps.gateways.base import (
    BankAccount,
    CaptureRequest,
    ChargeRequest,
    GatewayResult,
    RefundRequest,
    SavedCard,
    TransactionDetails,
    TransactionState,
    VoidRequest,
)
from apps.gateways.errors import GatewayDeclined, GatewayMisconfigured

from .client import AuthorizeNetClient, address_of, bank_account_of, payment_of
from .vocabulary import STATES, all_of, brand, child, text, utc_time


class Transactions(AuthorizeNetClient):
    supports_void = True
    voids_captures = True
    requests_three_d_secure = False
    supports_partial_capture = True

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
                transaction.payment = payment_of(request.payment)
            if request.authorization_code:
                transaction.authCode = request.authorization_code
            order = apicontractsv1.orderType()
            order.invoiceNumber = request.reference
            if request.description:
                order.description = request.description[:255]
            transaction.order = order
            if request.billing.email:
                customer = apicontractsv1.customerDataType()
                customer.email = request.billing.email[:255]
                transaction.customer = customer
            address = address_of(request.billing)
            if address is not None and not isinstance(request.payment, SavedCard):
                transaction.billTo = address
            if request.customer_ip:
                transaction.customerIP = request.customer_ip

        return self._transaction(transaction_type, request.reference, build)

    def authorize(self, request: ChargeRequest) -> GatewayResult:
        if request.authorization_code:
            raise GatewayMisconfigured("An authorization obtained by phone is captured (a sale), not authorized again")
        return self._charge("authOnlyTransaction", request)

    def sale(self, request: ChargeRequest) -> GatewayResult:
        # With the issuer's approval code (an authorisation obtained by phone) the card is captured
        # against it without asking the issuer: captureOnlyTransaction.
        kind = "captureOnlyTransaction" if request.authorization_code else "authCaptureTransaction"
        return self._charge(kind, request)

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
            payment = apicontractsv1.paymentType()
            if request.bank_account is not None:
                # A credit to the debited account names it by its masked numbers (bankAccountMaskedType).
                bank = request.bank_account
                payment.bankAccount = bank_account_of(
                    BankAccount(f"XXXX{bank.routing_last4}", f"XXXX{bank.last4}", bank.account_type, bank.holder_name,
                                "CCD" if bank.account_type == "business_checking" else "WEB")
                )  # fmt: skip
            else:
                card = apicontractsv1.creditCardType()
                # A refund names the settled charge and the card's last four digits, never the card.
                card.cardNumber = request.card_last4 or "0000"
                card.expirationDate = "XXXX"
                payment.creditCard = card
            transaction.payment = payment
            transaction.refTransId = request.transaction_id
            order = apicontractsv1.orderType()
            order.invoiceNumber = request.reference
            transaction.order = order

        return self._transaction("refundTransaction", request.reference, build)

    def check_credentials(self) -> None:
        """Raise GatewayMisconfigured if the account's credentials are refused."""
        response = self._execute(
            apicontrollers.authenticateTestController, apicontractsv1.authenticateTestRequest(), writes=False
        )
        if text(response, "messages", "resultCode") != "Ok":
            self._api_error(response)

    def fetch_transaction(self, transaction_id: str) -> TransactionDetails:
        request = apicontractsv1.getTransactionDetailsRequest()
        request.transId = transaction_id
        response = self._execute(apicontrollers.getTransactionDetailsController, request, writes=False)
        transaction = child(response, "transaction")
        if text(response, "messages", "resultCode") != "Ok" or transaction is None:
            self._api_error(response)
        return self._details(transaction)

    def _details(self, transaction: Any) -> TransactionDetails:
        currency = self.config.currency
        submitted = text(transaction, "submitTimeUTC")
        card_number = text(transaction, "payment", "creditCard", "cardNumber") or text(transaction, "accountNumber")
        card_type = text(transaction, "payment", "creditCard", "cardType") or text(transaction, "accountType")
        return TransactionDetails(
            transaction_id=text(transaction, "transId"),
            state=STATES.get(text(transaction, "transactionStatus"), TransactionState.ERROR),
            transaction_type=text(transaction, "transactionType"),
            reference=text(transaction, "order", "invoiceNumber") or text(transaction, "invoiceNumber"),
            authorized_amount=to_minor(text(transaction, "authAmount") or "0", currency),
            settled_amount=to_minor(text(transaction, "settleAmount") or "0", currency),
            currency=currency,
            response_code=text(transaction, "responseCode"),
            reason_code=text(transaction, "responseReasonCode"),
            message=text(transaction, "responseReasonDescription"),
            card_brand=brand(card_type),
            card_last4=card_number[-4:],
            original_transaction_id=text(transaction, "refTransId"),
            submitted_at=datetime.fromisoformat(submitted.replace("Z", "+00:00")) if submitted else None,
            batch_id=text(transaction, "batch", "batchId"),
            recurring_id=text(transaction, "subscription", "id"),
            recurring_pay_num=int(text(transaction, "subscription", "payNum") or 0),
        )

    LOOKUP_PAGE = 1000  # getUnsettledTransactionList's and getTransactionList's largest page

    def _listed(self, controller: Any, request: Any) -> Iterator[Any]:
        """Every transaction of a list, page after page. A list the gateway would not give (an
        API error, e.g. E00011: the Transaction Details API is off for the account) raises: a
        lookup that could not be made must never read as "no such transaction"."""
        page = 1
        while True:
            paging = apicontractsv1.Paging()
            paging.limit = self.LOOKUP_PAGE
            paging.offset = page
            request.paging = paging
            response = self._execute(controller, request, writes=False)
            if text(response, "messages", "resultCode") != "Ok":  # "no records" (I00004) is Ok
                self._api_error(response)
            items = all_of(response, "transactions", "transaction")
            yield from items
            if len(items) < self.LOOKUP_PAGE:
                return
            page += 1

    def _first_with_reference(self, items: Iterator[Any], reference: str, since: datetime | None) -> str:
        for item in items:
            if text(item, "invoiceNumber") == reference:
                return text(item, "transId")
            submitted = utc_time(text(item, "submitTimeUTC"))
            if since is not None and submitted is not None and submitted < since:
                return ""  # newest first: everything further down is older than our call
        return ""

    def find_transaction(
        self,
        reference: str,
        parent_transaction_id: str = "",
        *,
        made_at: datetime | None = None,
        settled_days: int = 2,
    ) -> TransactionDetails | None:
        """Find a transaction by our reference (sent as invoiceNumber): unsettled first (newest
        first, down to a few minutes before `made_at` when given), then every transaction of the
        batches settled in the last `settled_days` days. None only if the gateway has no record;
        a list it would not give raises."""
        unsettled = apicontractsv1.getUnsettledTransactionListRequest()
        sorting = apicontractsv1.TransactionListSorting()
        sorting.orderBy = "submitTimeUTC"
        sorting.orderDescending = True
        unsettled.sorting = sorting
        since = made_at - timedelta(minutes=5) if made_at is not None else None
        found = self._first_with_reference(
            self._listed(apicontrollers.getUnsettledTransactionListController, unsettled), reference, since
        )
        if not found:
            batches_request = apicontractsv1.getSettledBatchListRequest()
            now = datetime.now(UTC)
            batches_request.firstSettlementDate = now - timedelta(days=settled_days)
            batches_request.lastSettlementDate = now
            batches = self._execute(apicontrollers.getSettledBatchListController, batches_request, writes=False)
            if text(batches, "messages", "resultCode") != "Ok":
                self._api_error(batches)
            for batch in all_of(batches, "batchList", "batch"):
                listing_request = apicontractsv1.getTransactionListRequest()
                listing_request.batchId = text(batch, "batchId")
                listed = self._listed(apicontrollers.getTransactionListController, listing_request)
                found = self._first_with_reference(listed, reference, None)
                if found:
                    break
        if not found:
            return None
        return self.fetch_transaction(found)
