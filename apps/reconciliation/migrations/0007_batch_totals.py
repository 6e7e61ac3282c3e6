import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("reconciliation", "0006_ach_returns")]

    operations = [
        migrations.AddField(
            model_name="discrepancy",
            name="batch",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="discrepancies",
                to="reconciliation.settlementbatch",
            ),
        ),
        migrations.AddField(
            model_name="settlementbatch",
            name="reported_charge_count",
            field=models.PositiveIntegerField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="settlementbatch",
            name="reported_charges_amount",
            field=models.BigIntegerField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="settlementbatch",
            name="reported_refund_count",
            field=models.PositiveIntegerField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="settlementbatch",
            name="reported_refunds_amount",
            field=models.BigIntegerField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="settlementbatch",
            name="totals_agree",
            field=models.BooleanField(blank=True, null=True),
        ),
        migrations.AlterField(
            model_name="discrepancy",
            name="kind",
            field=models.CharField(
                choices=[
                    ("missing_at_gateway", "Missing at the gateway"),
                    ("missing_on_our_side", "Missing on our side"),
                    ("amount_mismatch", "Amount mismatch"),
                    ("status_mismatch", "Status mismatch"),
                    ("currency_mismatch", "Currency mismatch"),
                    ("duplicate", "Duplicate"),
                    ("batch_totals", "Batch totals differ from its lines"),
                ],
                max_length=24,
            ),
        ),
        migrations.AddConstraint(
            model_name="discrepancy",
            constraint=models.UniqueConstraint(
                condition=models.Q(("batch__isnull", False), ("entry__isnull", True), ("line__isnull", True)),
                fields=("kind", "batch"),
                name="discrepancy_batch_once",
            ),
        ),
    ]
