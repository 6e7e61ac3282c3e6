import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("sandbox", "0013_reporting_more")]

    operations = [
        migrations.AddField(
            model_name="anetaccount",
            name="unlinked_credits",
            field=models.BooleanField(default=False),
        ),
        migrations.AddField(
            model_name="anetbatch",
            name="payment_method",
            field=models.CharField(default="creditCard", max_length=12),
        ),
        migrations.AddField(
            model_name="anettransaction",
            name="bank_account_type",
            field=models.CharField(blank=True, max_length=20),
        ),
        migrations.AddField(
            model_name="anettransaction",
            name="bank_routing_last4",
            field=models.CharField(blank=True, max_length=4),
        ),
        migrations.AddField(
            model_name="anettransaction",
            name="echeck_type",
            field=models.CharField(blank=True, max_length=3),
        ),
        migrations.AddField(
            model_name="anettransaction",
            name="name_on_account",
            field=models.CharField(blank=True, max_length=22),
        ),
        migrations.AddField(
            model_name="anettransaction",
            name="return_after_runs",
            field=models.PositiveSmallIntegerField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="anettransaction",
            name="return_batch",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="returned_transactions",
                to="sandbox.anetbatch",
            ),
        ),
        migrations.AddField(
            model_name="anettransaction",
            name="return_code",
            field=models.CharField(blank=True, max_length=3),
        ),
        migrations.AddField(
            model_name="anettransaction",
            name="return_description",
            field=models.CharField(blank=True, max_length=255),
        ),
        migrations.AddField(
            model_name="anettransaction",
            name="returned_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AlterField(
            model_name="anettransaction",
            name="status",
            field=models.CharField(
                choices=[
                    ("authorizedPendingCapture", "Authorized"),
                    ("capturedPendingSettlement", "Captured"),
                    ("settledSuccessfully", "Settled"),
                    ("voided", "Voided"),
                    ("declined", "Declined"),
                    ("refundPendingSettlement", "Refund Pending"),
                    ("refundSettledSuccessfully", "Refund Settled"),
                    ("generalError", "General Error"),
                    ("returnedItem", "Returned"),
                ],
                max_length=40,
            ),
        ),
    ]
