"""The Customer model leaves for the customers app (state only: its table and rows stay)."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("catalog", "0002_customer_moved"),
        ("customers", "0002_customer_moves_in"),
        ("payments", "0005_refund_request_reference"),
        ("subscriptions", "0003_customer_moved"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="payment",
                    name="customer",
                    field=models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="payments",
                        to="customers.customer",
                    ),
                ),
                migrations.DeleteModel(
                    name="Customer",
                ),
            ],
            database_operations=[],
        ),
    ]
