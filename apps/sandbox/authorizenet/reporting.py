"""Transaction reporting in the Authorize.Net sandbox: getTransactionDetails, the unsettled
list, settled batches and their transactions, and the nightly settlement that makes batches."""

from __future__ import annotations

from datetime import UTC, datetime

from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from lxml import etree

from apps.core.money import to_decimal
from apps.sandbox.models import AnetAccount, AnetBatch, AnetTransaction

from . import echeck, statistics
from .xml import Builder, error_response, find_text

NOT_FOUND = "The record cannot be found."


def _utc(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _local(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3]


def transaction_details(root: etree._Element, account: AnetAccount, response_root: str, ref_id: str) -> bytes:
    pk = AnetTransaction.pk_from_trans_id(find_text(root, "transId"))
    stored = (
        AnetTransaction.objects.select_related("batch", "original").filter(account=account, pk=pk).first()
        if pk
        else None
    )
    if stored is None:
        return error_response(response_root, "E00040", NOT_FOUND, ref_id)
    builder = Builder(response_root)
    builder.messages("Ok", [("I00001", "Successful.")], ref_id)
    node = builder.add(builder.root, "transaction")
    builder.add(node, "transId", stored.trans_id)
    if stored.original_id:
        builder.add(node, "refTransId", stored.original.trans_id if stored.original else "")
    builder.add(node, "submitTimeUTC", _utc(stored.submitted_at))
    builder.add(node, "submitTimeLocal", _local(stored.submitted_at))
    builder.add(node, "transactionType", stored.transaction_type)
    builder.add(node, "transactionStatus", stored.status)
    builder.add(node, "responseCode", stored.response_code)
    builder.add(node, "responseReasonCode", stored.reason_code)
    if stored.subscription_id:
        subscription = builder.add(node, "subscription")
        builder.add(subscription, "id", stored.subscription_id)
        builder.add(subscription, "payNum", stored.subscription_pay_num or 1)
    builder.add(node, "responseReasonDescription", stored.reason_text)
    builder.add_optional(node, "authCode", stored.auth_code)
    builder.add_optional(node, "AVSResponse", stored.avs_code)
    builder.add_optional(node, "cardCodeResponse", stored.cvv_code)
    if stored.batch is not None:
        batch = builder.add(node, "batch")
        builder.add(batch, "batchId", stored.batch.batch_id)
        builder.add(batch, "settlementTimeUTC", _utc(stored.batch.settled_at))
        builder.add(batch, "settlementTimeLocal", _local(stored.batch.settled_at))
        builder.add(batch, "settlementState", "settledSuccessfully")
    if stored.invoice_number or stored.description:
        order = builder.add(node, "order")
        builder.add_optional(order, "invoiceNumber", stored.invoice_number)
        builder.add_optional(order, "description", stored.description)
    builder.add(node, "authAmount", to_decimal(stored.auth_amount, stored.currency))
    builder.add(node, "settleAmount", to_decimal(stored.settle_amount, stored.currency))
    _payment_of(builder, builder.add(node, "payment"), stored)
    if stored.customer_email:
        customer = builder.add(node, "customer")
        builder.add(customer, "email", stored.customer_email)
    builder.add(node, "recurringBilling", "false")
    builder.add(node, "product", "Card Not Present")
    builder.add(node, "marketType", "eCommerce")
    echeck.write_returned_items(builder, node, stored)
    _profile_of(builder, node, stored)
    if stored.ref_id:
        builder.add(builder.root, "transrefId", stored.ref_id)
    return builder.to_bytes()


def _payment_of(builder: Builder, payment: etree._Element, stored: AnetTransaction) -> None:
    """paymentMaskedType: the card, or the bank account of an eCheck, masked."""
    if stored.card_type == echeck.ECHECK:
        echeck.write_bank_account(builder, payment, stored)
        return
    card = builder.add(payment, "creditCard")
    builder.add(card, "cardNumber", f"XXXX{stored.card_last4}")
    builder.add(card, "expirationDate", "XXXX")
    builder.add(card, "cardType", stored.card_type)


def _profile_of(builder: Builder, node: etree._Element, stored: AnetTransaction) -> None:
    if stored.customer_profile_id:
        profile = builder.add(node, "profile")
        builder.add(profile, "customerProfileId", stored.customer_profile_id)
        builder.add(profile, "customerPaymentProfileId", stored.payment_profile_id)


def _summaries(builder: Builder, transactions: list[AnetTransaction]) -> None:
    node = builder.add(builder.root, "transactions")
    for stored in transactions:
        item = builder.add(node, "transaction")
        builder.add(item, "transId", stored.trans_id)
        builder.add(item, "submitTimeUTC", _utc(stored.submitted_at))
        builder.add(item, "submitTimeLocal", _local(stored.submitted_at))
        builder.add(item, "transactionStatus", stored.status)
        builder.add_optional(item, "invoiceNumber", stored.invoice_number)
        builder.add_optional(item, "firstName", stored.first_name)
        builder.add_optional(item, "lastName", stored.last_name)
        builder.add(item, "accountType", stored.card_type)
        builder.add(item, "accountNumber", f"XXXX{stored.card_last4}")
        builder.add(item, "settleAmount", to_decimal(stored.settle_amount, stored.currency))
        builder.add(item, "marketType", "eCommerce")
        builder.add(item, "product", "Card Not Present")
        if stored.returned_at is not None:
            builder.add(item, "hasReturnedItems", "true")
    builder.add(builder.root, "totalNumInResultSet", len(transactions))


def _paging(root: etree._Element) -> tuple[int, int]:
    limit = int(find_text(root, "paging/limit") or 1000)
    offset = int(find_text(root, "paging/offset") or 1)
    return max(1, min(limit, 1000)), max(1, offset)


def unsettled_list(root: etree._Element, account: AnetAccount, response_root: str, ref_id: str) -> bytes:
    limit, page = _paging(root)
    descending = find_text(root, "sorting/orderDescending").lower() == "true"
    order = "-submitted_at" if descending else "submitted_at"
    queryset = account.transactions.filter(batch__isnull=True).exclude(
        status__in=[AnetTransaction.Status.SETTLED, AnetTransaction.Status.REFUND_SETTLED]
    )
    if find_text(root, "status") == "pendingApproval":
        queryset = queryset.none()  # the transactions fraud filters hold: the sandbox runs none
    rows = list(queryset.order_by(order, "pk")[(page - 1) * limit : page * limit])
    builder = Builder(response_root)
    if not rows:
        builder.messages("Ok", [("I00004", "No records found.")], ref_id)
        builder.add(builder.root, "totalNumInResultSet", 0)
        return builder.to_bytes()
    builder.messages("Ok", [("I00001", "Successful.")], ref_id)
    _summaries(builder, rows)
    return builder.to_bytes()


def settled_batches(root: etree._Element, account: AnetAccount, response_root: str, ref_id: str) -> bytes:
    first = find_text(root, "firstSettlementDate")
    last = find_text(root, "lastSettlementDate")
    queryset = account.batches.all()
    if first:
        queryset = queryset.filter(settled_at__gte=datetime.fromisoformat(first.replace("Z", "+00:00")))
    if last:
        queryset = queryset.filter(settled_at__lte=datetime.fromisoformat(last.replace("Z", "+00:00")))
    batches = list(queryset.order_by("settled_at"))
    builder = Builder(response_root)
    if not batches:
        builder.messages("Ok", [("I00004", "No records found.")], ref_id)
        return builder.to_bytes()
    builder.messages("Ok", [("I00001", "Successful.")], ref_id)
    node = builder.add(builder.root, "batchList")
    with_statistics = find_text(root, "includeStatistics").lower() in {"true", "1"}
    for batch in batches:
        _batch(builder, builder.add(node, "batch"), batch, with_statistics=with_statistics)
    return builder.to_bytes()


def _batch(builder: Builder, item: etree._Element, batch: AnetBatch, *, with_statistics: bool) -> None:
    builder.add(item, "batchId", batch.batch_id)
    builder.add(item, "settlementTimeUTC", _utc(batch.settled_at))
    builder.add(item, "settlementTimeLocal", _local(batch.settled_at))
    builder.add(item, "settlementState", "settledSuccessfully")
    builder.add(item, "paymentMethod", batch.payment_method)
    builder.add(item, "marketType", "eCommerce")
    builder.add(item, "product", "Card Not Present")
    if with_statistics:
        statistics.write(builder, item, batch)


def batch_statistics(root: etree._Element, account: AnetAccount, response_root: str, ref_id: str) -> bytes:
    """getBatchStatistics: one settled batch with its statistics per account type."""
    batch_id = find_text(root, "batchId")
    batch = account.batches.filter(pk=int(batch_id) - 10_000_000).first() if batch_id.isdigit() else None
    if batch is None:
        return error_response(response_root, "E00040", NOT_FOUND, ref_id)
    builder = Builder(response_root)
    builder.messages("Ok", [("I00001", "Successful.")], ref_id)
    _batch(builder, builder.add(builder.root, "batch"), batch, with_statistics=True)
    return builder.to_bytes()


def batch_transactions(root: etree._Element, account: AnetAccount, response_root: str, ref_id: str) -> bytes:
    try:
        batch_pk = int(find_text(root, "batchId")) - 10_000_000
    except ValueError:
        batch_pk = 0
    batch = account.batches.filter(pk=batch_pk).first()
    if batch is None:
        return error_response(response_root, "E00040", NOT_FOUND, ref_id)
    limit, page = _paging(root)
    # The batch's own transactions, then the debits returned in it (returnedItem, hasReturnedItems).
    in_batch = AnetTransaction.objects.filter(Q(batch=batch) | Q(return_batch=batch))
    rows = list(in_batch.order_by("submitted_at", "pk")[(page - 1) * limit : page * limit])
    builder = Builder(response_root)
    builder.messages("Ok", [("I00001", "Successful.")], ref_id)
    _summaries(builder, rows)
    return builder.to_bytes()


def settle(*, account: AnetAccount | None = None) -> list[AnetBatch]:
    """The nightly cutoff: put every captured charge and pending refund into a settled batch."""
    batches = []
    accounts = [account] if account is not None else list(AnetAccount.objects.all())
    for current in accounts:
        with transaction.atomic():
            pending = list(
                AnetTransaction.objects.select_for_update()
                .filter(
                    account=current,
                    status__in=[AnetTransaction.Status.CAPTURED, AnetTransaction.Status.REFUND_PENDING],
                    held_from_settlement=False,
                )
                .values_list("pk", "status", "card_type")
            )
            # eCheck settles in batches of its own, which also carry the debits returned this run.
            returned = echeck.due_returns(current)
            for method in ("creditCard", echeck.ECHECK):
                rows = [
                    (pk, status) for pk, status, kind in pending if (kind == echeck.ECHECK) == (method == echeck.ECHECK)
                ]
                due = returned if method == echeck.ECHECK else []
                if not rows and not due:
                    continue
                batch = AnetBatch.objects.create(account=current, settled_at=timezone.now(), payment_method=method)
                captured = [pk for pk, status in rows if status == AnetTransaction.Status.CAPTURED]
                refunds = [pk for pk, status in rows if status == AnetTransaction.Status.REFUND_PENDING]
                AnetTransaction.objects.filter(pk__in=captured).update(
                    status=AnetTransaction.Status.SETTLED, batch=batch
                )
                AnetTransaction.objects.filter(pk__in=refunds).update(
                    status=AnetTransaction.Status.REFUND_SETTLED, batch=batch
                )
                echeck.mark_returned(due, batch)
                statistics.record(batch)
                batches.append(batch)
    return batches


# Methods served here: (request root, account, response root name, refId) -> response bytes.
HANDLERS = {
    "getTransactionDetailsRequest": transaction_details,
    "getUnsettledTransactionListRequest": unsettled_list,
    "getSettledBatchListRequest": settled_batches,
    "getTransactionListRequest": batch_transactions,
    "getBatchStatisticsRequest": batch_statistics,
}
