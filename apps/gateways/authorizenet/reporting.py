"""Settlement reports from Authorize.Net's Transaction Details API."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from authorizenet import apicontractsv1, apicontrollers

from apps.core.money import to_minor
from apps.gateways.settlement_interface import (
    SettlementBatchData,
    SettlementLineData,
    SettlementLineKind,
    SettlementTotals,
)

from .client import AuthorizeNetClient
from .vocabulary import all_of, child, text, utc_time


class Reporting(AuthorizeNetClient):
    SETTLEMENT_PAGE = 1000  # getTransactionList's largest page

    def settlements(self, *, since: datetime, until: datetime) -> list[SettlementBatchData]:
        """Batches settled in [since, until) (getSettledBatchList) with every transaction in each
        (getTransactionList, page by page). Authorize.Net deducts no fees per batch: it bills
        them monthly, so the lines carry none and the payout is the batch's net."""
        request = apicontractsv1.getSettledBatchListRequest()
        request.includeStatistics = True  # the batch's own totals, checked against its lines
        request.firstSettlementDate = since.astimezone(UTC)
        request.lastSettlementDate = until.astimezone(UTC)
        response = self._execute(apicontrollers.getSettledBatchListController, request, writes=False)
        if text(response, "messages", "resultCode") != "Ok":
            self._api_error(response)
        batches = []
        for batch in all_of(response, "batchList", "batch"):
            settled_at = utc_time(text(batch, "settlementTimeUTC"))
            if settled_at is None or not since <= settled_at < until:
                continue
            if text(batch, "settlementState") not in {"settledSuccessfully", ""}:
                continue  # settlementError / pendingSettlement: nothing was paid out yet
            lines = self._batch_lines(text(batch, "batchId"))
            net = sum(line.amount if line.kind == SettlementLineKind.CHARGE else -line.amount for line in lines)
            batches.append(
                SettlementBatchData(
                    batch_id=text(batch, "batchId"),
                    settled_at=settled_at,
                    currency=self.config.currency,
                    lines=lines,
                    payout_amount=net,
                    reported_totals=self._reported_totals(batch),
                )
            )
        return batches

    def _reported_totals(self, batch: Any) -> SettlementTotals | None:
        """The batch's statistics summed over its account types (Visa, eCheck ...); None when the
        gateway sent none."""
        statistics = all_of(batch, "statistics", "statistic")
        if not statistics:
            return None
        currency = self.config.currency

        def total(name: str) -> int:
            return sum(abs(to_minor(text(item, name) or "0", currency)) for item in statistics)

        def count(name: str) -> int:
            return sum(int(text(item, name) or 0) for item in statistics)

        return SettlementTotals(
            charge_amount=total("chargeAmount"),
            charge_count=count("chargeCount"),
            refund_amount=total("refundAmount"),
            refund_count=count("refundCount"),
        )

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
            if text(response, "messages", "resultCode") != "Ok":
                self._api_error(response)
            items = all_of(response, "transactions", "transaction")
            lines += [self._settlement_line(item, batch_id) for item in items]
            if len(items) < self.SETTLEMENT_PAGE:
                return lines
            page += 1

    def _settlement_line(self, item: Any, batch_id: str) -> SettlementLineData:
        status = text(item, "transactionStatus")
        kind = {
            "settledSuccessfully": SettlementLineKind.CHARGE,
            "refundSettledSuccessfully": SettlementLineKind.REFUND,
        }.get(status, SettlementLineKind.ADJUSTMENT)
        line = SettlementLineData(
            transaction_id=text(item, "transId"),
            kind=kind,
            status=status,
            amount=abs(to_minor(text(item, "settleAmount") or "0", self.config.currency)),
            currency=self.config.currency,
            reference=text(item, "invoiceNumber"),
            occurred_at=utc_time(text(item, "submitTimeUTC")),
        )
        return self._returned_line(line, batch_id) if status == "returnedItem" else line

    def _returned_line(self, line: SettlementLineData, batch_id: str) -> SettlementLineData:
        """A returned eCheck debit is listed twice: in the batch that settled it (the charge) and in
        the batch of the return's date (the return, with its NACHA code in returnedItems)."""
        request = apicontractsv1.getTransactionDetailsRequest()
        request.transId = line.transaction_id
        response = self._execute(apicontrollers.getTransactionDetailsController, request, writes=False)
        transaction = child(response, "transaction")
        if text(response, "messages", "resultCode") != "Ok" or transaction is None:
            self._api_error(response)
        if text(transaction, "batch", "batchId") == batch_id:
            return replace(line, kind=SettlementLineKind.CHARGE)
        returned = all_of(transaction, "returnedItems", "returnedItem")
        last = returned[-1] if returned else None
        return replace(
            line,
            kind=SettlementLineKind.RETURN,
            return_code=text(last, "code"),
            return_reason=text(last, "description"),
            occurred_at=utc_time(text(last, "dateUTC")) or line.occurred_at,
        )
