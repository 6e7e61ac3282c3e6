"""Read a gateway's settlement report CSV through a saved column mapping.

Nothing is stored until the whole file has been read without error: a bad row names its line
and column and the upload changes nothing."""

from __future__ import annotations

import csv
import io
from collections import OrderedDict
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation

from apps.core.money import to_minor
from apps.gateways.settlement_interface import SettlementBatchData, SettlementLineData, SettlementLineKind

from .models import CsvMapping

MAX_BYTES = 50 * 1024 * 1024
# The largest amount a cell may hold, in minor units (a batch's total must still fit in 64 bits).
MAX_AMOUNT = 10**15
# What a batch's totals (charges, refunds, fees, the payout) may add up to: a 64-bit integer column.
MAX_BATCH_TOTAL = 2**63 - 1
# The longest batch id SettlementBatch.gateway_batch_id holds. A longer one is refused, not cut:
# two ids alike in their first 64 characters would be stored as one batch.
MAX_BATCH_ID = 64
# A line's transaction id and reference are stored whole or not at all: cut short, two ids could
# become one (the second listed "twice"), or match a transaction of ours that is not theirs.
MAX_LINE_ID = 64


class CsvImportError(ValueError):
    pass


def _values(text: str) -> set[str]:
    return {value.strip().lower() for value in text.split(",") if value.strip()}


def _parse_time(value: str, fmt: str, where: str) -> datetime:
    try:
        parsed = datetime.strptime(value, fmt) if fmt else datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise CsvImportError(f"{where}: {value!r} is not a date ({fmt or 'ISO 8601'})") from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _amount(value: str, currency: str, fmt: str, where: str) -> int:
    cleaned = value.replace(",", "").strip()
    try:
        number = Decimal(cleaned)
        if not number.is_finite() or abs(number) >= MAX_AMOUNT:
            raise ValueError("not a finite amount")
        minor = int(cleaned) if fmt == CsvMapping.AmountFormat.MINOR else to_minor(number, currency)
    except (InvalidOperation, ValueError) as exc:
        raise CsvImportError(f"{where}: {value!r} is not an amount") from exc
    if abs(minor) >= MAX_AMOUNT:
        raise CsvImportError(f"{where}: {value!r} is larger than any settlement amount")
    return minor


def parse_settlement_csv(
    content: bytes, *, mapping: CsvMapping, currency: str, default_batch_id: str, settled_at: datetime
) -> list[SettlementBatchData]:
    if len(content) > MAX_BYTES:
        raise CsvImportError(f"The file is larger than {MAX_BYTES // (1024 * 1024)} MB; split it.")
    if len(default_batch_id) > MAX_BATCH_ID:
        raise CsvImportError(_batch_id_too_long("the batch id given for the file", default_batch_id))
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise CsvImportError("The file is not UTF-8 text.") from exc
    try:
        return _parse(
            text, mapping=mapping, currency=currency, default_batch_id=default_batch_id, settled_at=settled_at
        )
    except csv.Error as exc:  # a stray quote running to the end of the file, a NUL byte ...
        raise CsvImportError(f"The file is not readable as CSV: {exc}") from exc


def _parse(
    text: str, *, mapping: CsvMapping, currency: str, default_batch_id: str, settled_at: datetime
) -> list[SettlementBatchData]:
    reader = csv.DictReader(io.StringIO(text), delimiter=mapping.delimiter or ",")
    header = set(reader.fieldnames or [])
    columns = {
        "transaction id": mapping.transaction_id_column,
        "amount": mapping.amount_column,
        **{
            name: column
            for name, column in {
                "batch id": mapping.batch_id_column,
                "kind": mapping.kind_column,
                "currency": mapping.currency_column,
                "fee": mapping.fee_column,
                "tax": mapping.tax_column,
                "reference": mapping.reference_column,
                "status": mapping.status_column,
                "settled at": mapping.settled_at_column,
                "occurred at": mapping.occurred_at_column,
            }.items()
            if column
        },
    }
    missing = [f"{column!r} ({name})" for name, column in columns.items() if column not in header]
    if missing:
        raise CsvImportError(
            f"The file has no column {', '.join(missing)}; it has {', '.join(sorted(header)) or 'none'}."
        )
    refunds, charges = _values(mapping.refund_values), _values(mapping.charge_values)
    batches: OrderedDict[str, list[SettlementLineData]] = OrderedDict()
    batch_times: dict[str, datetime] = {}
    # A transaction appears once per batch and kind (as stored); and a batch's totals must fit.
    first_seen: dict[tuple[str, str, str], int] = {}
    batch_totals: dict[str, int] = {}
    for number, row in enumerate(reader, start=2):
        where = f"line {number}"

        def cell(column: str, row: dict[str, str] = row) -> str:
            return (row.get(column) or "").strip() if column else ""

        txn, reference = _line_ids(where, mapping, cell(mapping.transaction_id_column), cell(mapping.reference_column))
        line_currency = (cell(mapping.currency_column) or currency).upper()
        if len(line_currency) != 3 or not line_currency.isalpha():
            raise CsvImportError(f"{where}: {line_currency!r} is not a currency code")
        amount = _amount(cell(mapping.amount_column), line_currency, mapping.amount_format, f"{where}, amount")
        raw_kind = cell(mapping.kind_column).lower()
        if mapping.kind_column:
            kind = (
                SettlementLineKind.REFUND
                if raw_kind in refunds
                else SettlementLineKind.CHARGE
                if raw_kind in charges
                else SettlementLineKind.ADJUSTMENT
            )
        else:
            kind = SettlementLineKind.REFUND if amount < 0 else SettlementLineKind.CHARGE
        fee = _amount(cell(mapping.fee_column) or "0", line_currency, mapping.amount_format, f"{where}, fee")
        tax = _amount(cell(mapping.tax_column) or "0", line_currency, mapping.amount_format, f"{where}, tax")
        batch_id = cell(mapping.batch_id_column) or default_batch_id
        if not batch_id:
            raise CsvImportError(f"{where}: no batch id, and none was given for the file")
        if len(batch_id) > MAX_BATCH_ID:
            raise CsvImportError(_batch_id_too_long(f"{where}, {mapping.batch_id_column!r}", batch_id))
        key = (batch_id, txn, str(kind))
        if key in first_seen:
            raise CsvImportError(
                f"lines {first_seen[key]} and {number}: transaction {txn!r} is listed twice as {kind}"
                f" in batch {batch_id!r}; a batch settles a transaction once per kind"
            )
        first_seen[key] = number
        # Charges, refunds, fees and the payout are each at most this running sum of magnitudes.
        batch_totals[batch_id] = batch_totals.get(batch_id, 0) + abs(amount) + abs(fee) + abs(tax)
        if batch_totals[batch_id] > MAX_BATCH_TOTAL:
            raise CsvImportError(
                f"{where}: batch {batch_id!r} adds up past the largest total a batch can hold; split it"
            )
        occurred = cell(mapping.occurred_at_column)
        settled = cell(mapping.settled_at_column)
        if settled:
            batch_times.setdefault(batch_id, _parse_time(settled, mapping.date_format, f"{where}, settled at"))
        batches.setdefault(batch_id, []).append(
            SettlementLineData(
                transaction_id=txn,
                kind=kind,
                status=cell(mapping.status_column) or raw_kind,
                amount=abs(amount),
                currency=line_currency,
                fee=abs(fee),
                tax=abs(tax),
                reference=reference,
                occurred_at=_parse_time(occurred, mapping.date_format, f"{where}, occurred at") if occurred else None,
            )
        )
    if not batches:
        raise CsvImportError("The file has no rows.")
    return [
        SettlementBatchData(
            batch_id=batch_id,
            settled_at=batch_times.get(batch_id, settled_at),
            currency=_batch_currency(batch_id, lines),
            lines=lines,
        )
        for batch_id, lines in batches.items()
    ]


def _line_ids(where: str, mapping: CsvMapping, txn: str, reference: str) -> tuple[str, str]:
    """A line's transaction id (required) and reference, each refused when longer than stored."""
    if not txn:
        raise CsvImportError(f"{where}: no transaction id in {mapping.transaction_id_column!r}")
    for what, column, value in (
        ("transaction id", mapping.transaction_id_column, txn),
        ("reference", mapping.reference_column, reference),
    ):
        if len(value) > MAX_LINE_ID:
            raise CsvImportError(
                f"{where}, {column!r}: the {what} {value[:MAX_LINE_ID]!r}… is {len(value)} characters long; a"
                f" {what} is at most {MAX_LINE_ID} (cut short, it could match another)"
            )
    return txn, reference


def _batch_id_too_long(where: str, batch_id: str) -> str:
    return (
        f"{where}: the batch id {batch_id[:MAX_BATCH_ID]!r}… is {len(batch_id)} characters long; a batch id is at"
        f" most {MAX_BATCH_ID} (cut short, two batch ids could become one)"
    )


def _batch_currency(batch_id: str, lines: list[SettlementLineData]) -> str:
    """A batch is paid out in one currency: its lines'. Lines in several would add up amounts of
    different currencies in its totals and take them out of one receivable."""
    currencies = sorted({line.currency for line in lines})
    if len(currencies) > 1:
        raise CsvImportError(
            f"batch {batch_id}: lines in {' and '.join(currencies)}; a batch is in one currency"
            " (give each currency its own batch id)"
        )
    return currencies[0]
