"""Opening entries for payments and refunds made before the ledger existed, so that
`verify_ledger` agrees with the payment table from the first day."""

from django.db import migrations
from django.utils import timezone

CHUNK = 2000


def forwards(apps, schema_editor):
    Payment = apps.get_model("payments", "Payment")
    Refund = apps.get_model("payments", "Refund")
    LedgerAccount = apps.get_model("ledger", "LedgerAccount")
    JournalEntry = apps.get_model("ledger", "JournalEntry")
    Posting = apps.get_model("ledger", "Posting")
    accounts: dict = {}

    def account(ga, kind, currency):
        key = (ga, kind, currency)
        if key not in accounts:
            accounts[key] = LedgerAccount.objects.get_or_create(gateway_account_id=ga, kind=kind, currency=currency)[
                0
            ].pk
        return accounts[key]

    def post(rows):
        # rows: (entry kwargs, [(kind, amount), ...])
        entries = JournalEntry.objects.bulk_create([JournalEntry(**kwargs) for kwargs, _ in rows])
        Posting.objects.bulk_create(
            [
                Posting(
                    entry_id=entry.pk,
                    account_id=account(kwargs["gateway_account_id"], kind, kwargs["currency"]),
                    amount=amount,
                )
                for entry, (kwargs, lines) in zip(entries, rows, strict=True)
                for kind, amount in lines
            ]
        )

    from apps.core.ids import public_id

    now = timezone.now()
    rows = []
    for p in Payment.objects.filter(amount_captured__gt=0).order_by("pk").iterator(chunk_size=CHUNK):
        rows.append(
            (
                {
                    "public_id": public_id("je"),
                    "gateway_account_id": p.gateway_account_id,
                    "kind": "capture",
                    "currency": p.currency,
                    "amount": p.amount_captured,
                    "payment_id": p.pk,
                    "gateway_transaction_id": p.gateway_transaction_id,
                    "memo": "opening entry",
                    "occurred_at": p.updated_at or now,
                },
                [("receivable", p.amount_captured), ("sales", -p.amount_captured)],
            )
        )
        if len(rows) >= CHUNK:
            post(rows)
            rows = []
    for r in (
        Refund.objects.filter(status="succeeded").select_related("payment").order_by("pk").iterator(chunk_size=CHUNK)
    ):
        rows.append(
            (
                {
                    "public_id": public_id("je"),
                    "gateway_account_id": r.payment.gateway_account_id,
                    "kind": "refund",
                    "currency": r.currency,
                    "amount": r.amount,
                    "payment_id": r.payment_id,
                    "refund_id": r.pk,
                    "gateway_transaction_id": r.gateway_transaction_id,
                    "memo": "opening entry",
                    "occurred_at": r.updated_at or now,
                },
                [("refunds", r.amount), ("receivable", -r.amount)],
            )
        )
        if len(rows) >= CHUNK:
            post(rows)
            rows = []
    if rows:
        post(rows)


class Migration(migrations.Migration):
    dependencies = [("ledger", "0002_balance_triggers"), ("payments", "0003_checkout_orders")]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop, elidable=True)]
